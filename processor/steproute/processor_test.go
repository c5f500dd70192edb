package steproute

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func waitConfig(wait time.Duration, mod func(*Config)) *Config {
	return testConfig(func(c *Config) {
		c.ResolveWait = wait
		if mod != nil {
			mod(c)
		}
	})
}

func telemetrySettings(t *testing.T) (*componenttest.Telemetry, func(name string, attrs ...attribute.KeyValue) int64) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	return tel, func(name string, attrs ...attribute.KeyValue) int64 {
		m, err := tel.GetMetric("otelcol_processor_steproute_" + name)
		if err != nil {
			return 0
		}
		sum, ok := m.Data.(metricdata.Sum[int64])
		require.True(t, ok, name)
		var total int64
	points:
		for _, dp := range sum.DataPoints {
			for _, kv := range attrs {
				if v, ok := dp.Attributes.Value(kv.Key); !ok || v != kv.Value {
					continue points
				}
			}
			total += dp.Value
		}
		return total
	}
}

func step(kind string) map[string]any { return map[string]any{"step.kind": kind, "step.status": "ok"} }

func TestRootSpanInLaterBatchReleasesHeldChildren(t *testing.T) {
	tel, counter := telemetrySettings(t)
	set := nopSettings()
	set.TelemetrySettings = tel.NewTelemetrySettings()
	p := newPipelines(t, waitConfig(time.Hour, nil), set)
	ctx := context.Background()
	res := map[string]any{"service.name": "retriever"}
	t1, t2 := traceID(1), traceID(2)

	// SDKs export children first: no run id anywhere yet.
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, res,
		spanSpec{trace: t1, id: 2, name: "embed", events: []map[string]any{step("embed.vllm"), step("embed.done")}},
	)))
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, res,
		spanSpec{trace: t1, id: 3, name: "search", events: []map[string]any{step("ann.faiss.search")}},
		spanSpec{trace: t2, id: 9, name: "other", attrs: map[string]any{"run.id": "r-other"}, events: []map[string]any{step("x")}},
	)))
	assert.Equal(t, []string{"x"}, kinds(spanEvents(p.tsink)), "only the resolved trace passes; t1 is held")
	assert.Equal(t, int64(3), counter("events_held"))

	// The root span brings the run id (it carries a step too).
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, res,
		spanSpec{trace: t1, id: 1, name: "root", attrs: map[string]any{"run.id": "r-1"}, events: []map[string]any{step("run.end")}},
	)))
	got := spanEvents(p.tsink)
	assert.Equal(t, []string{"x", "embed.vllm", "embed.done", "ann.faiss.search", "run.end"}, kinds(got), "released in arrival order, before the root batch")
	for _, e := range got[1:] {
		assert.Equal(t, "r-1", e["run.id"])
	}
	// Held spans keep their resource, scope and span, and go out in one
	// request with the root's batch (one ledger write per run).
	all := p.tsink.AllTraces()
	require.Len(t, all, 2)
	assert.Equal(t, 3, all[1].ResourceSpans().Len(), "two held payloads and the root's batch")
	held := all[1].ResourceSpans().At(0)
	sn, _ := held.Resource().Attributes().Get("service.name")
	assert.Equal(t, "retriever", sn.Str())
	assert.Equal(t, "embed", held.ScopeSpans().At(0).Spans().At(0).Name())

	assert.Equal(t, int64(3), counter("events_released"))
	assert.Equal(t, int64(3), counter("run_ids_resolved", attribute.String("source", "wait")))
	assert.Equal(t, int64(2), counter("run_ids_resolved", attribute.String("source", "span")))
	assert.Equal(t, int64(5), counter("step_events_accepted"))
	assert.Zero(t, counter("events_timed_out"))
}

