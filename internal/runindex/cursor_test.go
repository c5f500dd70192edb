package runindex

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// A listing resumed with CursorAfter of a page's run goes on with the run
// after it, as the page's own NextCursor does after its last run.
func TestCursorAfterResumesAfterTheEntry(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for i, id := range []string{"r-a", "r-b", "r-c", "r-d"} {
		ts := at.Add(time.Duration(i) * time.Minute)
		p := ledger.RunPath(dir, ts, id)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		l := ledger.Line{V: 1, RunID: id, Seq: 1, TS: ts, Kind: "run.start", Status: "ok"}
		if err := os.WriteFile(p, append(ledger.Encode(&l), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ix := New(dir, Options{})
	if _, err := ix.Refresh(); err != nil {
		t.Fatal(err)
	}
	all, err := ix.List(Query{})
	if err != nil || len(all.Runs) != 4 {
		t.Fatalf("list: %v %+v", err, all)
	}
	for i := range 3 {
		page, err := ix.List(Query{Cursor: CursorAfter(all.Runs[i]), Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Runs) != 1 || page.Runs[0].RunID != all.Runs[i+1].RunID {
			t.Fatalf("after %s: %+v, want %s", all.Runs[i].RunID, page.Runs, all.Runs[i+1].RunID)
		}
	}
	last, err := ix.List(Query{Cursor: CursorAfter(all.Runs[3])})
	if err != nil || len(last.Runs) != 0 || last.NextCursor != "" {
		t.Fatalf("after the last run: %v %+v", err, last)
	}
}
