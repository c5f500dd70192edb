package steproute

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// keptSpans returns the names of the spans that reached the sink, with the
// run.id each carries ("" for none) and its number of events.
func keptSpans(td []ptrace.Traces) map[string][2]any {
	out := map[string][2]any{}
	for _, t := range td {
		forEachSpan(t, func(s ptrace.Span) {
			run := ""
			if v, ok := s.Attributes().Get("run.id"); ok {
				run = v.Str()
			}
			out[s.Name()] = [2]any{run, s.Events().Len()}
		})
	}
	return out
}

// Spans without step events are kept when they are ancestors of spans that
// carried steps (arriving after them, as SDKs export children first), with
// the run id they resolve to; other spans stay dropped, and an ancestor
// whose run id is unknown on arrival is dropped and counted.
func TestAncestorSpansKept(t *testing.T) {
	tel, metric := telemetrySettings(t)
	set := nopSettings()
	set.TelemetrySettings = tel.NewTelemetrySettings()
	p := newPipelines(t, testConfig(nil), set)
	ctx := context.Background()
	tr, other := traceID(1), traceID(2)

	// A stage span with steps (child of 2), then its parent 2 (child of 1)
	// and an unrelated noise span, then the root 1 naming the run.
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: tr, id: 3, name: "ann.search", parent: 2, events: []map[string]any{runStep("ann.faiss.search", "r-1")}})))
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: tr, id: 2, name: "retrieve", parent: 1},
		spanSpec{trace: tr, id: 9, name: "noise", parent: 1})))
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: tr, id: 1, name: "handle", attrs: map[string]any{"run.id": "r-1"}})))
	// In another trace, a wanted parent arrives before anything names its
	// run: without a hold (resolve_wait 0) it takes the fallback, as the
	// steps of its trace do.
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: other, id: 5, name: "child", parent: 4, events: []map[string]any{step("embed.vllm")}})))
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: other, id: 4, name: "orphan-parent"})))

	got := keptSpans(p.tsink.AllTraces())
	require.Equal(t, [2]any{"", 1}, got["ann.search"], "the stage span keeps its step (run id on the event)")
	require.Equal(t, [2]any{"r-1", 0}, got["retrieve"], "the parent, resolved through the trace's memory")
	require.Equal(t, [2]any{"r-1", 0}, got["handle"], "the root")
	require.NotContains(t, got, "noise")
	require.Equal(t, [2]any{"trace-abcd0000000000000000000000000002", 0}, got["orphan-parent"])
	require.EqualValues(t, 3, metric("ancestor_spans"))
}

// With the hold, an ancestor that arrives before its trace's run id waits
// with the trace's steps and is passed on with the run id the root brings.
func TestAncestorSpanHeldUntilRoot(t *testing.T) {
	p := newPipelines(t, testConfig(func(c *Config) { c.ResolveWait = time.Minute }), nopSettings())
	ctx := context.Background()
	tr := traceID(7)
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: tr, id: 3, name: "stage", parent: 2, events: []map[string]any{step("ann.faiss.search")}})))
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: tr, id: 2, name: "middle", parent: 1})))
	require.Empty(t, keptSpans(p.tsink.AllTraces()), "stage and middle wait for the run id")
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: tr, id: 1, name: "root", attrs: map[string]any{"run.id": "r-late"}})))
	got := keptSpans(p.tsink.AllTraces())
	require.Equal(t, [2]any{"r-late", 0}, got["middle"])
	require.Equal(t, [2]any{"r-late", 0}, got["root"])
	require.Equal(t, [2]any{"", 1}, got["stage"])
}

// A log-based step event makes its span wanted: the span, arriving on the
// traces pipeline of the same component, is kept for the run's ledger.
func TestLogStepSpanKept(t *testing.T) {
	p := newPipelines(t, testConfig(nil), nopSettings())
	ctx := context.Background()
	require.NoError(t, p.logs.ConsumeLogs(ctx, buildLogs(t, map[string]any{"run.id": "r-log"},
		recordSpec{trace: traceID(3), id: 7, attrs: step("hydrate.duckdb")})))
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: traceID(3), id: 7, name: "hydrate", parent: 6})))
	require.Equal(t, [2]any{"r-log", 0}, keptSpans(p.tsink.AllTraces())["hydrate"])
}

// With ancestor_span_memory 0 no span without steps is kept.
func TestAncestorSpansOff(t *testing.T) {
	p := newPipelines(t, testConfig(func(c *Config) { c.AncestorSpanMemory = 0 }), nopSettings())
	ctx := context.Background()
	require.NoError(t, p.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: traceID(1), id: 3, name: "stage", parent: 2, events: []map[string]any{runStep("a.b", "r")}},
		spanSpec{trace: traceID(1), id: 2, name: "parent", attrs: map[string]any{"run.id": "r"}})))
	require.NotContains(t, keptSpans(p.tsink.AllTraces()), "parent")
}

func runStep(kind, run string) map[string]any {
	m := step(kind)
	m["run.id"] = run
	return m
}

// Within one batch a parent may come before its step-carrying child.
func TestAncestorBeforeChildInOneBatch(t *testing.T) {
	p := newPipelines(t, testConfig(nil), nopSettings())
	require.NoError(t, p.traces.ConsumeTraces(context.Background(), buildTraces(t, nil,
		spanSpec{trace: traceID(1), id: 1, name: "root", attrs: map[string]any{"run.id": "r"}},
		spanSpec{trace: traceID(1), id: 2, name: "stage", parent: 1, events: []map[string]any{step("a.b")}})))
	got := keptSpans(p.tsink.AllTraces())
	require.Equal(t, [2]any{"r", 0}, got["root"])
	require.Equal(t, [2]any{"", 1}, got["stage"])
}