func TestHeldLogRecordsReleasedByLogRecord(t *testing.T) {
	p := newPipelines(t, waitConfig(time.Hour, nil), nopSettings())
	ctx := context.Background()
	t1 := traceID(1)
	require.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, nil,
		recordSpec{trace: t1, id: 2, attrs: step("embed.vllm")},
		recordSpec{trace: t1, id: 2, eventName: "step.embed.done"},
	)))
	assert.Zero(t, p.lsink.LogRecordCount())
	// A plain (noise) log record of the trace brings the run id.
	require.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, nil,
		recordSpec{trace: t1, id: 1, attrs: map[string]any{"run.id": "r-1", "msg": "request"}},
	)))
	got := logRecords(p.lsink)
	assert.Equal(t, []string{"embed.vllm", "embed.done"}, kinds(got))
	for _, e := range got {
		assert.Equal(t, "r-1", e["run.id"])
		assert.NoError(t, checkNormalised(e, waitConfig(time.Hour, nil)))
	}
}

func TestHeldDataReleasedAcrossSignals(t *testing.T) {
	p := newPipelines(t, waitConfig(time.Hour, nil), nopSettings())
	ctx := context.Background()
	t1, t2 := traceID(1), traceID(2)
	// Log events held, released by a span of the same trace.
	require.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, nil, recordSpec{trace: t1, attrs: step("embed.vllm")})))
	assert.Zero(t, p.lsink.LogRecordCount())
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: t1, id: 1, attrs: map[string]any{"run.id": "r-1"}},
	)))
	assert.Zero(t, p.tsink.SpanCount(), "the root span itself is noise")
	got := logRecords(p.lsink)
	require.Len(t, got, 1)
	assert.Equal(t, "r-1", got[0]["run.id"])

	// Span events held, released by a log record of the same trace.
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: t2, id: 2, events: []map[string]any{step("git.blame")}},
	)))
	assert.Zero(t, p.tsink.SpanCount())
	require.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, map[string]any{"run.id": "r-2"},
		recordSpec{trace: t2, attrs: map[string]any{"msg": "hello"}},
	)))
	ev := spanEvents(p.tsink)
	require.Len(t, ev, 1)
	assert.Equal(t, "r-2", ev[0]["run.id"])
}

func TestTraceMemorySharedBetweenTracesAndLogs(t *testing.T) {
	tel, counter := telemetrySettings(t)
	set := nopSettings()
	set.TelemetrySettings = tel.NewTelemetrySettings()
	p := newPipelines(t, testConfig(nil), set) // no waiting: the memory alone resolves
	ctx := context.Background()
	t1, t2 := traceID(1), traceID(2)

	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: t1, id: 1, attrs: map[string]any{"run.id": "r-1"}}, // noise span, dropped, but remembered
	)))
	require.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, nil, recordSpec{trace: t1, attrs: step("embed.vllm")})))
	got := logRecords(p.lsink)
	require.Len(t, got, 1)
	assert.Equal(t, "r-1", got[0]["run.id"])

	require.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, nil, recordSpec{trace: t2, attrs: map[string]any{"run.id": "r-2"}})))
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: t2, id: 2, events: []map[string]any{step("git.blame")}})))
	ev := spanEvents(p.tsink)
	require.Len(t, ev, 1)
	assert.Equal(t, "r-2", ev[0]["run.id"])
	assert.Equal(t, int64(2), counter("run_ids_resolved", attribute.String("source", "trace_cache")))
	assert.Equal(t, int64(2), counter("noise_dropped"), "the root span and the plain log record")
}

func TestRunIDOnLaterEventOfSameBatch(t *testing.T) {
	for _, wait := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprint("wait=", wait), func(t *testing.T) {
			p := newPipelines(t, waitConfig(wait, nil), nopSettings())
			ev2 := step("b")
			ev2["run.id"] = "r-ev"
			require.NoError(t, p.traces.ConsumeTraces(context.Background(), buildTraces(t, nil,
				spanSpec{trace: traceID(1), id: 1, events: []map[string]any{step("a")}},
				spanSpec{trace: traceID(1), id: 2, events: []map[string]any{ev2}},
			)))
			got := spanEvents(p.tsink)
			require.Len(t, got, 2)
			for _, e := range got {
				assert.Equal(t, "r-ev", e["run.id"])
			}
		})
	}
}

