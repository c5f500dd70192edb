package runmetrics

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
)

func TestStepsCountedByServiceKindStatusAndCode(t *testing.T) {
	r := newRig(t, testConfig(nil))
	r.sendTraces(tracesOf("retriever",
		spanOf{tid: 1, run: "r-1", steps: []st{
			{kind: "embed.vllm"},
			{kind: "ann.faiss.search", status: "failed", code: "timeout"},
			{kind: "ann.faiss.search", status: "failed", code: "timeout"},
			{kind: "ann.faiss.search", status: "ok"},
		}}))
	r.sendTraces(tracesOf("indexer", spanOf{tid: 2, run: "r-2", steps: []st{{kind: "embed.vllm"}}}))
	// Log records count the same way, into the same series.
	r.sendLogs(logsOf("retriever", "r-1", st{kind: "embed.vllm", status: "ok"}))
	// Not step events: no series.
	td := tracesOf("retriever", spanOf{tid: 3, run: "r-3"})
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Events().AppendEmpty().SetName("exception")
	r.sendTraces(td)

	got := sums(t, r.final(), metricSteps)
	assert.Equal(t, map[string]int64{
		stepAttrs("retriever", "embed.vllm", "ok", ""):                  2,
		stepAttrs("retriever", "ann.faiss.search", "failed", "timeout"): 2,
		stepAttrs("retriever", "ann.faiss.search", "ok", ""):            1,
		stepAttrs("indexer", "embed.vllm", "ok", ""):                    1,
	}, got)
}

func TestStepDurationHistogram(t *testing.T) {
	r := newRig(t, testConfig(func(c *Config) {
		c.Histogram.Explicit.Buckets = []time.Duration{5 * time.Millisecond, 100 * time.Millisecond}
	}))
	r.sendTraces(tracesOf("retriever", spanOf{tid: 1, run: "r-1", steps: []st{
		{kind: "embed.vllm", durationMS: 1.5},
		{kind: "embed.vllm", durationMS: 5.0}, // on a bound: that bucket
		{kind: "embed.vllm", durationMS: 7},   // an int, as steproute coerces it
		{kind: "embed.vllm", durationMS: 250.0},
		{kind: "embed.vllm"},                   // no duration: counted as a step, not observed
		{kind: "git.blame", durationMS: "nan"}, // not a number: dropped by the step rules
	}}))
	md := r.final()
	h := hists(t, md, metricDuration)
	require.Len(t, h, 1, "only embed.vllm has durations")
	dp := h["service.name=retriever,step.kind=embed.vllm"]
	assert.Equal(t, []float64{5, 100}, dp.ExplicitBounds().AsRaw())
	assert.Equal(t, []uint64{2, 1, 1}, dp.BucketCounts().AsRaw())
	assert.Equal(t, uint64(4), dp.Count())
	assert.InDelta(t, 263.5, dp.Sum(), 1e-9)
	assert.Equal(t, 1.5, dp.Min())
	assert.Equal(t, 250.0, dp.Max())
	assert.Equal(t, "ms", metricOf(t, md, metricDuration).Unit())
	assert.Equal(t, int64(5), sums(t, md, metricSteps)[stepAttrs("retriever", "embed.vllm", "ok", "")])
}

func TestRunOutcomeNamesTheRootCause(t *testing.T) {
	r := newRig(t, testConfig(nil))
	// The ANN search fails; the error handler's retrieval.error repeats
	// its code: the root cause is the ANN stage, as the report says.
	r.sendTraces(tracesOf("retriever", spanOf{tid: 1, run: "r-fail", steps: []st{
		{kind: "run.start"},
		{kind: "embed.vllm", at: ms(1)},
		{kind: "ann.faiss.search", status: "failed", code: "index_not_found", at: ms(2)},
		{kind: "retrieval.error", status: "failed", code: "index_not_found", at: ms(3)},
		{kind: "run.end", status: "failed", at: ms(4)},
	}}))
	// A failed embedding call retried with success: completed.
	r.sendTraces(tracesOf("retriever", spanOf{tid: 2, run: "r-retry", steps: []st{
		{kind: "embed.vllm", status: "failed", code: "http_503"},
		{kind: "embed.vllm", at: ms(1)},
		{kind: "run.end", at: ms(2)},
	}}))
	// A timeout code makes the category timeout.
	r.sendTraces(tracesOf("retriever", spanOf{tid: 3, run: "r-timeout", steps: []st{
		{kind: "embed.vllm", status: "failed", code: "deadline_exceeded"},
		{kind: "run.end", status: "failed", at: ms(1)},
	}}))
	// The failure arrives as a log record, run.end as a span event, in
	// two requests: one run state across both signals.
	r.sendLogs(logsOf("retriever", "r-mixed", st{kind: "hydrate.duckdb", status: "failed", code: "locked"}))
	r.sendTraces(tracesOf("retriever", spanOf{tid: 4, run: "r-mixed", steps: []st{{kind: "run.end", status: "failed", at: ms(5)}}}))
	// Cancelled.
	r.sendTraces(tracesOf("retriever", spanOf{tid: 5, run: "r-cancel", steps: []st{
		{kind: "git.blame", status: "cancelled", code: "client_gone"},
		{kind: "run.end", status: "cancelled", at: ms(1)},
	}}))
	// Still running: no run outcome yet.
	r.sendTraces(tracesOf("retriever", spanOf{tid: 6, run: "r-open", steps: []st{{kind: "ann.faiss.search", status: "failed", code: "oom"}}}))

	got := sums(t, r.final(), metricRuns)
	assert.Equal(t, map[string]int64{
		runAttrs("retriever", "failed", "error", "ann", "index_not_found"):       1,
		runAttrs("retriever", "completed", "completed", "run", ""):               1,
		runAttrs("retriever", "failed", "timeout", "embed", "deadline_exceeded"): 1,
		runAttrs("retriever", "failed", "error", "hydrate", "locked"):            1,
		runAttrs("retriever", "cancelled", "cancelled", "git", "client_gone"):    1,
	}, got)
}

