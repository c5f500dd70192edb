package runindex

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/ledgerstore"
)

// stepEvent is a step event as the exporter hands it to the ledger writer.
func stepEvent(run string, n int, at time.Time, kind, status, service string) ledger.Entry {
	id := ledger.NewEventID([16]byte{1}, [8]byte{byte(n)}, uint64(at.UnixNano()), kind, uint32(n))
	return ledger.NewEntry(&ledger.Line{RunID: run, TS: at, Kind: kind, Status: status, Service: service,
		EventID: id.String()})
}

// feedingWriter returns a function writing events through a ledger writer
// of dir (clock at t0) that hands every append to ix, and the writer; it is
// closed when the test ends.
func feedingWriter(t *testing.T, ix *Index, dir string) (func(evs ...ledger.Entry), *ledgerstore.Writer) {
	t.Helper()
	w, err := ledgerstore.NewWriter(ledgerstore.WriterConfig{Dir: dir, DedupeWindow: 16, Now: func() time.Time { return t0 },
		Hooks: ledgerstore.Hooks{Appended: ix.Appended}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return func(evs ...ledger.Entry) {
		t.Helper()
		if _, err := w.Write(evs); err != nil {
			t.Fatal(err)
		}
	}, w
}

// sameAsReadIndex checks that ix, fed by appends, has runs runs and knows
// of each what an index built by reading dir knows.
func sameAsReadIndex(t *testing.T, ix *Index, dir string, runs int) {
	t.Helper()
	fresh := newIndex(dir)
	if _, err := fresh.Refresh(); err != nil {
		t.Fatal(err)
	}
	if ix.Len() != runs || fresh.Len() != runs {
		t.Fatalf("runs: fed %d, read %d, want %d", ix.Len(), fresh.Len(), runs)
	}
	for _, f := range fresh.sortedSnapshot() {
		want, _ := fresh.Get(f.runID)
		got, ok := ix.Get(f.runID)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("run %q: fed index has %+v\nreading index has %+v", f.runID, got, want)
		}
	}
}

// An index fed by a writer's Appended hook knows what an index that reads
// the files knows, without reading them; a file it has not seen the start
// of is read at the next poll.
func TestAppendedIndexesWithoutReading(t *testing.T) {
	dir := t.TempDir()
	// r-old exists before the index is fed: its first append starts mid-file.
	writeRun(t, dir, "r-old", t0, "svc", "run.start", "ok")

	ix := newIndex(dir)
	write, w := feedingWriter(t, ix, dir)
	write(stepEvent("r-a", 1, t0, "run.start", "ok", "api"),
		stepEvent("r-a", 2, t0.Add(time.Second), "embed.call", "failed", "embedder"),
		stepEvent("r-b\xff", 1, t0, "run.start", "ok", "api"))
	write(stepEvent("r-a", 3, t0.Add(2*time.Second), "embed.call", "ok", "embedder"),
		stepEvent("r-a", 4, t0.Add(3*time.Second), "run.end", "ok", "api"),
		stepEvent("r-old", 2, t0.Add(time.Second), "run.end", "failed", "svc"))

	if _, ok := ix.Get("r-a"); !ok {
		t.Fatal("r-a not indexed right after its append")
	}
	if _, ok := ix.Get("r-old"); ok {
		t.Fatal("r-old indexed from a partial append")
	}
	st, err := ix.refreshPending()
	if err != nil || st.Files != 1 || st.Read != 1 || st.Lines != 2 {
		t.Fatalf("refreshPending %+v %v: want only r-old read, both its lines", st, err)
	}

	sameAsReadIndex(t, ix, dir, 3)
	if e, _ := ix.Get("r-a"); e.Status != "completed" || e.EventCount != 4 || len(e.Services) != 2 {
		t.Fatalf("r-a: %+v", e)
	}

	// The file changed behind the index's back: the next append does not
	// start where the index stands, so the file is read instead.
	p := ledger.RunPath(dir, t0, "r-a")
	appendFile(t, p, lineJSON(t, "r-a", 5, t0.Add(4*time.Second), "late.step", "ok", "other"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	write2, _ := feedingWriter(t, ix, dir)
	write2(stepEvent("r-a", 6, t0.Add(5*time.Second), "later.step", "ok", "api"))
	if st, _ := ix.refreshPending(); st.Read != 1 || st.Lines != 2 {
		t.Fatalf("refreshPending after an outside append %+v, want r-a's two new lines read", st)
	}
	if e, _ := ix.Get("r-a"); e.EventCount != 6 {
		t.Fatalf("r-a after outside append: %d events, want 6", e.EventCount)
	}
}

// Runs with the same kinds share one list; lists that would join to the
// same bytes stay apart.
func TestKindListsAreSharedAndExact(t *testing.T) {
	ix := newIndex(t.TempDir())
	var a, b *[]string
	for _, k := range []string{"run.start", "embed.call", "run.end"} {
		a = ix.addSorted(a, k)
	}
	for _, k := range []string{"run.end", "run.start", "embed.call", "run.start"} {
		b = ix.addSorted(b, k)
	}
	if !reflect.DeepEqual(*a, []string{"embed.call", "run.end", "run.start"}) || a != b {
		t.Fatalf("lists %v and %v are not one shared sorted list", *a, *b)
	}
	x := ix.addSorted(nil, "a\x00b")
	y := ix.addSorted(ix.addSorted(nil, "a"), "b")
	if len(*x) != 1 || len(*y) != 2 {
		t.Fatalf("lists mixed up: %q %q", *x, *y)
	}
}

// BenchmarkIndexMemoryPerRun reports the heap the index keeps per run fed
// through Appended (runs of 27 lines in two appends, as under the
// benchmark load), live and settled ("cold") along the way as the poll
// loop does.
func BenchmarkIndexMemoryPerRun(b *testing.B) {
	b.Run("live", func(b *testing.B) { benchIndexMemory(b, false) })
	b.Run("cold", func(b *testing.B) { benchIndexMemory(b, true) })
}

func benchIndexMemory(b *testing.B, cold bool) {
	const runs = 100000
	kinds := []string{"run.start", "retrieval.plan", "embed.call", "ann.search", "rerank.call", "llm.call", "run.end"}
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		ix := newIndex(dir)
		day := filepath.Join(dir, "2026-11-25")
		if err := os.MkdirAll(day, 0o755); err != nil {
			b.Fatal(err)
		}
		lines := make([]ledger.Line, 27)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		for r := 0; r < runs; r++ {
			id := fmt.Sprintf("load-01JDQ8X5ZK3V7B2N4M6P8R0T-%d", r)
			path := filepath.Join(day, id+ledger.FileExt)
			for i := range lines {
				lines[i] = ledger.Line{V: 1, RunID: id, Seq: uint64(i + 1), TS: t0.Add(time.Duration(i) * time.Millisecond),
					Kind: kinds[i%len(kinds)], Status: "ok", Service: "retrieval-worker"}
			}
			ix.Appended(&ledger.Appended{Path: path, From: 0, To: 5000, Lines: lines[:20]})
			ix.Appended(&ledger.Appended{Path: path, From: 5000, To: 10000, Lines: lines[20:]})
			if cold && r%1000 == 999 { // as the poll loop does, all along
				ix.freeze(time.Now().Add(time.Hour))
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if ix.Len() != runs {
			b.Fatalf("%d runs indexed", ix.Len())
		}
		if cold {
			ix.settledSnapshot()
			runtime.GC()
			runtime.ReadMemStats(&after)
			if ix.settled.len() != runs || ix.Len() != runs {
				b.Fatalf("%d of %d runs settled, %d indexed", ix.settled.len(), runs, ix.Len())
			}
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/runs, "heap-B/run")
		runtime.KeepAlive(ix)
		b.StartTimer()
	}
}

// An index fed by a writer keeps no listing of the folders between full
// refreshes, and a full refresh still drops removed files and folders.
func TestFullRefreshDropsRemovedWithoutKeptListing(t *testing.T) {
	dir := t.TempDir()
	ix := newIndex(dir)
	write, _ := feedingWriter(t, ix, dir)
	day2 := t0.Add(24 * time.Hour)
	write(stepEvent("r-a", 1, t0, "run.start", "ok", "api"),
		stepEvent("r-b", 1, t0, "run.start", "ok", "api"), stepEvent("r-c", 1, day2, "run.start", "ok", "api"))
	if _, err := ix.Refresh(); err != nil {
		t.Fatal(err)
	}
	for d, c := range ix.days {
		if c.names != nil {
			t.Fatalf("listing of %s kept: %d names", d, len(c.names))
		}
	}
	if err := os.Remove(ledger.RunPath(dir, t0, "r-a")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Dir(ledger.RunPath(dir, day2, "r-c"))); err != nil {
		t.Fatal(err)
	}
	st, err := ix.Refresh()
	if err != nil || st.Removed != 2 {
		t.Fatalf("refresh %+v %v, want 2 removed", st, err)
	}
	if _, ok := ix.Get("r-b"); !ok || ix.Len() != 1 {
		t.Fatalf("after removals: %d runs, r-b present %v", ix.Len(), ok)
	}
}

// Appends racing with full refreshes and listings leave the index equal to
// one built from the files.
func TestAppendedRacingRefreshes(t *testing.T) {
	dir := t.TempDir()
	ix := newIndex(dir)
	writeRacing(t, ix, dir, func(int, int) (string, string) { return "stage.k", "ok" }, func(int) error {
		if _, err := ix.Refresh(); err != nil {
			return err
		}
		_, _ = ix.refreshPending()
		_, err := ix.List(Query{Limit: 10})
		return err
	})
	_, _ = ix.refreshPending()
	sameAsReadIndex(t, ix, dir, 40)
}

// writeRacing writes 30 rounds of one event for each of 40 runs, from four
// goroutines, through a writer that feeds ix, while poll(i) runs in a loop
// (i counting its calls); kind gives each event's kind and status.
func writeRacing(t *testing.T, ix *Index, dir string, kind func(round, run int) (string, string), poll func(i int) error) {
	t.Helper()
	w, err := ledgerstore.NewWriter(ledgerstore.WriterConfig{Dir: dir, DedupeWindow: 16, MaxOpenFiles: 4, Now: func() time.Time { return t0 },
		Hooks: ledgerstore.Hooks{Appended: ix.Appended}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if err := poll(i); err != nil {
				t.Error(err)
				return
			}
			runtime.Gosched()
		}
	}()
	for round := 0; round < 30; round++ {
		var wwg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wwg.Add(1)
			go func() {
				defer wwg.Done()
				var evs []ledger.Entry
				for r := 0; r < 10; r++ {
					k, st := kind(round, r)
					evs = append(evs, stepEvent(fmt.Sprintf("r-%d-%d", g, r), round, t0.Add(time.Duration(round)*time.Second), k, st, "svc"))
				}
				if _, err := w.Write(evs); err != nil {
					t.Error(err)
				}
			}()
		}
		wwg.Wait()
	}
	close(done)
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// Entries report the full path however the directory is spelled.
func TestEntryPathsWithRelativeDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, d := range []string{".", "ledgers"} {
		p := writeRun(t, d, "r-"+d, t0, "svc", "run.start", "ok")
		ix := newIndex(d)
		if _, err := ix.Refresh(); err != nil {
			t.Fatal(err)
		}
		e, ok := ix.Get("r-" + d)
		if !ok || e.Path != p {
			t.Fatalf("dir %q: entry path %q, want %q", d, e.Path, p)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if st, _ := ix.Refresh(); st.Removed != 1 {
			t.Fatalf("dir %q: removed file not dropped: %+v", d, st)
		}
	}
}