func TestTimeoutSendsWithFallback(t *testing.T) {
	tel, counter := telemetrySettings(t)
	set := nopSettings()
	set.TelemetrySettings = tel.NewTelemetrySettings()
	p := newPipelines(t, waitConfig(50*time.Millisecond, nil), set)
	ctx := context.Background()
	start := time.Now()
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: traceID(1), id: 1, events: []map[string]any{step("a"), step("b")}},
	)))
	require.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, nil, recordSpec{trace: traceID(1), attrs: step("c")})))
	assert.Zero(t, p.tsink.SpanCount())
	require.Eventually(t, func() bool { return p.tsink.SpanCount() == 1 && p.lsink.LogRecordCount() == 1 },
		5*time.Second, 5*time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	for _, e := range append(spanEvents(p.tsink), logRecords(p.lsink)...) {
		assert.Equal(t, fallbackT1, e["run.id"])
	}
	assert.Equal(t, int64(3), counter("events_timed_out", attribute.String("reason", "timeout")))
	assert.Equal(t, int64(3), counter("run_ids_resolved", attribute.String("source", "fallback")))

	// The run id arriving after the timeout resolves later events directly.
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: traceID(1), id: 9, attrs: map[string]any{"run.id": "r-late"}})))
	require.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, nil, recordSpec{trace: traceID(1), attrs: step("d")})))
	got := logRecords(p.lsink)
	require.Len(t, got, 2)
	assert.Equal(t, "r-late", got[1]["run.id"])
}

func TestBufferPressureSendsOldestWithFallback(t *testing.T) {
	tel, counter := telemetrySettings(t)
	set := nopSettings()
	set.TelemetrySettings = tel.NewTelemetrySettings()
	p := newPipelines(t, waitConfig(time.Hour, func(c *Config) { c.ResolveWaitMaxEvents = 3 }), set)
	ctx := context.Background()
	tA, tB, tC := traceID(1), traceID(2), traceID(3)

	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: tA, id: 1, events: []map[string]any{step("a1"), step("a2")}})))
	require.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, nil, recordSpec{trace: tB, attrs: step("b1")})))
	assert.Zero(t, p.tsink.SpanCount()+p.lsink.LogRecordCount(), "3 events fit")

	// Two more events push the oldest (trace A) out with the fallback id.
	require.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, nil,
		recordSpec{trace: tC, attrs: step("c1")}, recordSpec{trace: tC, attrs: step("c2")})))
	got := spanEvents(p.tsink)
	assert.Equal(t, []string{"a1", "a2"}, kinds(got))
	assert.Equal(t, fallbackT1, got[0]["run.id"])
	assert.Zero(t, p.lsink.LogRecordCount())

	// A batch bigger than the whole buffer is not held at all.
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: traceID(4), id: 4,
		events: []map[string]any{step("d1"), step("d2"), step("d3"), step("d4")}})))
	assert.Equal(t, 2, p.tsink.SpanCount())

	// B and C are still held and resolve normally.
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: tB, id: 1, attrs: map[string]any{"run.id": "r-b"}},
		spanSpec{trace: tC, id: 1, attrs: map[string]any{"run.id": "r-c"}})))
	logs := logRecords(p.lsink)
	assert.Equal(t, []string{"b1", "c1", "c2"}, kinds(logs))
	assert.Equal(t, []any{"r-b", "r-c", "r-c"}, []any{logs[0]["run.id"], logs[1]["run.id"], logs[2]["run.id"]})
	assert.Equal(t, int64(6), counter("events_timed_out", attribute.String("reason", "pressure")))
	assert.Equal(t, int64(3), counter("events_released"))
}

