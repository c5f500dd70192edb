package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// writeBigRun writes a ledger of n events shaped like the retrieval
// service's: five stages with sizes, resources and attrs, 1% failed steps
// that a retry recovers, and a final run.end; every 10 events share a span,
// whose span record follows them (n/10 spans, 10,000 for bigN).
func writeBigRun(tb testing.TB, dir string, n int) string {
	tb.Helper()
	path := filepath.Join(dir, "big.jsonl")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	start := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	kinds := []string{"embed.vllm", "ann.faiss.search", "hydrate.duckdb", "git.blame", "retrieval.hybrid"}
	for i := range n {
		d := float64(i%97) + 0.5
		l := ledger.Line{V: 1, RunID: "r-big", Seq: uint64(i + 1), TS: start.Add(time.Duration(i) * time.Millisecond),
			Kind: kinds[i%len(kinds)], Status: "ok", DurationMS: &d,
			Sizes:     map[string]float64{"hits": float64(i % 50), "bytes": 4096},
			Resources: map[string]string{"index_version": "v3", "model": "bge-large"},
			Attrs:     map[string]any{"nprobe": 16, "batch": i / 100},
			TraceID:   fmt.Sprintf("%032x", i/50), SpanID: fmt.Sprintf("%016x", i/10+1), SpanName: "step",
			Service: "retriever", EventID: fmt.Sprintf("%032x", i)}
		switch {
		case i == 0:
			l.Kind = "run.start"
		case i == n-1:
			l.Kind = "run.end"
		case i%100 == 7:
			l.Status, l.ErrorCode, l.Detail = "failed", "http_503", "vLLM returned 503"
		}
		if err := enc.Encode(&l); err != nil {
			tb.Fatal(err)
		}
		if i%10 == 9 || i == n-1 {
			sp := ledger.SpanRecord{RunID: "r-big", Start: start.Add(time.Duration(i-9) * time.Millisecond),
				End: start.Add(time.Duration(i) * time.Millisecond), TraceID: l.TraceID, SpanID: l.SpanID,
				ParentSpanID: fmt.Sprintf("%016x", i/50+1_000_000), Name: "stage", Service: "retriever", Status: "ok",
				EventID: fmt.Sprintf("%032x", n+i)}
			if _, err := w.Write(append(ledger.AppendSpan(nil, &sp), '\n')); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

const bigN = 100_000

// BenchmarkBuild100k is the end-to-end cost of a 100,000-event report: read
// and decode the ledger file (ledger.ReadFile) and build the report.
func BenchmarkBuild100k(b *testing.B) {
	path := writeBigRun(b, b.TempDir(), bigN)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := BuildFile(path, Options{})
		if err != nil || r.EventCount != bigN || r.Status != StatusCompleted {
			b.Fatalf("build: %v %+v", err, r)
		}
	}
	b.ReportMetric(float64(bigN*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkBuilderOnly100k is the report engine alone, fed lines that were
// decoded beforehand: the part of BenchmarkBuild100k that is not decoding.
func BenchmarkBuilderOnly100k(b *testing.B) {
	path := writeBigRun(b, b.TempDir(), bigN)
	var lines []ledger.Line
	if _, err := ledger.ReadFile(path, func(l *ledger.Line) error { lines = append(lines, *l); return nil }); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		bl := NewBuilder(Options{})
		for i := range lines {
			_ = bl.Add(&lines[i])
		}
		if r := bl.Report(ledger.ReadStats{}); r.EventCount != bigN {
			b.Fatal("wrong count")
		}
	}
	b.ReportMetric(float64(bigN*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecode100k is ledger.ReadFile alone (encoding/json decoding).
func BenchmarkDecode100k(b *testing.B) {
	path := writeBigRun(b, b.TempDir(), bigN)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		st, err := ledger.ReadFile(path, func(*ledger.Line) error { return nil })
		if err != nil || st.Lines != bigN {
			b.Fatal(err, st)
		}
	}
	b.ReportMetric(float64(bigN*b.N)/b.Elapsed().Seconds(), "events/s")
}
