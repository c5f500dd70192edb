package runindex

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// listPages returns every entry of a listing of q, page by page.
func listPages(t *testing.T, ix *Index, q Query) []Entry {
	t.Helper()
	var out []Entry
	for {
		p, err := ix.List(q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Runs...)
		if p.NextCursor == "" {
			return out
		}
		q.Cursor = p.NextCursor
	}
}

// sameListings checks that two indexes list the same entries for a set of
// queries, paged in twos.
func sameListings(t *testing.T, got, want *Index) {
	t.Helper()
	for _, q := range []Query{{}, {Statuses: []string{"failed"}}, {Service: "api"}, {Kind: "embed"},
		{Since: t0.Add(2 * time.Second)}, {Until: t0.Add(3 * time.Second)}} {
		q.Limit = 2
		g, w := listPages(t, got, q), listPages(t, want, q)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("query %+v:\n got  %+v\n want %+v", q, g, w)
		}
		q.Limit = 0
		pg, _ := got.List(q)
		pw, _ := want.List(q)
		if pg.Matched != pw.Matched {
			t.Fatalf("query %+v: matched %d, want %d", q, pg.Matched, pw.Matched)
		}
	}
}

// settledDir writes runs of every status, one still open, one with an id that
// is not its file name, and returns the directory.
func settledDir(t *testing.T) string {
	dir := t.TempDir()
	writeRun(t, dir, "r-ok", t0, "api", "run.start", "ok", "embed.call", "ok", "run.end", "ok")
	writeRun(t, dir, "r-fail", t0.Add(time.Second), "api", "run.start", "ok", "embed.call", "failed", "run.end", "failed")
	writeRun(t, dir, "r-cancel", t0.Add(2*time.Second), "worker", "run.start", "ok", "run.end", "cancelled")
	writeRun(t, dir, "r-open", t0.Add(3*time.Second), "api", "run.start", "ok", "rerank.call", "ok")
	writeRun(t, dir, "r/unsafe", t0.Add(4*time.Second), "api", "run.start", "ok", "run.end", "ok")
	writeRun(t, dir, "r-same-start", t0, "api", "run.start", "ok", "run.end", "ok")
	return dir
}

// Finished runs settled list, page and filter exactly as before, Get
// finds them, and open runs or runs whose file is not named after them stay
// live.
func TestFreezeKeepsListingsAndEntries(t *testing.T) {
	dir := settledDir(t)
	ix, want := newIndex(dir), newIndex(dir)
	for _, x := range []*Index{ix, want} {
		if _, err := x.Refresh(); err != nil {
			t.Fatal(err)
		}
	}
	if n := ix.freeze(time.Now()); n != 0 {
		t.Fatalf("%d runs frozen before freezeAfter", n)
	}
	if n := ix.freeze(time.Now().Add(freezeAfter + time.Second)); n != 4 {
		t.Fatalf("%d runs settled, want the 4 finished ones named after their run", n)
	}
	for _, id := range []string{"r-open", "r/unsafe"} {
		if _, ok := ix.byRun[id]; !ok {
			t.Errorf("%s settled", id)
		}
	}
	if ix.Len() != 6 || ix.settled.len() != 4 {
		t.Fatalf("len %d, settled %d", ix.Len(), ix.settled.len())
	}
	sameListings(t, ix, want)
	sameAsReadIndex(t, ix, dir, 6)
	// Quick and full refreshes of unchanged settled files read nothing.
	if st, err := ix.Refresh(); err != nil || st.Read != 0 {
		t.Fatalf("full refresh read %d files (%v)", st.Read, err)
	}
}

