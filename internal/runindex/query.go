package runindex

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/runledger/runledger/internal/report"
)

// Listing limits.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Query selects runs. Zero fields do not filter.
type Query struct {
	// Statuses keeps runs whose status is any of these.
	Statuses []string
	// Service keeps runs with an event from this service.
	Service string
	// Kind keeps runs with a step of this kind; it also matches a stage
	// ("embed" matches "embed.vllm") and may be a path.Match glob.
	Kind string
	// Stops keeps runs whose stop category (Entry.StopCategory) is any of
	// these.
	Stops []string
	// ErrorCode keeps runs whose stop reason has this error code, compared
	// as report.NormalizeCode spells codes ("HTTP 503" matches http_503).
	ErrorCode string
	// ErrorCategories keeps runs whose stop reason's error category
	// (Entry.StopErrorCategory) is any of these.
	ErrorCategories []string
	// Since and Until keep runs that started at or after Since and before
	// Until.
	Since, Until time.Time
	// Limit is the page size (0: DefaultLimit; at most MaxLimit).
	Limit int
	// Cursor continues a listing: the NextCursor of the previous page.
	Cursor string

	// classify is the index's errorCategory, set by List.
	classify func(Stop) string
}

// Page is one page of a listing, newest run first.
type Page struct {
	Runs []Entry `json:"runs"`
	// Matched is the number of runs matching the filters, on all pages.
	Matched int `json:"matched"`
	// NextCursor continues the listing; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
	// Indexing is true until the first full scan of the directory finished.
	Indexing bool `json:"indexing"`
}

// ErrBadQuery wraps every invalid filter or cursor.
var ErrBadQuery = errors.New("invalid query")

var validStatuses = []string{report.StatusCompleted, report.StatusFailed, report.StatusCancelled,
	report.StatusInProgress, report.StatusStalled}

var validStops = []string{report.CategoryCompleted, report.CategoryError, report.CategoryTimeout,
	report.CategoryCancelled, report.CategoryStalled, report.CategoryInProgress}

var validErrorCategories = []string{report.ErrorCategoryUser, report.ErrorCategoryConfig, report.ErrorCategoryDependency,
	report.ErrorCategoryInfra, report.ErrorCategoryModel, report.ErrorCategoryInternal, report.ErrorCategoryUnknown}

// QueryParams returns the URL parameters ParseQuery reads.
func QueryParams() []string {
	return []string{"status", "service", "kind", "since", "until", "limit", "cursor", "stop", "error_code", "error_category"}
}

// ParseQuery reads a Query from URL parameters: status and stop
// (comma-separated or repeated), error_code, service, kind, since, until,
// limit, cursor. since and until take RFC 3339 times, dates (2026-11-25) or
// a duration back from now ("90m", "36h", "7d").
func ParseQuery(v url.Values, now time.Time) (Query, error) {
	var q Query
	var err error
	if q.Statuses, err = parseList(v["status"], "status", validStatuses); err != nil {
		return q, err
	}
	if q.Stops, err = parseList(v["stop"], "stop", validStops); err != nil {
		return q, err
	}
	q.ErrorCode = v.Get("error_code")
	if q.ErrorCategories, err = parseList(v["error_category"], "error_category", validErrorCategories); err != nil {
		return q, err
	}
	q.Service = v.Get("service")
	q.Kind = v.Get("kind")
	if q.Kind != "" {
		if _, err := path.Match(q.Kind, ""); err != nil {
			return q, fmt.Errorf("%w: kind %q: %v", ErrBadQuery, q.Kind, err)
		}
	}
	if q.Since, err = ParseTime(v.Get("since"), now); err != nil {
		return q, fmt.Errorf("%w: since: %v", ErrBadQuery, err)
	}
	if q.Until, err = ParseTime(v.Get("until"), now); err != nil {
		return q, fmt.Errorf("%w: until: %v", ErrBadQuery, err)
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return q, fmt.Errorf("%w: limit %q must be an integer from 1 to %d", ErrBadQuery, s, MaxLimit)
		}
		q.Limit = n
	}
	q.Cursor = v.Get("cursor")
	if q.Cursor != "" {
		if _, _, err := decodeCursor(q.Cursor); err != nil {
			return q, err
		}
	}
	return q, nil
}