// Every ended run of the report's test data, sent as span events, is
// counted under the stop reason its report gives (category, stage, error
// code), with the run index's one documented difference: a timeout that
// only the detail text tells is an error here.
func TestRunOutcomesAgreeWithTheReport(t *testing.T) {
	files, err := filepath.Glob("../../internal/report/testdata/*.jsonl")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	ended := 0
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".jsonl")
		t.Run(name, func(t *testing.T) {
			rep, err := report.BuildFile(file, report.Options{})
			require.NoError(t, err)
			var lines []ledger.Line
			_, err = ledger.ReadFile(file, func(l *ledger.Line) error { lines = append(lines, *l); return nil })
			require.NoError(t, err)
			hasEnd := false
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", "svc")
			sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			sp.SetTraceID(traceID(9))
			sp.Attributes().PutStr("run.id", lines[0].RunID)
			for _, l := range lines {
				hasEnd = hasEnd || l.Kind == "run.end"
				ev := sp.Events().AppendEmpty()
				ev.SetTimestamp(pcommon.NewTimestampFromTime(l.TS))
				s := st{kind: l.Kind, status: l.Status, code: l.ErrorCode, detail: l.Detail}
				if l.DurationMS != nil {
					s.durationMS = *l.DurationMS
				}
				putStep(ev.Attributes(), s)
			}
			r := newRig(t, testConfig(nil))
			r.sendTraces(td)
			md := r.final()
			if !hasEnd {
				assert.False(t, hasMetric(md, metricRuns), "a run without run.end has no outcome")
				return
			}
			ended++
			sr := rep.StopReason
			category := sr.Category
			if name == "timeout_ann_504" {
				require.Equal(t, report.CategoryTimeout, category, "the exception is stale")
				category = report.CategoryError
			}
			want := runAttrs("svc", rep.Status, category, sr.Stage, sr.ErrorCode)
			assert.Equal(t, map[string]int64{want: 1}, sums(t, md, metricRuns))
		})
	}
	require.GreaterOrEqual(t, ended, 10)
}

func TestCardinalityLimitFoldsIntoOverflow(t *testing.T) {
	r := newRig(t, testConfig(func(c *Config) { c.AggregationCardinalityLimit = 3 }))
	var steps []st
	for _, k := range []string{"a", "b", "c", "d", "e", "a", "e"} {
		steps = append(steps, st{kind: k, durationMS: 1.0})
	}
	r.sendTraces(tracesOf("svc", spanOf{tid: 1, run: "r-1", steps: steps}))
	md := r.final()
	assert.Equal(t, map[string]int64{
		stepAttrs("svc", "a", "ok", ""): 2,
		stepAttrs("svc", "b", "ok", ""): 1,
		stepAttrs("svc", "c", "ok", ""): 1,
		"otel.metric.overflow=true":     3, // d, e, e
	}, sums(t, md, metricSteps))
	h := hists(t, md, metricDuration)
	require.Len(t, h, 4)
	assert.Equal(t, uint64(3), h["otel.metric.overflow=true"].Count())
	// The overflow point has the one attribute, as a bool.
	m := metricOf(t, md, metricSteps)
	for _, dp := range m.Sum().DataPoints().All() {
		if v, ok := dp.Attributes().Get("otel.metric.overflow"); ok {
			assert.Equal(t, pcommon.ValueTypeBool, v.Type())
			assert.Equal(t, 1, dp.Attributes().Len())
		}
	}
	assert.Equal(t, int64(3), r.ownMetric("overflow", attribute.String("metric", metricSteps)))
	assert.Equal(t, int64(3), r.ownMetric("overflow", attribute.String("metric", metricDuration)))
}