// A settled run that gains lines is read again and listed once, with them;
// one whose file is removed is dropped.
func TestSettledRunThawsAndDrops(t *testing.T) {
	dir := settledDir(t)
	ix := newIndex(dir)
	if _, err := ix.Refresh(); err != nil {
		t.Fatal(err)
	}
	ix.freeze(time.Now().Add(time.Hour))
	if n := len(listPages(t, ix, Query{})); n != 6 { // takes the view of the segments the drops below replace
		t.Fatalf("%d runs listed", n)
	}
	appendFile(t, ledger.RunPath(dir, t0, "r-ok"), lineJSON(t, "r-ok", 4, t0.Add(time.Minute), "late.step", "failed", "late-svc"))
	if st, err := ix.Refresh(); err != nil || st.Read != 1 {
		t.Fatalf("refresh read %d files (%v), want the grown one", st.Read, err)
	}
	e, ok := ix.Get("r-ok")
	if !ok || e.EventCount != 4 || e.Status != "completed" || !reflect.DeepEqual(e.Services, []string{"api", "late-svc"}) {
		t.Fatalf("thawed run: %+v", e)
	}
	if ix.Len() != 6 || ix.settled.len() != 3 {
		t.Fatalf("len %d, settled %d after thawing one", ix.Len(), ix.settled.len())
	}
	if err := os.Remove(ledger.RunPath(dir, t0.Add(time.Second), "r-fail")); err != nil {
		t.Fatal(err)
	}
	if st, err := ix.Refresh(); err != nil || st.Removed != 1 {
		t.Fatalf("refresh %+v (%v), want the settled run removed", st, err)
	}
	if _, ok := ix.Get("r-fail"); ok || ix.Len() != 5 {
		t.Fatalf("removed settled run still indexed (len %d)", ix.Len())
	}
	fresh := newIndex(dir)
	if _, err := fresh.Refresh(); err != nil {
		t.Fatal(err)
	}
	sameListings(t, ix, fresh)
	sameAsReadIndex(t, ix, dir, 5)
}

// A writer's late append to a settled run makes the index read the file at
// the next poll; in between the run stays listed as it was.
func TestAppendedToSettledRun(t *testing.T) {
	dir := t.TempDir()
	ix := newIndex(dir)
	write, _ := feedingWriter(t, ix, dir)
	write(stepEvent("r-a", 1, t0, "run.start", "ok", "api"), stepEvent("r-a", 2, t0.Add(time.Second), "run.end", "ok", "api"))
	ix.freeze(time.Now().Add(time.Hour))
	if ix.settled.len() != 1 {
		t.Fatal("finished run not settled")
	}
	write(stepEvent("r-a", 3, t0.Add(2*time.Second), "embed.call", "failed", "embedder"))
	if e, ok := ix.Get("r-a"); !ok || e.EventCount != 2 {
		t.Fatalf("before the poll: %+v %v", e, ok)
	}
	if _, err := ix.refreshPending(); err != nil {
		t.Fatal(err)
	}
	if e, ok := ix.Get("r-a"); !ok || e.EventCount != 3 || ix.Len() != 1 {
		t.Fatalf("after the poll: %+v, len %d", e, ix.Len())
	}
	sameAsReadIndex(t, ix, dir, 1)
}

// Dropping most settled runs one by one leaves the folder, once it
// settles again, with exactly the rest; they stay as they were.
func TestSettledCompaction(t *testing.T) {
	dir := t.TempDir()
	ix := newIndex(dir)
	day := filepath.Join(dir, "2026-11-25")
	const runs = 10000
	lines := []ledger.Line{{V: 1, Seq: 1, Kind: "run.start", Status: "ok", Service: "api"},
		{V: 1, Seq: 2, Kind: "run.end", Status: "ok", Service: "api"}}
	for r := 0; r < runs; r++ {
		id := fmt.Sprintf("run-%05d", r)
		for i := range lines {
			lines[i].RunID, lines[i].TS = id, t0.Add(time.Duration(r)*time.Millisecond+time.Duration(i))
		}
		ix.Appended(&ledger.Appended{Path: filepath.Join(day, id+ledger.FileExt), From: 0, To: 100, Lines: lines})
		if r%1000 == 999 {
			ix.freeze(time.Now().Add(time.Hour)) // several segments
		}
	}
	before := listPages(t, ix, Query{Limit: MaxLimit})
	for r := 0; r < runs; r++ {
		if r%10 != 0 {
			ix.drop(filepath.Join(day, fmt.Sprintf("run-%05d%s", r, ledger.FileExt)))
		}
	}
	ix.freeze(time.Now().Add(time.Hour + folderQuietAfter)) // the folder went quiet
	segs := ix.settled.segs("2026-11-25")
	if ix.settled.len() != runs/10 || len(segs) != 1 || len(segs[0].runs) != runs/10 || segs[0].ndead != 0 ||
		len(segs[0].ids) != runs/10*len("run-00000") {
		t.Fatalf("not compacted: %d runs settled in %d segments", ix.settled.len(), len(segs))
	}
	var want []Entry
	for _, e := range before {
		var r int
		if _, err := fmt.Sscanf(e.RunID, "run-%05d", &r); err == nil && r%10 == 0 {
			want = append(want, e)
		}
	}
	if got := listPages(t, ix, Query{Limit: 7}); !reflect.DeepEqual(got, want) {
		t.Fatalf("after compaction %d entries, want %d", len(got), len(want))
	}
	if e, ok := ix.Get("run-09990"); !ok || e.EventCount != 2 || ix.Len() != runs/10 {
		t.Fatalf("get after compaction: %+v %v (len %d)", e, ok, ix.Len())
	}
}

