package steplogs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/runledger/runledger/connector/steplogs/internal/metadata"
	"github.com/runledger/runledger/internal/stepcarry"
)

var (
	traceA = pcommon.TraceID{0xa1, 1}
	t0     = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
)

// twoServices returns traces of one run from two services (two resources,
// two traces), plus a span event that is not a step and a span of another
// run.
func twoServices() ptrace.Traces {
	td := ptrace.NewTraces()
	for i, svc := range []string{"retriever", "generator"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc)
		rs.Resource().Attributes().PutStr("host.name", "h1")
		span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		span.SetName(svc + ".work")
		span.SetTraceID(pcommon.TraceID{byte(i + 1)})
		span.SetSpanID(pcommon.SpanID{byte(i + 1)})
		span.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		for k, kind := range []string{"a", "", "b"} {
			ev := span.Events().AppendEmpty()
			ev.SetName("ev")
			ev.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(k) * time.Millisecond)))
			if kind != "" {
				ev.Attributes().PutStr("step.kind", kind)
				ev.Attributes().PutStr("run.id", "r1")
			}
		}
		if i == 1 {
			other := rs.ScopeSpans().At(0).Spans().AppendEmpty()
			other.SetTraceID(pcommon.TraceID{9})
			other.SetSpanID(pcommon.SpanID{9})
			ev := other.Events().AppendEmpty()
			ev.Attributes().PutStr("step.kind", "c")
			ev.Attributes().PutStr("run.id", "r2")
		}
	}
	return td
}

func carry(t *testing.T, cfg *Config, td ptrace.Traces) plog.Logs {
	t.Helper()
	sink := new(consumertest.LogsSink)
	c, err := NewFactory().CreateTracesToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, c.ConsumeTraces(context.Background(), td))
	if sink.LogRecordCount() == 0 {
		return plog.NewLogs()
	}
	require.Len(t, sink.AllLogs(), 1)
	return sink.AllLogs()[0]
}

// TestOneResourcePerRun: each run's records share one resource that holds
// only run.id (the Kafka partition key), whatever service sent them; the
// services stay in the scopes.
func TestOneResourcePerRun(t *testing.T) {
	out := carry(t, createDefaultConfig().(*Config), twoServices())
	require.Equal(t, 2, out.ResourceLogs().Len())
	r1 := out.ResourceLogs().At(0)
	assert.Equal(t, map[string]any{"run.id": "r1"}, r1.Resource().Attributes().AsRaw())
	assert.Equal(t, map[string]any{"run.id": "r2"}, out.ResourceLogs().At(1).Resource().Attributes().AsRaw())
	require.Equal(t, 2, r1.ScopeLogs().Len())
	for i, svc := range []string{"retriever", "generator"} {
		sl := r1.ScopeLogs().At(i)
		assert.Equal(t, stepcarry.SpanEvents, stepcarry.SourceOf(sl.Scope()))
		assert.Equal(t, map[string]any{"service.name": svc, "host.name": "h1", stepcarry.AttrSource: stepcarry.SourceSpanEvents},
			sl.Scope().Attributes().AsRaw())
		// Two steps (the event without step.kind is not carried) and the
		// span record.
		recs := sl.LogRecords()
		require.Equal(t, 3, recs.Len())
		for k, kind := range []string{"a", "b"} {
			lr := recs.At(k)
			v, _ := lr.Attributes().Get("step.kind")
			assert.Equal(t, kind, v.Str())
			name, index, ok := stepcarry.SpanEvent(lr.Body())
			assert.True(t, ok)
			assert.Equal(t, svc+".work", name)
			assert.Equal(t, uint32(k), index, "index among the span's step events")
			assert.Equal(t, "ev", lr.EventName())
		}
		assert.True(t, stepcarry.IsSpan(recs.At(2).Body()))
		assert.Equal(t, pcommon.NewTimestampFromTime(t0), recs.At(2).Timestamp())
	}
}

func TestNoSpanRecords(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.SpanRecords = false
	out := carry(t, cfg, twoServices())
	for _, rl := range out.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				assert.False(t, stepcarry.IsSpan(lr.Body()))
			}
		}
	}
	assert.Equal(t, 5, out.LogRecordCount())
}