func TestRunStateEvictedBySizeIsCounted(t *testing.T) {
	r := newRig(t, testConfig(func(c *Config) { c.RunCacheSize = 2 }))
	// Three runs fail before any ends: the first one's state goes.
	for i, run := range []string{"r-1", "r-2", "r-3"} {
		r.sendTraces(tracesOf("svc", spanOf{tid: byte(i + 1), run: run, steps: []st{{kind: "embed.vllm", status: "failed", code: "oom"}}}))
	}
	// Runs without a failure take no room.
	r.sendTraces(tracesOf("svc", spanOf{tid: 9, run: "r-ok", steps: []st{{kind: "embed.vllm"}}}))
	for i, run := range []string{"r-1", "r-2", "r-3", "r-ok"} {
		r.sendTraces(tracesOf("svc", spanOf{tid: byte(i + 1), run: run, steps: []st{{kind: "run.end", status: "failed", at: ms(1)}}}))
	}
	assert.Equal(t, map[string]int64{
		// Evicted: the run.end alone tells no stage but its own.
		runAttrs("svc", "failed", "error", "run", ""):      2, // r-1 and r-ok (failed with no failed step)
		runAttrs("svc", "failed", "error", "embed", "oom"): 2,
	}, sums(t, r.final(), metricRuns))
	assert.Equal(t, int64(1), r.ownMetric("run_state_evictions", attribute.String("reason", "size")))
}

func TestRunStateExpiresAfterTTL(t *testing.T) {
	r := newRig(t, testConfig(func(c *Config) {
		c.RunCacheTTL = time.Minute
		c.MetricsFlushInterval = 5 * time.Millisecond
	}))
	r.sendTraces(tracesOf("svc", spanOf{tid: 1, run: "r-old", steps: []st{{kind: "embed.vllm", status: "failed", code: "oom"}}}))
	r.clock.Add(30 * time.Second)
	r.sendTraces(tracesOf("svc", spanOf{tid: 2, run: "r-new", steps: []st{{kind: "ann.faiss.search", status: "failed", code: "oom"}}}))
	r.clock.Add(31 * time.Second) // r-old unseen for 61 s, r-new for 31 s
	require.Eventually(t, func() bool {
		return r.ownMetric("run_state_evictions", attribute.String("reason", "ttl")) == 1
	}, 10*time.Second, 5*time.Millisecond)
	for i, run := range []string{"r-old", "r-new"} {
		r.sendTraces(tracesOf("svc", spanOf{tid: byte(i + 1), run: run, steps: []st{{kind: "run.end", status: "failed", at: ms(1)}}}))
	}
	assert.Equal(t, map[string]int64{
		runAttrs("svc", "failed", "error", "run", ""):    1,
		runAttrs("svc", "failed", "error", "ann", "oom"): 1,
	}, sums(t, r.final(), metricRuns))
	assert.Equal(t, int64(1), r.ownMetric("run_state_evictions", attribute.String("reason", "ttl")))
}

func TestPeriodicFlushIsCumulative(t *testing.T) {
	r := newRig(t, testConfig(func(c *Config) { c.MetricsFlushInterval = 5 * time.Millisecond }))
	count := func() (int64, pcommon.Timestamp) {
		all := r.sink.AllMetrics()
		if len(all) == 0 {
			return 0, 0
		}
		m := all[len(all)-1]
		pts := sums(t, m, metricSteps)
		dp := metricOf(t, m, metricSteps).Sum().DataPoints().At(0)
		return pts[stepAttrs("svc", "embed.vllm", "ok", "")], dp.StartTimestamp()
	}
	r.sendTraces(tracesOf("svc", spanOf{tid: 1, run: "r-1", steps: []st{{kind: "embed.vllm"}}}))
	require.Eventually(t, func() bool { n, _ := count(); return n == 1 }, 10*time.Second, 5*time.Millisecond)
	_, start := count()
	r.sendTraces(tracesOf("svc", spanOf{tid: 1, run: "r-1", steps: []st{{kind: "embed.vllm"}}}))
	require.Eventually(t, func() bool { n, _ := count(); return n == 2 }, 10*time.Second, 5*time.Millisecond)
	_, start2 := count()
	assert.Equal(t, start, start2, "a cumulative series keeps its start time")
	assert.Equal(t, pcommon.NewTimestampFromTime(t0), start)
}

