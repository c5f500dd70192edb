package steproute

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
)

// Held step events survive a stop of the collector in the hold log (the
// default, hold_on_shutdown: keep) and go to their own run when its id
// arrives after the restart, each exactly once.
func TestHeldEventsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := waitConfig(time.Hour, func(c *Config) { c.HoldDirectory = dir })
	ctx := context.Background()

	first := newPipelines(t, cfg, nopSettings())
	require.NoError(t, first.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: traceID(1), id: 2, events: []map[string]any{step("a"), step("b")}})))
	require.NoError(t, first.logs.ConsumeLogs(ctx, buildLogs(t, nil, recordSpec{trace: traceID(1), attrs: step("c")})))
	require.NoError(t, first.traces.Shutdown(ctx))
	require.NoError(t, first.logs.Shutdown(ctx))
	assert.Zero(t, first.tsink.SpanCount()+first.lsink.LogRecordCount(), "nothing goes out with the fallback id on shutdown")
	segs, _ := filepath.Glob(filepath.Join(dir, "*.hold"))
	require.NotEmpty(t, segs, "held events are in the hold log")

	second := newPipelines(t, cfg, nopSettings())
	require.NoError(t, second.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: traceID(1), id: 1, attrs: map[string]any{"run.id": "r-late"}})))
	evs := spanEvents(second.tsink)
	require.Len(t, evs, 2)
	assert.Equal(t, []string{"a", "b"}, kinds(evs))
	for _, e := range evs {
		assert.Equal(t, "r-late", e["run.id"])
	}
	recs := logRecords(second.lsink)
	require.Len(t, recs, 1)
	assert.Equal(t, "r-late", recs[0]["run.id"])
	require.NoError(t, second.traces.Shutdown(ctx))
	require.NoError(t, second.logs.Shutdown(ctx))
	segs, _ = filepath.Glob(filepath.Join(dir, "*.hold"))
	assert.Empty(t, segs, "nothing left in the hold log once everything was released")

	// A third start replays nothing: released entries were tombstoned.
	third := newPipelines(t, cfg, nopSettings())
	require.NoError(t, third.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: traceID(1), id: 1, attrs: map[string]any{"run.id": "r-late"}})))
	assert.Zero(t, third.tsink.SpanCount())
}

// A replayed entry's wait is measured from its first arrival: one whose
// wait ran out while the collector was down goes to the fallback run at
// start.
func TestReplayedEntryTimesOutFromArrival(t *testing.T) {
	dir := t.TempDir()
	cfg := waitConfig(200*time.Millisecond, func(c *Config) { c.HoldDirectory = dir })
	ctx := context.Background()
	first := newPipelines(t, cfg, nopSettings())
	require.NoError(t, first.traces.ConsumeTraces(ctx, buildTraces(t, nil,
		spanSpec{trace: traceID(1), id: 2, events: []map[string]any{step("a")}})))
	require.NoError(t, first.traces.Shutdown(ctx))
	require.NoError(t, first.logs.Shutdown(ctx))
	time.Sleep(300 * time.Millisecond)

	second := newPipelines(t, cfg, nopSettings())
	require.Eventually(t, func() bool { return second.tsink.SpanCount() == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, fallbackT1, spanEvents(second.tsink)[0]["run.id"])
}

// A hold log that cannot be written refuses the call with an error the
// client retries, and passes nothing on.
func TestHoldWriteFailureRefusesCall(t *testing.T) {
	dir := t.TempDir()
	cfg := waitConfig(time.Hour, func(c *Config) { c.HoldDirectory = dir })
	ctx := context.Background()
	c, err := newCore(nopSettings(), cfg)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, nil))
	defer func() { _ = c.Shutdown(ctx) }()
	sink := new(consumertest.TracesSink)
	p := &tracesProcessor{core: c, next: sink.ConsumeTraces, tel: c.tel, a: tracesSignal{}}
	// Close the hold log under the processor, as a failed disk would.
	require.NoError(t, c.log.Close())
	_, err = tracesSignal{}.consume(ctx, p, buildTraces(t, nil,
		spanSpec{trace: traceID(1), id: 1, attrs: map[string]any{"run.id": "r"}, events: []map[string]any{step("own")}},
		spanSpec{trace: traceID(2), id: 2, events: []map[string]any{step("waits")}}))
	require.ErrorContains(t, err, "store held step events")
	assert.Zero(t, sink.SpanCount())
}
