package runindex

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func lineJSON(t testing.TB, run string, seq uint64, at time.Time, kind, status, service string) []byte {
	t.Helper()
	b, err := json.Marshal(ledger.Line{V: 1, RunID: run, Seq: seq, TS: at, Kind: kind, Status: status, Service: service})
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func appendFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeRun writes a run's ledger with the given steps (kind:status pairs)
// one second apart and returns its path.
func writeRun(t testing.TB, dir, run string, start time.Time, service string, steps ...string) string {
	t.Helper()
	p := ledger.RunPath(dir, start, run)
	var data []byte
	for i := 0; i < len(steps); i += 2 {
		data = append(data, lineJSON(t, run, uint64(i/2+1), start.Add(time.Duration(i/2)*time.Second), steps[i], steps[i+1], service)...)
	}
	appendFile(t, p, data)
	return p
}

func newIndex(dir string) *Index {
	return New(dir, Options{Now: func() time.Time { return t0.Add(time.Hour) }})
}

func TestMissingDirectoryIsEmpty(t *testing.T) {
	ix := newIndex(filepath.Join(t.TempDir(), "nope"))
	if _, err := ix.Refresh(); err != nil {
		t.Fatal(err)
	}
	p, err := ix.List(Query{})
	if err != nil || len(p.Runs) != 0 || p.Indexing {
		t.Fatalf("page %+v err %v", p, err)
	}
}

func TestIncrementalRefresh(t *testing.T) {
	dir := t.TempDir()
	p := writeRun(t, dir, "r-1", t0, "retriever", "run.start", "ok", "embed.vllm", "ok")
	writeRun(t, dir, "r-2", t0.Add(time.Minute), "gateway", "run.start", "ok", "run.end", "ok")
	ix := newIndex(dir)
	st, err := ix.Refresh()
	if err != nil || st.Files != 2 || st.Read != 2 || st.Lines != 4 {
		t.Fatalf("first refresh %+v %v", st, err)
	}
	e, ok := ix.Get("r-1")
	if !ok || e.Status != report.StatusStalled || e.EventCount != 2 || e.Path != p || e.Services[0] != "retriever" {
		t.Fatalf("r-1: %+v", e)
	}
	// Nothing changed: nothing read.
	if st, _ := ix.Refresh(); st.Read != 0 {
		t.Fatalf("idle refresh read %d files", st.Read)
	}
	// Append a torn line: the fragment is not counted.
	full := lineJSON(t, "r-1", 3, t0.Add(2*time.Second), "run.end", "failed", "retriever")
	appendFile(t, p, full[:20])
	if st, _ := ix.Refresh(); st.Read != 1 || st.Lines != 0 {
		t.Fatalf("torn append: %+v", st)
	}
	appendFile(t, p, full[20:])
	if st, _ := ix.Refresh(); st.Read != 1 || st.Lines != 1 {
		t.Fatalf("completed append read %+v, want only the new line", st)
	}
	e, _ = ix.Get("r-1")
	if e.Status != report.StatusFailed || e.EventCount != 3 || e.EndedAt == nil {
		t.Fatalf("after append: %+v", e)
	}
	// A file that shrank is re-read from the start.
	if err := os.WriteFile(p, lineJSON(t, "r-1", 1, t0, "run.start", "ok", "x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st, _ := ix.Refresh(); st.Rewinds != 1 {
		t.Fatalf("shrink: %+v", st)
	}
	if e, _ = ix.Get("r-1"); e.EventCount != 1 || e.Services[0] != "x" {
		t.Fatalf("after rewrite: %+v", e)
	}
	// A removed file leaves the index.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if st, _ := ix.Refresh(); st.Removed != 1 {
		t.Fatalf("remove: %+v", st)
	}
	if _, ok := ix.Get("r-1"); ok || ix.Len() != 1 {
		t.Fatal("removed run still indexed")
	}
}

func TestUnsafeRunIDAndStrayFiles(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, "../../etc/passwd", t0, "s", "run.start", "ok")
	appendFile(t, filepath.Join(dir, "notes.txt"), []byte("x"))
	appendFile(t, filepath.Join(dir, "not-a-date", "x.jsonl"), lineJSON(t, "x", 1, t0, "run.start", "ok", ""))
	ix := newIndex(dir)
	if _, err := ix.Refresh(); err != nil {
		t.Fatal(err)
	}
	e, ok := ix.Get("../../etc/passwd")
	if !ok || filepath.Dir(filepath.Dir(e.Path)) != dir || ix.Len() != 1 {
		t.Fatalf("entry %+v ok=%v len=%d", e, ok, ix.Len())
	}
}

