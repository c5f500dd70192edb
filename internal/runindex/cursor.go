package runindex

import "math"

// CursorAfter returns the cursor that continues a listing right after
// entry e, as Page.NextCursor continues after a page's last run. A
// federated listing (reportapi peers) uses it to resume each node's
// listing after the last of its runs it showed.
func CursorAfter(e Entry) string {
	first := int64(math.MinInt64)
	if e.EventCount > 0 {
		first = e.StartedAt.UnixNano()
	}
	return encodeCursor(first, e.RunID)
}