func TestShutdownFlushesHeldEvents(t *testing.T) {
	p := newPipelines(t, waitConfig(time.Hour, func(c *Config) {
		c.Fallback, c.FallbackRunID, c.HoldOnShutdown = FallbackFixed, "orphans", HoldOnShutdownFallback
	}), nopSettings())
	ctx := context.Background()
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: traceID(1), id: 1, events: []map[string]any{step("a")}})))
	require.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, nil, recordSpec{trace: traceID(2), attrs: step("b")})))
	assert.Zero(t, p.tsink.SpanCount()+p.lsink.LogRecordCount())

	// The core is shared: the first pipeline to stop keeps it running for
	// the other; the last one flushes everything held, with the fallback id.
	require.NoError(t, p.logs.Shutdown(ctx))
	assert.Zero(t, p.tsink.SpanCount()+p.lsink.LogRecordCount())
	require.NoError(t, p.traces.Shutdown(ctx))
	require.Len(t, spanEvents(p.tsink), 1)
	require.Len(t, logRecords(p.lsink), 1)
	assert.Equal(t, "orphans", spanEvents(p.tsink)[0]["run.id"])
	assert.Equal(t, "orphans", logRecords(p.lsink)[0]["run.id"])

	// After shutdown nothing is held any more: data still passes.
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: traceID(3), id: 1, events: []map[string]any{step("c")}})))
	assert.Len(t, spanEvents(p.tsink), 2)
}

func TestHeldSendErrorIsLoggedNotReturned(t *testing.T) {
	cfg := waitConfig(time.Hour, nil)
	f := NewFactory()
	ctx := context.Background()
	tp, err := f.CreateTraces(ctx, nopSettings(), cfg, consumertest.NewErr(errors.New("exporter down")))
	require.NoError(t, err)
	require.NoError(t, tp.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, tp.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: traceID(1), id: 1, events: []map[string]any{step("a")}})),
		"held data is acknowledged on receipt")
	err = tp.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: traceID(1), id: 2, attrs: map[string]any{"run.id": "r"}}))
	require.NoError(t, err, "the releasing batch is all noise, its own result is skip")
	require.NoError(t, tp.Shutdown(ctx))
}

func TestFilteringAndEmptyContainers(t *testing.T) {
	p := newPipelines(t, testConfig(nil), nopSettings())
	ctx := context.Background()
	td := ptrace.NewTraces()
	// Resource 1: only noise.
	rs := td.ResourceSpans().AppendEmpty()
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(traceID(1))
	sp.Events().AppendEmpty().SetName("exception")
	// Resource 2: an empty scope, and a span mixing step and noise events.
	rs2 := td.ResourceSpans().AppendEmpty()
	rs2.ScopeSpans().AppendEmpty()
	ss := rs2.ScopeSpans().AppendEmpty()
	sp2 := ss.Spans().AppendEmpty()
	sp2.SetTraceID(traceID(2))
	sp2.Attributes().PutStr("run.id", "r-2")
	sp2.Events().AppendEmpty().SetName("log")
	putAll(t, sp2.Events().AppendEmpty().Attributes(), step("a"))
	sp2.Events().AppendEmpty().Attributes().PutStr("step.kind", "")
	putAll(t, sp2.Events().AppendEmpty().Attributes(), step("b"))

	require.NoError(t, p.traces.ConsumeTraces(ctx, td))
	require.Len(t, p.tsink.AllTraces(), 1)
	out := p.tsink.AllTraces()[0]
	require.Equal(t, 1, out.ResourceSpans().Len())
	require.Equal(t, 1, out.ResourceSpans().At(0).ScopeSpans().Len())
	assert.Equal(t, []string{"a", "b"}, kinds(spanEvents(p.tsink)))

	// An all-noise batch sends nothing on.
	p.tsink.Reset()
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: traceID(1), id: 1})))
	assert.Empty(t, p.tsink.AllTraces())
	require.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, nil, recordSpec{trace: traceID(1), body: "GET /"})))
	assert.Empty(t, p.lsink.AllLogs())
}