func listAll(t *testing.T, ix *Index, q Query) []string {
	t.Helper()
	var ids []string
	for range 1000 {
		p, err := ix.List(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Runs {
			ids = append(ids, r.RunID)
		}
		if p.NextCursor == "" {
			return ids
		}
		q.Cursor = p.NextCursor
	}
	t.Fatal("listing does not end")
	return nil
}

func TestListFiltersAndPaging(t *testing.T) {
	dir := t.TempDir()
	for i := range 25 {
		status := []string{"ok", "failed", "cancelled"}[i%3]
		svc := []string{"retriever", "gateway"}[i%2]
		writeRun(t, dir, fmt.Sprintf("run-%02d", i), t0.Add(time.Duration(i)*time.Minute), svc,
			"run.start", "ok", "embed.vllm", "ok", "run.end", status)
	}
	// Two runs with the same start time: ordered by run id.
	writeRun(t, dir, "same-a", t0.Add(100*time.Minute), "gateway", "run.start", "ok", "git.blame", "failed")
	writeRun(t, dir, "same-b", t0.Add(100*time.Minute), "gateway", "run.start", "ok")
	ix := newIndex(dir)
	if _, err := ix.Refresh(); err != nil {
		t.Fatal(err)
	}
	all := listAll(t, ix, Query{Limit: 4})
	if len(all) != 27 || all[0] != "same-a" || all[1] != "same-b" || all[2] != "run-24" || all[26] != "run-00" {
		t.Fatalf("paged listing: %v", all)
	}
	seen := map[string]bool{}
	for _, id := range all {
		if seen[id] {
			t.Fatalf("duplicate %s", id)
		}
		seen[id] = true
	}
	check := func(v url.Values, want int) {
		t.Helper()
		q, err := ParseQuery(v, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if got := len(listAll(t, ix, q)); got != want {
			t.Errorf("%v: %d runs, want %d", v, got, want)
		}
		p, _ := ix.List(q)
		if p.Matched != want {
			t.Errorf("%v: matched %d, want %d", v, p.Matched, want)
		}
	}
	check(url.Values{"status": {"failed"}}, 9)
	check(url.Values{"status": {"completed,cancelled"}}, 17)
	check(url.Values{"status": {"in_progress"}}, 1)
	check(url.Values{"service": {"gateway"}}, 14)
	check(url.Values{"kind": {"git.blame"}}, 1)
	check(url.Values{"kind": {"embed"}}, 25)
	check(url.Values{"kind": {"run.*"}}, 27)
	check(url.Values{"since": {t0.Add(20 * time.Minute).Format(time.RFC3339)}}, 7)
	check(url.Values{"until": {t0.Add(10 * time.Minute).Format(time.RFC3339)}}, 10)
	check(url.Values{"since": {"45m"}, "limit": {"2"}}, 12)
	check(url.Values{"status": {"failed"}, "service": {"gateway"}}, 5)
}

func TestParseQueryErrors(t *testing.T) {
	for _, v := range []url.Values{
		{"status": {"done"}}, {"limit": {"0"}}, {"limit": {"x"}}, {"limit": {"100000"}},
		{"since": {"yesterday"}}, {"until": {"-5m"}}, {"cursor": {"!!"}}, {"cursor": {"Zm9v"}}, {"kind": {"["}},
	} {
		if _, err := ParseQuery(v, t0); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%v: err %v, want ErrBadQuery", v, err)
		}
	}
	q, err := ParseQuery(url.Values{"since": {"7d"}, "until": {"2026-11-26"}}, t0)
	if err != nil || !q.Since.Equal(t0.Add(-7*24*time.Hour)) || q.Until.Day() != 26 {
		t.Fatalf("%+v %v", q, err)
	}
	back, err := ParseQuery(q.Values(), t0)
	if err != nil || !back.Since.Equal(q.Since) {
		t.Fatalf("round trip %+v %v", back, err)
	}
}

func TestConcurrentRefreshAndList(t *testing.T) {
	dir := t.TempDir()
	p := writeRun(t, dir, "live", t0, "s", "run.start", "ok")
	ix := newIndex(dir)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 200 {
			appendFile(t, p, lineJSON(t, "live", uint64(i+2), t0.Add(time.Duration(i)*time.Millisecond), "embed.vllm", "ok", "s"))
			if i%20 == 0 {
				writeRun(t, dir, fmt.Sprintf("other-%d", i), t0, "s", "run.start", "ok")
			}
			if _, err := ix.Refresh(); err != nil {
				t.Error(err)
			}
		}
		close(done)
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := ix.List(Query{Kind: "embed", Limit: 3}); err != nil {
					t.Error(err)
				}
				ix.Get("live")
			}
		}()
	}
	wg.Wait()
	if e, _ := ix.Get("live"); e.EventCount != 201 {
		t.Fatalf("events %d", e.EventCount)
	}
}

