package jsonlledger

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/exporter/jsonlledger/internal/metadata"
)

const (
	benchRuns          = 1000
	benchRunsPerBatch  = 10
	benchEventsPerSpan = 10
	benchLinesPerBatch = benchRunsPerBatch * benchEventsPerSpan
)

// benchBatches builds the batches one producer goroutine sends: each batch
// has one span per run for benchRunsPerBatch consecutive runs, each span
// benchEventsPerSpan step events shaped like the retrieval stages; together
// the batches cover all benchRuns runs (round-robin).
func benchBatches(producer int) []ptrace.Traces {
	var out []ptrace.Traces
	for first := 0; first < benchRuns; first += benchRunsPerBatch {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "retriever")
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for r := first; r < first+benchRunsPerBatch; r++ {
			span := spans.AppendEmpty()
			span.SetName("retrieval.hybrid")
			span.SetTraceID(pcommon.TraceID{byte(producer), byte(r >> 8), byte(r), 1})
			span.SetSpanID(pcommon.SpanID{byte(producer), byte(r >> 8), byte(r), 2})
			for e := 0; e < benchEventsPerSpan; e++ {
				ev := span.Events().AppendEmpty()
				ev.SetName("step")
				a := ev.Attributes()
				a.PutStr("step.kind", "ann.faiss.search")
				a.PutStr("run.id", fmt.Sprintf("bench-run-%04d", r))
				a.PutStr("step.status", "ok")
				a.PutStr("step.detail", "top-k search over ivf index")
				a.PutDouble("step.duration_ms", 12.5)
				a.PutInt("step.size.hits", 50)
				a.PutInt("step.size.vectors", 1)
				a.PutStr("step.resource.index_version", "v3")
				a.PutStr("step.resource.model", "bge-small")
				a.PutInt("nprobe", 16)
			}
		}
		out = append(out, td)
	}
	return out
}

// stamp gives every event of td a fresh time (so a fresh event id: resent
// events would be deduped).
func stamp(td ptrace.Traces, base int64) {
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		evs := spans.At(i).Events()
		for j := 0; j < evs.Len(); j++ {
			evs.At(j).SetTimestamp(pcommon.Timestamp(base + int64(j)))
		}
	}
}

// BenchmarkExporterWrite measures encode+write through ConsumeTraces with
// 1,000 concurrent runs, batches of 100 lines over 10 runs sent round-robin
// by 4 producers per GOMAXPROCS. One op is one batch of 100 lines.
func BenchmarkExporterWrite(b *testing.B) {
	for _, bc := range []struct {
		name string
		set  func(*testCfg)
	}{
		{"defaults", func(*testCfg) {}}, // 256 open files, 1024 warm states
		{"max_open_files=1024", func(c *testCfg) { c.MaxOpenFiles = 1024 }},
		{"max_open_files=64", func(c *testCfg) { c.MaxOpenFiles = 64 }}, // LRU churn, tails re-read
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := newTestCfg(b)
			bc.set(cfg)
			f := newFactory(nil)
			set := exportertest.NewNopSettings(metadata.Type)
			ctx := context.Background()
			te, err := f.CreateTraces(ctx, set, cfg.Config)
			if err != nil {
				b.Fatal(err)
			}
			if err := te.Start(ctx, cfg.host(b)); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = te.Shutdown(ctx) }()
			const parallelism = 4
			b.SetParallelism(parallelism)
			producers := make(chan []ptrace.Traces, parallelism*runtime.GOMAXPROCS(0))
			for p := 0; p < cap(producers); p++ {
				producers <- benchBatches(p)
			}
			var clock atomic.Int64
			clock.Store(time.Now().UnixNano())
			// Warm up: every run has a file and lines before timing.
			for _, td := range <-producers {
				stamp(td, clock.Add(1000))
				if err := te.ConsumeTraces(ctx, td); err != nil {
					b.Fatal(err)
				}
			}
			producers <- benchBatches(cap(producers))
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				batches := <-producers
				i := 0
				for pb.Next() {
					td := batches[i%len(batches)]
					i++
					stamp(td, clock.Add(1000))
					if err := te.ConsumeTraces(ctx, td); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			lines := float64(b.N) * benchLinesPerBatch
			b.ReportMetric(lines/b.Elapsed().Seconds(), "lines/s")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/lines, "allocs/line")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/lines, "ns/line")
		})
	}
}
