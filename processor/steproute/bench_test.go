package steproute

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const (
	benchSpans         = 1000
	benchEventsPerSpan = 5
	benchNoiseEvery    = 5 // every 5th span is noise: 20%
)

// benchBatch returns the OTLP protobuf encoding of one batch: 1,000 spans in
// 10 resources, 20% noise spans (one non-step event each), the others with
// 5 step events each; the run id is on the resource for even resources and
// on every span for odd ones. 10 spans per trace.
func benchBatch(tb testing.TB) ([]byte, int) {
	td := ptrace.NewTraces()
	steps := 0
	for r := range 10 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "retriever")
		if r%2 == 0 {
			rs.Resource().Attributes().PutStr("run.id", fmt.Sprint("run-", r))
		}
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("pipeline")
		for s := range benchSpans / 10 {
			n := r*benchSpans/10 + s
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(pcommon.TraceID{byte(n / 10 >> 8), byte(n / 10), 7})
			sp.SetSpanID(pcommon.SpanID{byte(n >> 8), byte(n), 1})
			sp.SetName("stage")
			sp.Attributes().PutStr("http.method", "POST")
			if r%2 == 1 {
				sp.Attributes().PutStr("run.id", fmt.Sprint("run-", r))
			}
			if n%benchNoiseEvery == 0 {
				ev := sp.Events().AppendEmpty()
				ev.SetName("exception")
				ev.Attributes().PutStr("exception.message", "retrying")
				continue
			}
			for e := range benchEventsPerSpan {
				ev := sp.Events().AppendEmpty()
				ev.SetName("step")
				a := ev.Attributes()
				a.PutStr("step.kind", "ann.faiss.search")
				a.PutStr("step.status", "ok")
				a.PutStr("step.detail", "top-k search over the code index")
				a.PutDouble("step.duration_ms", 12.5)
				a.PutInt("step.size.hits", int64(50+e))
				a.PutStr("step.resource.index_version", "v3")
				a.PutInt("nprobe", 16)
				steps++
			}
		}
	}
	buf, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(tb, err)
	return buf, steps
}

// BenchmarkConsumeTraces measures the traces processor (through the
// collector's processorhelper, default config) on batches decoded from OTLP
// protobuf like the receiver produces them. Decoding is outside the timer.
func BenchmarkConsumeTraces(b *testing.B) {
	buf, steps := benchBatch(b)
	f := NewFactory()
	cfg := createDefaultConfig()
	cfg.(*Config).HoldDirectory = b.TempDir()
	ctx := context.Background()
	tp, err := f.CreateTraces(ctx, nopSettings(), cfg, consumertest.NewNop())
	require.NoError(b, err)
	require.NoError(b, tp.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(b, tp.Shutdown(ctx)) }()
	var um ptrace.ProtoUnmarshaler
	var ms runtime.MemStats
	var mallocs uint64

	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		td, err := um.UnmarshalTraces(buf)
		if err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		b.StartTimer()
		if err := tp.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.ReadMemStats(&ms)
		mallocs += ms.Mallocs - before
		b.StartTimer()
	}
	n := float64(b.N) * float64(steps)
	b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(mallocs)/n, "allocs/event")
}

// BenchmarkHoldRelease measures the hold path with the hold log: a span of
// 25 step events without a run id is held (spilled to the log, one append),
// then its trace's root span brings the run id and the events are read back,
// released to the next consumer and tombstoned. Each iteration is one trace.
func BenchmarkHoldRelease(b *testing.B) {
	for _, sync := range []string{"interval", "always"} {
		b.Run("hold_fsync="+sync, func(b *testing.B) {
			const steps = 25
			cfg := createDefaultConfig().(*Config)
			cfg.HoldDirectory = b.TempDir()
			cfg.HoldFsync = sync
			ctx := context.Background()
			sink := new(consumertest.TracesSink)
			tp, err := NewFactory().CreateTraces(ctx, nopSettings(), cfg, sink)
			require.NoError(b, err)
			require.NoError(b, tp.Start(ctx, componenttest.NewNopHost()))
			defer func() { require.NoError(b, tp.Shutdown(ctx)) }()
			child := func(i int) ptrace.Traces {
				td := ptrace.NewTraces()
				rs := td.ResourceSpans().AppendEmpty()
				rs.Resource().Attributes().PutStr("service.name", "bench")
				span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
				span.SetTraceID(pcommon.TraceID{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 1})
				span.SetSpanID(spanID(2))
				for e := 0; e < steps; e++ {
					m := span.Events().AppendEmpty().Attributes()
					m.PutStr("step.kind", "stage.work")
					m.PutStr("step.status", "ok")
					m.PutDouble("step.duration_ms", 12.5)
				}
				return td
			}
			root := func(i int) ptrace.Traces {
				td := ptrace.NewTraces()
				span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
				span.SetTraceID(pcommon.TraceID{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 1})
				span.SetSpanID(spanID(1))
				span.Attributes().PutStr("run.id", "bench-run")
				return td
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				c, r := child(i), root(i)
				b.StartTimer()
				if err := tp.ConsumeTraces(ctx, c); err != nil {
					b.Fatal(err)
				}
				if err := tp.ConsumeTraces(ctx, r); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				sink.Reset()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N)*steps/b.Elapsed().Seconds(), "events/s")
		})
	}
}