// TestNothingToCarry: a batch without step events sends nothing on.
func TestNothingToCarry(t *testing.T) {
	td := ptrace.NewTraces()
	span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetTraceID(traceA)
	span.SetSpanID(pcommon.SpanID{1})
	span.Events().AppendEmpty().SetName("exception")
	assert.Equal(t, 0, carry(t, createDefaultConfig().(*Config), td).LogRecordCount())
}

// TestLogsRegrouped: step records keep their body and attributes, move to
// their run's resource (the record's run.id, else the resource's, else the
// trace's fallback), one scope per producer scope; others are dropped.
func TestLogsRegrouped(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "loader")
	rl.Resource().Attributes().PutStr("run.id", "res-run")
	for s := 0; s < 2; s++ {
		recs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for _, run := range []string{"", "own-run", "skip"} {
			lr := recs.AppendEmpty()
			lr.SetTraceID(traceA)
			lr.Body().SetStr("detail " + run)
			if run != "skip" {
				lr.Attributes().PutStr("step.kind", "load")
			}
			if run != "" {
				lr.Attributes().PutStr("run.id", run)
			}
		}
	}
	sink := new(consumertest.LogsSink)
	c, err := NewFactory().CreateLogsToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type), createDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, c.ConsumeLogs(context.Background(), ld))
	out := sink.AllLogs()[0]
	require.Equal(t, 2, out.ResourceLogs().Len())
	for i, run := range []string{"res-run", "own-run"} {
		got := out.ResourceLogs().At(i)
		assert.Equal(t, map[string]any{"run.id": run}, got.Resource().Attributes().AsRaw())
		require.Equal(t, 2, got.ScopeLogs().Len(), "one scope per producer scope")
		for _, sl := range got.ScopeLogs().All() {
			assert.Equal(t, stepcarry.LogRecords, stepcarry.SourceOf(sl.Scope()))
			v, _ := sl.Scope().Attributes().Get("service.name")
			assert.Equal(t, "loader", v.Str())
			require.Equal(t, 1, sl.LogRecords().Len())
			assert.Equal(t, "detail "+map[string]string{"res-run": "", "own-run": "own-run"}[run], sl.LogRecords().At(0).Body().Str())
		}
	}
}

// TestNextErrorReturned: a failing next consumer (a full Kafka queue)
// fails the call, so the pipeline before retries or refuses the data.
func TestNextErrorReturned(t *testing.T) {
	c, err := NewFactory().CreateTracesToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type),
		createDefaultConfig(), consumertest.NewErr(assert.AnError))
	require.NoError(t, err)
	require.ErrorIs(t, c.ConsumeTraces(context.Background(), twoServices()), assert.AnError)
}

// TestOversizedEventDropped: a step event over max_event_bytes is not
// carried (it would fail its whole Kafka message) but counted, logged
// once; the events after it keep their index in the span.
func TestOversizedEventDropped(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	core, logs := observer.New(zapcore.WarnLevel)
	set := connectortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.Logger = zap.New(core)
	sink := new(consumertest.LogsSink)
	cfg := &Config{SpanRecords: false, MaxEventBytes: 1024}
	c, err := NewFactory().CreateTracesToLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)

	td := ptrace.NewTraces()
	span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetTraceID(traceA)
	span.SetSpanID(pcommon.SpanID{1})
	for i := range 3 {
		a := span.Events().AppendEmpty().Attributes()
		a.PutStr("step.kind", "k")
		a.PutStr("run.id", "r")
		if i == 1 {
			a.PutEmptyMap("nested").PutEmptySlice("list").AppendEmpty().SetStr(strings.Repeat("x", 2000))
		}
	}
	for range 2 {
		require.NoError(t, c.ConsumeTraces(context.Background(), td))
	}
	recs := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	require.Equal(t, 2, recs.Len())
	for k, want := range []uint32{0, 2} {
		_, index, _ := stepcarry.SpanEvent(recs.At(k).Body())
		assert.Equal(t, want, index)
	}
	m, err := tel.GetMetric("otelcol_connector_steplogs_events_dropped")
	require.NoError(t, err)
	assert.Equal(t, int64(2), m.Data.(metricdata.Sum[int64]).DataPoints[0].Value)
	assert.Equal(t, 1, logs.Len(), "logged once")
}