// BenchmarkListRuns10k lists a 10,000-run index with filters, page by page
// of 50 and with a status+service+kind filter.
func BenchmarkListRuns10k(b *testing.B) {
	dir := b.TempDir()
	const n = 10_000
	for i := range n {
		status := []string{"ok", "failed", "cancelled", "ok"}[i%4]
		writeRun(b, dir, fmt.Sprintf("run-%05d", i), t0.Add(time.Duration(i)*time.Second),
			[]string{"retriever", "gateway", "indexer"}[i%3],
			"run.start", "ok", []string{"embed.vllm", "ann.faiss.search", "git.blame"}[i%3], "ok", "run.end", status)
	}
	ix := newIndex(dir)
	if _, err := ix.Refresh(); err != nil || ix.Len() != n {
		b.Fatal(err, ix.Len())
	}
	b.Run("live", func(b *testing.B) { benchList(b, ix, n) })
	if ix.freeze(time.Now().Add(time.Hour)) != n {
		b.Fatal("not all runs settled")
	}
	b.Run("cold", func(b *testing.B) { benchList(b, ix, n) })
}

// benchList lists runs of ix (n of them) with and without filters.
func benchList(b *testing.B, ix *Index, n int) {
	qs := []Query{
		{},
		{Statuses: []string{"failed"}, Service: "gateway", Kind: "ann"},
		{Since: t0.Add(2 * time.Hour), Until: t0.Add(2*time.Hour + 30*time.Minute), Statuses: []string{"completed"}},
	}
	b.ReportAllocs()
	b.ResetTimer()
	var runs int
	for i := 0; b.Loop(); i++ {
		p, err := ix.List(qs[i%len(qs)])
		if err != nil {
			b.Fatal(err)
		}
		runs += len(p.Runs)
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "runs_scanned/s")
}

func TestQuickRefresh(t *testing.T) {
	dir := t.TempDir()
	done := writeRun(t, dir, "done", t0, "s", "run.start", "ok", "run.end", "ok")
	open := writeRun(t, dir, "open", t0, "s", "run.start", "ok")
	ix := newIndex(dir)
	wall := time.Now()
	ix.clock = func() time.Time { return wall }
	if _, err := ix.refresh(false); err != nil {
		t.Fatal(err)
	}
	wall = wall.Add(time.Minute)
	// A late line on a settled run waits for the next full refresh; the
	// open run is always checked.
	appendFile(t, done, lineJSON(t, "done", 3, t0.Add(time.Second), "git.blame", "failed", "s"))
	appendFile(t, open, lineJSON(t, "open", 2, t0.Add(time.Second), "embed.vllm", "ok", "s"))
	if st, err := ix.refresh(false); err != nil || st.Read != 1 {
		t.Fatalf("quick refresh %+v %v", st, err)
	}
	if e, _ := ix.Get("open"); e.EventCount != 2 {
		t.Fatalf("open run not refreshed: %+v", e)
	}
	if st, _ := ix.Refresh(); st.Read != 1 {
		t.Fatalf("full refresh %+v", st)
	}
	if e, _ := ix.Get("done"); e.EventCount != 3 {
		t.Fatalf("settled run not refreshed by the full refresh: %+v", e)
	}
	// New and removed files are seen by quick refreshes.
	writeRun(t, dir, "new", t0.Add(time.Hour), "s", "run.start", "ok")
	if err := os.Remove(open); err != nil {
		t.Fatal(err)
	}
	if st, _ := ix.refresh(false); st.Removed != 1 {
		t.Fatalf("quick refresh after add/remove %+v", st)
	}
	if _, ok := ix.Get("new"); !ok {
		t.Fatal("new run not indexed")
	}
	if _, ok := ix.Get("open"); ok {
		t.Fatal("removed run still indexed")
	}
}

