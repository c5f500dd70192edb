package ledgerstore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// indexEvent returns event n of run at time at.
func indexEvent(run string, n int, at time.Time) ledger.Entry {
	id := ledger.NewEventID([16]byte{1}, [8]byte{2}, uint64(at.UnixNano()), "stage.k", uint32(n))
	return ledger.NewEntry(&ledger.Line{RunID: run, TS: at, Kind: "stage.k", EventID: id.String()})
}

func newIndexWriter(t *testing.T, cfg WriterConfig, hashStem func(string) uint64) *Writer {
	t.Helper()
	cfg.DedupeWindow = 16
	w, err := newWriter(cfg, hashStem)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func writeEvents(t *testing.T, w *Writer, evs ...ledger.Entry) {
	t.Helper()
	if res, err := w.Write(evs); err != nil || res.Lines != len(evs) {
		t.Fatalf("write: %+v %v", res, err)
	}
}

// checkFile asserts the file at path holds lines 1..want of run.
func checkFile(t *testing.T, path, run string, want int) {
	t.Helper()
	var seqs []uint64
	st, err := ledger.ReadFile(path, func(l *ledger.Line) error {
		if l.RunID != run {
			t.Errorf("%s: line of run %q", path, l.RunID)
		}
		seqs = append(seqs, l.Seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Skipped != 0 || st.Partial != 0 || len(seqs) != want || want > 0 && seqs[want-1] != uint64(want) {
		t.Fatalf("%s: seqs %v (%+v), want 1..%d", path, seqs, st, want)
	}
}

func mustNotExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s: %v, want no such file", path, err)
	}
}

// An index entry is a hint: a new run whose stem's hash collides with a run
// in another day's folder starts where a new run goes, and the other run,
// found again through the same entry, still continues its own file.
func TestWriterIndexHashCollision(t *testing.T) {
	dir := t.TempDir()
	d1 := time.Date(2026, 11, 25, 23, 59, 58, 0, time.UTC)
	d2 := d1.Add(5 * time.Second) // 2026-11-26
	// One open file and one state: a run written after another is found
	// again through the index only.
	w := newIndexWriter(t, WriterConfig{Dir: dir, MaxOpenFiles: 1, MaxRunStates: 1,
		Now: func() time.Time { return d1 }}, func(string) uint64 { return 42 })

	writeEvents(t, w, indexEvent("a", 0, d1))
	pathA := filepath.Join(dir, "2026-11-25", "a.jsonl")
	before, err := os.ReadFile(pathA)
	if err != nil {
		t.Fatal(err)
	}
	writeEvents(t, w, indexEvent("b", 0, d2)) // hinted at a's day
	checkFile(t, filepath.Join(dir, "2026-11-26", "b.jsonl"), "b", 1)
	mustNotExist(t, filepath.Join(dir, "2026-11-25", "b.jsonl"))
	if after, err := os.ReadFile(pathA); err != nil || !bytes.Equal(before, after) {
		t.Fatalf("a's file changed: %v\n%s---\n%s", err, before, after)
	}
	if n := w.Runs(); n != 1 {
		t.Fatalf("index has %d runs, want 1 (one shared hash)", n)
	}

	// The entry now names b's day; a continues in its own file.
	writeEvents(t, w, indexEvent("a", 1, d1))
	checkFile(t, pathA, "a", 2)
	mustNotExist(t, filepath.Join(dir, "2026-11-26", "a.jsonl"))
}

// The retention sweep drops a removed day's index entries and frees its id,
// which the next new day reuses; the others keep theirs.
func TestWriterSweepFreesDayID(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	set := func(t time.Time) { mu.Lock(); defer mu.Unlock(); clock = t }
	w := newIndexWriter(t, WriterConfig{Dir: dir, Now: now, Retention: 7 * 24 * time.Hour,
		SweepInterval: time.Hour, MaxOpenFiles: 1}, nil)
	writeEvents(t, w, indexEvent("old1", 0, now()))
	writeEvents(t, w, indexEvent("old2", 0, now()))
	set(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	writeEvents(t, w, indexEvent("recent", 0, now())) // closes old2's file
	checkDays := func(want []string, runs int) {
		t.Helper()
		w.mu.Lock()
		days, ids := slices.Clone(w.days), len(w.dayIDs)
		w.mu.Unlock()
		if !slices.Equal(days, want) || ids != len(slices.DeleteFunc(slices.Clone(want), func(d string) bool { return d == "" })) {
			t.Fatalf("days %q (%d known), want %q", days, ids, want)
		}
		if n := w.Runs(); n != runs {
			t.Fatalf("index has %d runs, want %d", n, runs)
		}
	}
	checkDays([]string{"2026-11-01", "2026-11-24"}, 3)

	set(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	if _, err := w.Sweep(); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, filepath.Join(dir, "2026-11-01"))
	checkDays([]string{"", "2026-11-24"}, 1)

	writeEvents(t, w, indexEvent("new", 0, now()))
	writeEvents(t, w, indexEvent("old1", 1, now())) // forgotten: a new file today
	checkDays([]string{"2026-11-25", "2026-11-24"}, 3)
	checkFile(t, filepath.Join(dir, "2026-11-25", "old1.jsonl"), "old1", 1)
	writeEvents(t, w, indexEvent("recent", 1, now()))
	checkFile(t, filepath.Join(dir, "2026-11-24", "recent.jsonl"), "recent", 2)
}

// BenchmarkWriterIndexMemoryPerRun reports the heap the run index keeps per
// remembered run (B/run), through the path openRun records a run with.
func BenchmarkWriterIndexMemoryPerRun(b *testing.B) {
	const runs = 100_000
	dir := b.TempDir()
	paths := make([]string, runs)
	for i := range paths {
		// Stems like the load generator's run ids (load-<ULID>-<n>), taken
		// out of a path as openRun does.
		paths[i] = filepath.Join(dir, "2026-11-25", fmt.Sprintf("load-01JDQ8ZK3M5N7P9R1T3V5X7Z9B-%d", i)+ledger.FileExt)
	}
	var perRun float64
	for b.Loop() {
		w, err := NewWriter(WriterConfig{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w.mu.Lock()
		for _, p := range paths {
			w.remember(ledger.FileNameStem(p), filepath.Base(filepath.Dir(p)))
		}
		w.mu.Unlock()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if w.Runs() != runs {
			b.Fatalf("%d runs remembered, want %d", w.Runs(), runs)
		}
		perRun += float64(after.HeapAlloc-before.HeapAlloc) / runs
		runtime.KeepAlive(w)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(perRun/float64(b.N), "B/run")
}
