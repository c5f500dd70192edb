package runmetrics

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/connector/runmetrics/internal/metadata"
)

// benchTraces is a request of 100 runs of 10 steps each (one span per run):
// run.start, seven stages with durations, a failed stage with its error
// handler's report in every fifth run, run.end.
func benchTraces(round int) (ptrace.Traces, int) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "retriever")
	ss := rs.ScopeSpans().AppendEmpty()
	events := 0
	kinds := []string{"embed.vllm", "ann.faiss.search", "hydrate.duckdb", "git.blame", "retrieval.hybrid", "rerank.model", "respond.http"}
	for r := range 100 {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{byte(r), byte(round), byte(round >> 8), byte(round >> 16), 1})
		sp.Attributes().PutStr("run.id", fmt.Sprintf("run-%d-%d", round, r))
		add := func(kind, status, code string, dur float64) {
			ev := sp.Events().AppendEmpty()
			a := ev.Attributes()
			a.PutStr("step.kind", kind)
			a.PutStr("step.status", status)
			if code != "" {
				a.PutStr("step.error.code", code)
			}
			if dur > 0 {
				a.PutDouble("step.duration_ms", dur)
			}
			events++
		}
		add("run.start", "ok", "", 0)
		failed := r%5 == 0
		for i, k := range kinds {
			if failed && i == 1 {
				add(k, "failed", "index_not_found", 3)
				add("retrieval.error", "failed", "index_not_found", 0)
				break
			}
			add(k, "ok", "", float64(i*10+r%7))
		}
		end := "ok"
		if failed {
			end = "failed"
		}
		add("run.end", end, "", 0)
	}
	return td, events
}

func BenchmarkConsumeTraces(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	set := connectortest.NewNopSettings(metadata.Type)
	c, err := NewFactory().CreateTracesToMetrics(context.Background(), set, cfg, consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Shutdown(context.Background()) }()
	reqs := make([]ptrace.Traces, 16)
	events := 0
	for i := range reqs {
		reqs[i], events = benchTraces(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.ConsumeTraces(context.Background(), reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N*events), "events")
}