func benchIndex10k(b *testing.B) *Index {
	dir := b.TempDir()
	for i := range 10_000 {
		writeRun(b, dir, fmt.Sprintf("run-%05d", i), t0.Add(time.Duration(i)*time.Second), "s", "run.start", "ok", "run.end", "ok")
	}
	ix := newIndex(dir)
	wall := time.Now()
	ix.clock = func() time.Time { return wall }
	if _, err := ix.Refresh(); err != nil {
		b.Fatal(err)
	}
	wall = wall.Add(time.Hour)
	return ix
}

// BenchmarkRefreshFull10k is one full poll of an unchanged 10,000-run
// directory (every file is checked).
func BenchmarkRefreshFull10k(b *testing.B) {
	ix := benchIndex10k(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if st, err := ix.Refresh(); err != nil || st.Read != 0 {
			b.Fatal(err, st)
		}
	}
}

// BenchmarkRefreshQuick10k is one quick poll of an unchanged 10,000-run
// directory whose runs all ended.
func BenchmarkRefreshQuick10k(b *testing.B) {
	ix := benchIndex10k(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if st, err := ix.refresh(false); err != nil || st.Read != 0 {
			b.Fatal(err, st)
		}
	}
}

// notifyOf is an append the index cannot apply (it does not start where the
// index's state of the file ends), so the index reads the file instead.
func notifyOf(ix *Index, path string) {
	ix.Appended(&ledger.Appended{Path: path, From: -1, To: -1})
}

// After appends it cannot apply, only those files are read; paths outside
// the directory are ignored.
func TestNotifyReadsOnlyNotifiedFiles(t *testing.T) {
	dir := t.TempDir()
	a := writeRun(t, dir, "r-a", t0, "svc", "run.start", "ok")
	writeRun(t, dir, "r-quiet", t0, "svc", "run.start", "ok")
	ix := newIndex(dir)
	if _, err := ix.Refresh(); err != nil {
		t.Fatal(err)
	}
	appendFile(t, a, lineJSON(t, "r-a", 2, t0.Add(time.Second), "run.end", "ok", "svc"))
	b := writeRun(t, dir, "r-b", t0, "svc", "run.start", "ok")
	notifyOf(ix, a)
	notifyOf(ix, b)
	notifyOf(ix, filepath.Join(t.TempDir(), "2026-11-25", "elsewhere.jsonl"))
	st, err := ix.refreshPending()
	if err != nil || st.Files != 2 || st.Read != 2 || st.Lines != 2 {
		t.Fatalf("refreshPending %+v %v, want the two notified files and their two new lines", st, err)
	}
	if e, ok := ix.Get("r-a"); !ok || e.EventCount != 2 || e.Status != report.StatusCompleted {
		t.Fatalf("r-a after notify: %+v", e)
	}
	if _, ok := ix.Get("r-b"); !ok {
		t.Fatal("a new notified file is not indexed")
	}
	if st, _ := ix.refreshPending(); st.Files != 0 {
		t.Fatalf("pending paths were not cleared: %+v", st)
	}
	// The same file named through an absolute path of the directory counts.
	abs, _ := filepath.Abs(a)
	rel, err := filepath.Rel(mustGetwd(t), abs)
	if err == nil {
		notifyOf(ix, rel)
		if st, _ := ix.refreshPending(); st.Files != 1 {
			t.Fatalf("relative path of the same directory ignored: %+v", st)
		}
	}
}

func mustGetwd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}