// parseList reads the comma-separated or repeated values of parameter
// name, each of which must be one of valid.
func parseList(vals []string, name string, valid []string) ([]string, error) {
	var out []string
	for _, s := range vals {
		for x := range strings.SplitSeq(s, ",") {
			x = strings.TrimSpace(x)
			if x == "" {
				continue
			}
			if !slices.Contains(valid, x) {
				return nil, fmt.Errorf("%w: %s %q is not one of %s", ErrBadQuery, name, x, strings.Join(valid, ", "))
			}
			out = append(out, x)
		}
	}
	return out, nil
}

// Values is the inverse of ParseQuery for the fields that are set.
func (q Query) Values() url.Values {
	v := url.Values{}
	if len(q.Statuses) > 0 {
		v.Set("status", strings.Join(q.Statuses, ","))
	}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	if len(q.Stops) > 0 {
		v.Set("stop", strings.Join(q.Stops, ","))
	}
	set("error_code", q.ErrorCode)
	if len(q.ErrorCategories) > 0 {
		v.Set("error_category", strings.Join(q.ErrorCategories, ","))
	}
	set("service", q.Service)
	set("kind", q.Kind)
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	set("cursor", q.Cursor)
	return v
}

// ParseTime parses an RFC 3339 time, a date, or a duration back from now
// (Go syntax plus a "d" day unit). The empty string is the zero time.
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if strings.HasSuffix(s, "d") {
		if n, err := strconv.Atoi(strings.TrimSuffix(s, "d")); err == nil && n >= 0 && n < 100000 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time, a date or a duration like 90m, 36h, 7d", s)
}

func encodeCursor(first int64, runID string) string {
	raw := strconv.FormatInt(first, 10) + ":" + runID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(c string) (int64, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", fmt.Errorf("%w: malformed cursor", ErrBadQuery)
	}
	ts, id, ok := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil {
		return 0, "", fmt.Errorf("%w: malformed cursor", ErrBadQuery)
	}
	return n, id, nil
}

// wantsStop reports whether the filters need a run's stop reason.
func (q *Query) wantsStop() bool {
	return len(q.Stops) > 0 || q.ErrorCode != "" || len(q.ErrorCategories) > 0
}