func TestKeepNonStepPassesEverything(t *testing.T) {
	p := newPipelines(t, testConfig(func(c *Config) { c.KeepNonStep = true }), nopSettings())
	ctx := context.Background()
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, map[string]any{"run.id": "r"},
		spanSpec{trace: traceID(1), id: 1, events: []map[string]any{{"exception.message": "x"}, {"step.kind": "a"}}},
		spanSpec{trace: traceID(1), id: 2},
	)))
	assert.Equal(t, 2, p.tsink.SpanCount())
	got := spanEvents(p.tsink)
	assert.Equal(t, []map[string]any{
		{"exception.message": "x"},
		{"step.kind": "a", "step.status": "ok", "run.id": "r"},
	}, got)
	require.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, nil, recordSpec{body: "GET /"}, recordSpec{attrs: step("b")})))
	assert.Equal(t, 2, p.lsink.LogRecordCount())
}

func TestNormalizationFixesCounted(t *testing.T) {
	tel, counter := telemetrySettings(t)
	set := nopSettings()
	set.TelemetrySettings = tel.NewTelemetrySettings()
	p := newPipelines(t, testConfig(func(c *Config) { c.MaxDetailBytes = 2 }), set)
	require.NoError(t, p.traces.ConsumeTraces(context.Background(), buildTraces(t, nil, spanSpec{trace: traceID(1), id: 1,
		events: []map[string]any{
			{"step.kind": "a", "step.status": "weird", "step.detail": "long", "step.size.x": "nope", "k\xff": 1},
			{"step.kind": "b"},
		}})))
	fix := func(name string) int64 { return counter("normalization_fixes", attribute.String("fix", name)) }
	assert.Equal(t, int64(1), fix("status_unknown"))
	assert.Equal(t, int64(1), fix("status_default"))
	assert.Equal(t, int64(1), fix("detail_truncated"))
	assert.Equal(t, int64(1), fix("size_dropped"))
	assert.Equal(t, int64(1), fix("invalid_utf8"))
	assert.Equal(t, int64(2), counter("run_ids_resolved", attribute.String("source", "fallback")))
}

func TestCacheEvictionsCounted(t *testing.T) {
	tel, counter := telemetrySettings(t)
	set := nopSettings()
	set.TelemetrySettings = tel.NewTelemetrySettings()
	p := newPipelines(t, testConfig(func(c *Config) { c.TraceCacheSize = 2 }), set)
	for i := range 5 {
		require.NoError(t, p.traces.ConsumeTraces(context.Background(), buildTraces(t, nil,
			spanSpec{trace: traceID(byte(i + 1)), id: 1, attrs: map[string]any{"run.id": "r"}})))
	}
	assert.Equal(t, int64(3), counter("trace_cache_evictions", attribute.String("reason", "size")))
}

// TestConcurrentSignals runs traces and logs of many traces at once, each
// trace sending held children before its root, and checks every event
// arrives once with its run id.
func TestConcurrentSignals(t *testing.T) {
	p := newPipelines(t, waitConfig(time.Hour, nil), nopSettings())
	ctx := context.Background()
	const traces = 40
	var wg sync.WaitGroup
	for i := range traces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tid := pcommon.TraceID{byte(i), 1}
			run := fmt.Sprint("r-", i)
			assert.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: tid, id: 2, events: []map[string]any{step("a"), step("b")}})))
			assert.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, nil, recordSpec{trace: tid, attrs: step("c")})))
			if i%2 == 0 {
				assert.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: tid, id: 1, attrs: map[string]any{"run.id": run}})))
			} else {
				assert.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, map[string]any{"run.id": run}, recordSpec{trace: tid, body: "root"})))
			}
		}()
	}
	wg.Wait()
	got := append(spanEvents(p.tsink), logRecords(p.lsink)...)
	require.Len(t, got, traces*3)
	perRun := map[string]int{}
	for _, e := range got {
		perRun[e["run.id"].(string)]++
	}
	for i := range traces {
		assert.Equal(t, 3, perRun[fmt.Sprint("r-", i)], i)
	}
}