// Freezing races with appends (finished runs gaining late lines), polls
// and listings, and the index still ends equal to one built from the files.
func TestFreezeRacingAppends(t *testing.T) {
	dir := t.TempDir()
	ix := newIndex(dir)
	kind := func(round, r int) (string, string) {
		if (round+r)%3 == 0 {
			return "run.end", []string{"ok", "failed"}[r%2]
		}
		return "stage.k", "ok"
	}
	writeRacing(t, ix, dir, kind, func(i int) error {
		if i%5 == 0 {
			if _, err := ix.Refresh(); err != nil {
				return err
			}
		}
		_, _ = ix.refreshPending()
		ix.freeze(time.Now().Add(time.Hour))
		_, err := ix.List(Query{Limit: 10, Statuses: []string{"completed", "failed"}})
		return err
	})
	_, _ = ix.refreshPending()
	ix.freeze(time.Now().Add(time.Hour))
	if ix.settled.len() == 0 {
		t.Fatal("nothing settled")
	}
	sameAsReadIndex(t, ix, dir, 40)
	fresh := newIndex(dir)
	if _, err := fresh.Refresh(); err != nil {
		t.Fatal(err)
	}
	sameListings(t, ix, fresh)
}

// A run id with files in two date folders is one run, the newest
// folder's, whether it is live or settled and whichever file grows, as for
// an index that reads the files.
func TestDuplicateRunIDAcrossFolders(t *testing.T) {
	dir := t.TempDir()
	day1, day2 := t0, t0.Add(24*time.Hour)
	older := writeRun(t, dir, "r-dup", day1, "api", "run.start", "ok", "run.end", "ok")
	newer := writeRun(t, dir, "r-dup", day2, "worker", "run.start", "ok", "run.end", "failed")
	writeRun(t, dir, "r-other", day1, "api", "run.start", "ok", "run.end", "ok")
	ix := newIndex(dir)
	if _, err := ix.Refresh(); err != nil {
		t.Fatal(err)
	}
	// The older file is not the run's: it stays live, unlisted.
	if n := ix.freeze(time.Now().Add(time.Hour)); n != 2 || ix.Len() != 2 {
		t.Fatalf("settled %d, %d runs", n, ix.Len())
	}
	check := func(step string) {
		t.Helper()
		fresh := newIndex(dir)
		if _, err := fresh.Refresh(); err != nil {
			t.Fatal(err)
		}
		sameListings(t, ix, fresh)
		sameAsReadIndex(t, ix, dir, 2)
		if e, _ := ix.Get("r-dup"); e.Path != newer {
			t.Fatalf("%s: r-dup is %s, want %s", step, e.Path, newer)
		}
	}
	check("settled")
	appendFile(t, older, lineJSON(t, "r-dup", 3, day1.Add(time.Minute), "late.step", "ok", "api"))
	if _, err := ix.Refresh(); err != nil {
		t.Fatal(err)
	}
	check("older file grown")
	appendFile(t, newer, lineJSON(t, "r-dup", 3, day2.Add(time.Minute), "late.step", "ok", "worker"))
	if _, err := ix.Refresh(); err != nil {
		t.Fatal(err)
	}
	check("newer file grown")
	ix.freeze(time.Now().Add(time.Hour))
	check("settled again")
}