// matches reports whether a run passes the filters; status is computed once
// by the caller, and so is stop when wantsStop. q.ErrorCode is normalised.
func (q *Query) matches(first time.Time, status string, stop *Stop, services, kinds []string) bool {
	if len(q.Statuses) > 0 && !slices.Contains(q.Statuses, status) {
		return false
	}
	if len(q.Stops) > 0 && !slices.Contains(q.Stops, stop.Category) {
		return false
	}
	if q.ErrorCode != "" && report.NormalizeCode(stop.ErrorCode) != q.ErrorCode {
		return false
	}
	if len(q.ErrorCategories) > 0 && !slices.Contains(q.ErrorCategories, q.classify(*stop)) {
		return false
	}
	if !q.Since.IsZero() && first.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !first.Before(q.Until) {
		return false
	}
	if q.Service != "" {
		if _, ok := slices.BinarySearch(services, q.Service); !ok {
			return false
		}
	}
	if q.Kind != "" {
		if _, ok := slices.BinarySearch(kinds, q.Kind); !ok {
			found := false
			for _, k := range kinds {
				if report.Stage(k) == q.Kind {
					found = true
					break
				}
				if m, _ := path.Match(q.Kind, k); m {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
	}
	return true
}

// List returns one page of runs matching q, newest first: the live runs
// and the settled segments merged in one order.
func (ix *Index) List(q Query) (Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	// Normalised once here rather than per run in matches.
	q.ErrorCode = report.NormalizeCode(q.ErrorCode)
	q.classify = ix.errorCategory
	var after func(first int64, id string) bool // past the cursor
	if q.Cursor != "" {
		ts, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return Page{}, err
		}
		after = func(first int64, runID string) bool { return order(first, runID, ts, id) > 0 }
	}
	live := ix.sortedSnapshot()
	segs := ix.settledSnapshot()
	now := ix.opts.Now()
	page := Page{Runs: []Entry{}, Indexing: !ix.Scanned()}

	// Every source (the live runs, each segment) is in listing order: count
	// its matches, and keep the first limit+1 past the cursor as candidates.
	// The page is the first limit+1 of the candidates merged.
	var cands []candidate
	var heads []int // start of each source's candidates in cands
	start := 0
	if after != nil {
		start = sort.Search(len(live), func(i int) bool { return after(live[i].firstNanos(), live[i].runID) })
	}
	heads = append(heads, len(cands))
	for i, f := range live {
		if !ix.matchesLive(&q, f, now) {
			continue
		}
		page.Matched++
		if i >= start && len(cands)-heads[len(heads)-1] <= limit {
			cands = append(cands, candidate{first: f.firstNanos(), id: f.runID, live: f})
		}
	}
	for _, s := range segs {
		start := 0
		if after != nil {
			start = sort.Search(len(s.runs), func(i int) bool { return after(s.runs[i].first, s.id(i)) })
		}
		heads = append(heads, len(cands))
		for i := range s.runs {
			r := &s.runs[i]
			if !s.matches(&q, i) {
				continue
			}
			page.Matched++
			if i >= start && len(cands)-heads[len(heads)-1] <= limit {
				cands = append(cands, candidate{first: r.first, id: s.id(i), seg: s, i: i})
			}
		}
	}
	ends := make([]int, len(heads)) // end of each source's candidates
	for j := range heads {
		if j+1 < len(heads) {
			ends[j] = heads[j+1]
		} else {
			ends[j] = len(cands)
		}
	}
	var last *candidate
	for {
		// The newest head of the sources; there are few sources.
		k := -1
		for j := range heads {
			if heads[j] < ends[j] && (k < 0 || cands[heads[j]].cmp(&cands[heads[k]]) < 0) {
				k = j
			}
		}
		if k < 0 {
			break
		}
		c := &cands[heads[k]]
		heads[k]++
		if len(page.Runs) == limit {
			page.NextCursor = encodeCursor(last.first, last.id)
			break
		}
		if c.live != nil {
			page.Runs = append(page.Runs, ix.classified(ix.entry(c.live, now)))
		} else {
			page.Runs = append(page.Runs, ix.classified(c.seg.entry(ix.dir, c.i)))
		}
		last = c
	}
	return page, nil
}

// matchesLive reports whether live run f matches q at time now.
func (ix *Index) matchesLive(q *Query, f *fileState, now time.Time) bool {
	status := f.tracker.Status(now, ix.opts.StallAfter)
	var stop Stop
	if q.wantsStop() {
		stop = f.stopReason(status)
	}
	return q.matches(f.tracker.First(), status, &stop, f.services(), f.kindList())
}

// matches reports whether settled run i of s is alive and matches q.
func (s *segment) matches(q *Query, i int) bool {
	r := &s.runs[i]
	return s.alive(i) && q.matches(time.Unix(0, r.first), settledStatuses[r.status], &s.stops[r.stop], s.list(r.svc), s.list(r.kinds))
}

// candidate is a run that may be on a page: a live state or run i of a
// settled segment.
type candidate struct {
	first int64
	id    string
	live  *fileState
	seg   *segment
	i     int
}

func (c *candidate) cmp(d *candidate) int { return order(c.first, c.id, d.first, d.id) }
