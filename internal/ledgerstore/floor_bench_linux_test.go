package ledgerstore

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// floorLines and floorLineBytes are the bench-e2e load's average run: 27.1
// step events of 474 bytes each (docs/benchmarks.md).
const (
	floorLines     = 27
	floorLineBytes = 474
)

// BenchmarkFileFloor measures what the operating system charges for the
// ledger layout itself, with none of our code in the way: each op is one
// run's lines written either as a new file of its own (create, one write,
// close: the least that one file per run can cost) or appended to one
// shared file, as the contrib file exporter that bench-e2e compares us with
// does. The difference is CPU that any implementation of the per-run layout
// pays. It reports process CPU (user+system) per million step events, the
// unit of make bench-e2e; set RUNLEDGER_BENCH_DIR to a fresh file system
// (bench/freshfs.sh) for figures comparable with it.
func BenchmarkFileFloor(b *testing.B) {
	run := bytes.Repeat(append(bytes.Repeat([]byte{'x'}, floorLineBytes-1), '\n'), floorLines)
	dir := func(b *testing.B) string {
		if d := os.Getenv("RUNLEDGER_BENCH_DIR"); d != "" {
			d, err := os.MkdirTemp(d, "floor-")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = os.RemoveAll(d) })
			return d
		}
		return b.TempDir()
	}
	report := func(b *testing.B, cpu time.Duration) {
		events := float64(b.N) * floorLines
		b.ReportMetric(cpu.Seconds()/events*1e6, "cpu-s/M-events")
		b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("file_per_run", func(b *testing.B) {
		d := dir(b)
		b.ReportAllocs()
		c0 := processCPU(b)
		b.ResetTimer()
		for i := range b.N {
			f, err := os.OpenFile(filepath.Join(d, fmt.Sprintf("run-%09d.jsonl", i)),
				os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Write(run); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		report(b, processCPU(b)-c0)
	})
	b.Run("one_file", func(b *testing.B) {
		f, err := os.Create(filepath.Join(dir(b), "all.jsonl"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.ReportAllocs()
		c0 := processCPU(b)
		b.ResetTimer()
		for range b.N {
			if _, err := f.Write(run); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		report(b, processCPU(b)-c0)
	})
}

// processCPU returns the user and system CPU time of the process so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