func TestManyHeldTracesUnderPressure(t *testing.T) {
	p := newPipelines(t, waitConfig(time.Hour, func(c *Config) { c.ResolveWaitMaxEvents = 10 }), nopSettings())
	ctx := context.Background()
	const n = 3000
	for i := range n {
		tid := pcommon.TraceID{byte(i >> 8), byte(i), 9}
		require.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, nil, recordSpec{trace: tid, attrs: step(fmt.Sprint("k", i))})))
	}
	assert.Equal(t, n-10, p.lsink.LogRecordCount(), "all but the newest 10 went out with the fallback id")
	var roots []recordSpec
	for i := n - 10; i < n; i++ {
		roots = append(roots, recordSpec{trace: pcommon.TraceID{byte(i >> 8), byte(i), 9}, attrs: map[string]any{"run.id": "r"}})
	}
	require.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, nil, roots...)))
	got := logRecords(p.lsink)
	require.Len(t, got, n)
	for i, e := range got {
		assert.Equal(t, fmt.Sprint("k", i), e["step.kind"], "arrival order")
	}
	for _, e := range got[n-10:] {
		assert.Equal(t, "r", e["run.id"])
	}
}

// When held events go out with a batch of the client's own step events and
// the next consumer fails, the client gets the error (to retry its own
// events) and the held ones, acknowledged earlier, stay in the hold log.
func TestHeldSentWithOwnBatchErrorIsReturnedAndLogged(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	set := nopSettings()
	set.Logger = zap.New(core)
	ctx := context.Background()
	tp, err := NewFactory().CreateTraces(ctx, set, waitConfig(time.Hour, nil), consumertest.NewErr(errors.New("exporter down")))
	require.NoError(t, err)
	require.NoError(t, tp.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, tp.Shutdown(ctx)) }()
	require.NoError(t, tp.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: traceID(1), id: 2, events: []map[string]any{step("a"), step("b")}})))
	err = tp.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: traceID(1), id: 1, attrs: map[string]any{"run.id": "r"}, events: []map[string]any{step("run.end")}}))
	require.ErrorContains(t, err, "exporter down")
	lost := logs.FilterMessageSnippet("stay in the hold log").All()
	require.Len(t, lost, 1)
	assert.Equal(t, int64(2), lost[0].ContextMap()["events"])
	assert.Equal(t, "r", lost[0].ContextMap()["run_id"])
}

// gateSink is a traces consumer that blocks every call until released and
// records the most calls it had at once.
type gateSink struct {
	gate          chan struct{}
	mu            sync.Mutex
	now, max, all int
}

func (g *gateSink) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

func (g *gateSink) ConsumeTraces(context.Context, ptrace.Traces) error {
	g.mu.Lock()
	g.now++
	g.all++
	g.max = max(g.max, g.now)
	g.mu.Unlock()
	<-g.gate
	g.mu.Lock()
	g.now--
	g.mu.Unlock()
	return nil
}

// holdChildren sends, for traces 1 to n, a child span with a step event and
// no run id: held.
func holdChildren(t *testing.T, tp processor.Traces, n int) {
	t.Helper()
	for i := range n {
		require.NoError(t, tp.ConsumeTraces(context.Background(), buildTraces(t, nil,
			spanSpec{trace: traceID(byte(i + 1)), id: 2, events: []map[string]any{step("a")}})))
	}
}

// resolveConcurrently sends the root spans of traces 1 to n (run ids
// r-0 ...), each from its own goroutine, and returns a function waiting for
// them all.
func resolveConcurrently(t *testing.T, tp processor.Traces, n int) (wait func()) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, tp.ConsumeTraces(context.Background(), buildTraces(t, nil,
				spanSpec{trace: traceID(byte(i + 1)), id: 1, attrs: map[string]any{"run.id": fmt.Sprintf("r-%d", i)}, events: []map[string]any{step("run.end")}})))
		}()
	}
	return wg.Wait
}

