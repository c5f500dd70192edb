package report

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// Timeline pages at any offset are the same slice of the (ts, seq) order,
// whether the report is built from lines in memory or from the file, with
// events out of time order (late releases), equal timestamps and lines of
// another run in the file.
func TestTimelinePagesAtOffsets(t *testing.T) {
	base := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	var lines []ledger.Line
	for i := range 500 {
		// Scrambled times, many equal: (i*37)%101 ms.
		at := base.Add(time.Duration((i*37)%101) * time.Millisecond)
		lines = append(lines, ledger.Line{V: 1, RunID: "r", Seq: uint64(i + 1), TS: at, Kind: "embed.call", Status: "ok",
			Detail: fmt.Sprintf("event %d", i)})
		if i%50 == 0 {
			lines = append(lines, ledger.Line{V: 1, RunID: "other", Seq: 1, TS: base, Kind: "x", Status: "ok"})
		}
	}
	want := slices.Clone(lines)
	want = slices.DeleteFunc(want, func(l ledger.Line) bool { return l.RunID != "r" })
	slices.SortStableFunc(want, func(a, b ledger.Line) int {
		if c := a.TS.Compare(b.TS); c != 0 {
			return c
		}
		return int(a.Seq) - int(b.Seq)
	})
	path := filepath.Join(t.TempDir(), "r.jsonl")
	var buf []byte
	for i := range lines {
		buf = append(ledger.AppendLine(buf, &lines[i]), '\n')
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, offset := range []int{0, 1, 99, 250, 499, 500, 800} {
		for _, limit := range []int{1, 7, 100} {
			opts := Options{RunID: "r", TimelineOffset: offset, TimelineLimit: limit}
			fromFile, err := BuildFile(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			inMem := Build(lines, opts)
			for name, r := range map[string]*Report{"file": fromFile, "memory": inMem} {
				tl := r.Timeline
				if tl.Total != 500 {
					t.Fatalf("%s: total %d", name, tl.Total)
				}
				var seqs, wantSeqs []uint64
				for _, e := range tl.Events {
					seqs = append(seqs, e.Seq)
				}
				for _, l := range want[min(offset, len(want)):min(offset+limit, len(want))] {
					wantSeqs = append(wantSeqs, l.Seq)
				}
				if !slices.Equal(seqs, wantSeqs) {
					t.Fatalf("%s offset %d limit %d: seqs %v, want %v", name, offset, limit, seqs, wantSeqs)
				}
				if hasNext := offset+limit < 500; (tl.NextOffset != nil) != hasNext {
					t.Fatalf("%s offset %d limit %d: next offset %v", name, offset, limit, tl.NextOffset)
				}
			}
		}
	}
}

// The memory a report needs does not grow with the timeline offset: a page
// deep into a big ledger costs about what the first page does (issue 22:
// offset 1,000,000 on a 200 MB ledger used to take 1.27 GB).
func TestTimelineOffsetMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 40 MB ledger")
	}
	path := writeBigRun(t, t.TempDir(), bigN)
	peak := func(offset int) uint64 {
		return peakHeap(t, func() {
			if _, err := BuildFile(path, Options{TimelineOffset: offset, TimelineLimit: 100}); err != nil {
				t.Fatal(err)
			}
		})
	}
	first, deep := peak(0), peak(bigN-200)
	t.Logf("peak heap: offset 0 %d MB, offset %d %d MB", first>>20, bigN-200, deep>>20)
	// The deep page keeps 16 bytes per event for the first pass's keys:
	// 1.6 MB here, against ~150 MB when the events themselves were kept.
	if deep > first+16<<20 {
		t.Fatalf("deep page used %d MB of heap against %d MB for the first page", deep>>20, first>>20)
	}
}

// peakHeap runs fn and returns the highest heap in use seen while it ran.
func peakHeap(tb testing.TB, fn func()) uint64 {
	tb.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// BenchmarkReport200MB builds reports of a 200 MB ledger (about 500,000
// events): the first timeline page and one deep into it. peak-MB is the
// highest heap in use during a build.
func BenchmarkReport200MB(b *testing.B) {
	const n = 500_000
	path := writeBigRun(b, b.TempDir(), n)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, offset := range []int{0, n - 1000} {
		b.Run(fmt.Sprintf("offset=%d", offset), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(st.Size())
			var peak uint64
			for b.Loop() {
				peak = max(peak, peakHeap(b, func() {
					if _, err := BuildFile(path, Options{TimelineOffset: offset, TimelineLimit: 100}); err != nil {
						b.Fatal(err)
					}
				}))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