func TestRefusedFlushIsCountedAndNothingLost(t *testing.T) {
	next := &flaky{err: errors.New("queue full")}
	r := newRigTo(t, testConfig(func(c *Config) { c.MetricsFlushInterval = 5 * time.Millisecond }), next)
	r.sendTraces(tracesOf("svc", spanOf{tid: 1, run: "r-1", steps: []st{{kind: "embed.vllm"}, {kind: "run.end", at: ms(1)}}}))
	require.Eventually(t, func() bool { return r.ownMetric("export_errors") >= 2 }, 10*time.Second, 5*time.Millisecond)
	next.set(nil)
	r.shutdown()
	all := next.sink.AllMetrics()
	require.NotEmpty(t, all)
	assert.Equal(t, map[string]int64{runAttrs("svc", "completed", "completed", "run", ""): 1}, sums(t, all[len(all)-1], metricRuns))
}

func TestHostileValuesAreBoundedAndValid(t *testing.T) {
	r := newRig(t, testConfig(nil))
	huge := strings.Repeat("k", 100_000)
	badUTF8 := "embed.\xff\xfevllm"
	td := tracesOf("svc\xff", spanOf{tid: 1, run: "r-1", steps: []st{
		{kind: huge, status: "failed", code: strings.Repeat("c", 5000)},
		{kind: badUTF8, durationMS: math.Inf(1)},
		{kind: "run.end", status: "failed", at: ms(1)},
	}})
	// A run id the API could not look up goes to the trace's fallback
	// run, as in the ledger: the outcome is still counted.
	td2 := tracesOf("svc", spanOf{tid: 2, run: "bad\x1b[2Jid", steps: []st{
		{kind: "embed.vllm", status: "failed", code: "oom"},
		{kind: "run.end", status: "failed", at: ms(1)},
	}})
	// A non-string service.name and an empty kind (not a step).
	td3 := tracesOf("", spanOf{tid: 3, run: "r-3", steps: []st{{kind: ""}, {kind: "git.blame"}}})
	td3.ResourceSpans().At(0).Resource().Attributes().PutInt("service.name", 7)
	for _, td := range []ptrace.Traces{td, td2, td3} {
		r.sendTraces(td)
	}
	md := r.final()
	for _, m := range []pmetric.Metric{metricOf(t, md, metricSteps), metricOf(t, md, metricRuns)} {
		for _, dp := range m.Sum().DataPoints().All() {
			for k, v := range dp.Attributes().All() {
				assert.LessOrEqual(t, len(v.AsString()), maxValueBytes, k)
				assert.True(t, utf8.ValidString(v.AsString()), k)
			}
		}
	}
	steps := sums(t, md, metricSteps)
	assert.Equal(t, int64(1), steps[stepAttrs("svc\uFFFD", strings.Repeat("k", maxValueBytes), "failed", strings.Repeat("c", maxValueBytes))])
	assert.Equal(t, int64(1), steps[stepAttrs("svc\uFFFD", "embed.\uFFFDvllm", "ok", "")])
	assert.Equal(t, int64(1), steps["step.kind=git.blame,step.status=ok"])
	assert.False(t, hasMetric(md, metricDuration), "an infinite duration is not observed")
	runs := sums(t, md, metricRuns)
	assert.Equal(t, int64(1), runs[runAttrs("svc\uFFFD", "failed", "error", strings.Repeat("k", maxValueBytes), strings.Repeat("c", maxValueBytes))])
	assert.Equal(t, int64(1), runs[runAttrs("svc", "failed", "error", "embed", "oom")])
}

// flaky is a metrics consumer that fails with err while it is set.
type flaky struct {
	mu   sync.Mutex
	err  error
	sink consumertest.MetricsSink
}

func (f *flaky) set(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *flaky) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// ConsumeMetrics fails while err is set, else keeps md.
func (f *flaky) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	f.mu.Lock()
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.sink.ConsumeMetrics(ctx, md)
}

// steproute releases held child spans into the request of their run's
// root span, which may put the root's run.end before the children's
// failures: the outcome is decided once the whole request is read.
func TestRunEndDecidedAfterItsWholeRequest(t *testing.T) {
	r := newRig(t, testConfig(nil))
	r.sendTraces(tracesOf("retriever",
		spanOf{tid: 1, run: "r-1", steps: []st{
			{kind: "run.start"},
			{kind: "retrieval.error", status: "failed", code: "index_not_found", at: ms(21)},
			{kind: "run.end", status: "failed", at: ms(22)},
		}},
		spanOf{tid: 1, run: "r-1", steps: []st{
			{kind: "ann.faiss.search", status: "failed", code: "index_not_found", at: ms(20)},
		}},
	))
	assert.Equal(t, map[string]int64{
		runAttrs("retriever", "failed", "error", "ann", "index_not_found"): 1,
	}, sums(t, r.final(), metricRuns))
}