// Calls that release held data pass it on a few at a time (the rest wait
// with their held data still compacted), and every one gets through.
func TestReleasingCallsAreBounded(t *testing.T) {
	ctx := context.Background()
	sink := &gateSink{gate: make(chan struct{})}
	tp, err := NewFactory().CreateTraces(ctx, nopSettings(), waitConfig(time.Hour, nil), sink)
	require.NoError(t, err)
	require.NoError(t, tp.Start(ctx, componenttest.NewNopHost()))
	const calls = 40
	holdChildren(t, tp, calls)
	wait := resolveConcurrently(t, tp, calls)
	slots := max(2, 2*runtime.GOMAXPROCS(0))
	require.Eventually(t, func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return sink.now == slots
	}, 5*time.Second, time.Millisecond, "calls did not reach the slot bound")
	time.Sleep(20 * time.Millisecond) // let any call that would pass the bound arrive
	close(sink.gate)
	wait()
	require.NoError(t, tp.Shutdown(ctx))
	assert.Equal(t, slots, sink.max, "calls passing held data on at once")
	assert.Equal(t, calls, sink.all, "every release got through")
}

// A pipeline routed back into the same steproute (through a connector) does
// not wait for a releasing slot its caller holds: calls that release held
// data and pass it to the component again all complete.
func TestNestedReleasingCallsDoNotDeadlock(t *testing.T) {
	ctx := context.Background()
	f := NewFactory()
	cfg := waitConfig(time.Hour, nil)
	sink := new(consumertest.TracesSink)
	inner, err := f.CreateTraces(ctx, nopSettings(), cfg, sink)
	require.NoError(t, err)
	// The connector waits until as many calls as there are slots reach it,
	// all holding theirs, before passing them on.
	slots := max(2, 2*runtime.GOMAXPROCS(0))
	var arrived atomic.Int32
	all := make(chan struct{})
	connector, err := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		if n := arrived.Add(1); int(n) == slots {
			close(all)
		}
		<-all
		return inner.ConsumeTraces(ctx, td)
	})
	require.NoError(t, err)
	outer, err := f.CreateTraces(ctx, nopSettings(), cfg, connector)
	require.NoError(t, err)
	require.NoError(t, outer.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, inner.Start(ctx, componenttest.NewNopHost()))
	defer func() {
		require.NoError(t, outer.Shutdown(ctx))
		require.NoError(t, inner.Shutdown(ctx))
	}()
	// Traces held for ever keep the hold active, so every call that learns
	// a run id, the inner ones included, releases.
	require.NoError(t, outer.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: traceID(200), id: 2, events: []map[string]any{step("x")}})))
	calls := 4 * slots
	holdChildren(t, outer, calls)
	wait := resolveConcurrently(t, outer, calls)
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("releasing calls routed back into the component deadlocked")
	}
	assert.Equal(t, 2*calls, sink.SpanCount(), "every held and resolving span passed on")
}

// A held span with many step events (more than 32, the width of the
// per-span mask steproute once used) gets the run id on every one of them
// when it is released.
func TestHeldSpanWithManyStepEventsReleasedWhole(t *testing.T) {
	p := newPipelines(t, waitConfig(time.Hour, nil), nopSettings())
	ctx := context.Background()
	var evs []map[string]any
	for i := range 40 {
		e := step(fmt.Sprintf("stage.k%02d", i))
		if i == 3 {
			e["note"] = "not a step" // a non-step event among them is dropped
			delete(e, "step.kind")
		}
		evs = append(evs, e)
	}
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: traceID(1), id: 2, events: evs})))
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: traceID(1), id: 1, attrs: map[string]any{"run.id": "r-many"}})))
	got := spanEvents(p.tsink)
	require.Len(t, got, 39)
	for i, e := range got {
		assert.Equal(t, "r-many", e["run.id"], "event %d (%v)", i, e["step.kind"])
	}
}
