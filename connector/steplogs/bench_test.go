package steplogs

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/connector/steplogs/internal/metadata"
)

// benchTraces is a request of 100 runs, one span of 10 step events each,
// as steproute passes it on (run.id on every event).
func benchTraces() (ptrace.Traces, int) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "retriever")
	rs.Resource().Attributes().PutStr("host.name", "gpu-7")
	ss := rs.ScopeSpans().AppendEmpty()
	events := 0
	for r := range 100 {
		sp := ss.Spans().AppendEmpty()
		sp.SetName("retrieve")
		sp.SetTraceID(pcommon.TraceID{byte(r), 1})
		sp.SetSpanID(pcommon.SpanID{byte(r), 1})
		sp.SetStartTimestamp(1)
		run := fmt.Sprintf("run-%d", r)
		for i := range 10 {
			ev := sp.Events().AppendEmpty()
			ev.SetTimestamp(pcommon.Timestamp(1000 + i))
			a := ev.Attributes()
			a.PutStr("step.kind", "stage.search")
			a.PutStr("step.status", "ok")
			a.PutDouble("step.duration_ms", 12.5)
			a.PutInt("step.size.hits", 40)
			a.PutStr("step.resource.index", "wiki-v3")
			a.PutStr("run.id", run)
			events++
		}
	}
	return td, events
}

// BenchmarkTracesToLogs measures the agent's conversion and reports the
// otlp_proto bytes per step event that would go to Kafka (span records
// included, before compression).
func BenchmarkTracesToLogs(b *testing.B) {
	td, events := benchTraces()
	sink := new(consumertest.LogsSink)
	c, err := NewFactory().CreateTracesToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type), createDefaultConfig(), sink)
	if err != nil {
		b.Fatal(err)
	}
	var size int
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.ConsumeTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
		if size == 0 {
			size = (&plog.ProtoMarshaler{}).LogsSize(sink.AllLogs()[0])
		}
		sink.Reset()
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(size)/float64(events), "proto_B/event")
}
