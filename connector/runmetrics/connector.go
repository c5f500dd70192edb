package runmetrics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/runledger/runledger/connector/runmetrics/internal/metadata"
	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/runindex"
	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/internal/stepschema/stepattrs"
)

// The metrics whose observations can overflow, for the overflow counter.
const (
	idxSteps = iota
	idxDuration
	idxRuns
	numMetrics
)

var metricNames = [numMetrics]string{idxSteps: metricSteps, idxDuration: metricDuration, idxRuns: metricRuns}

// core is one connector instance, shared by its traces and logs pipelines
// (a run may send steps as span events and as log records). It aggregates
// under one lock, taken once per request, and sends the cumulative
// metrics every metrics_flush_interval from its own goroutine, so a
// request never waits for the metrics pipeline.
type core struct {
	cfg    *Config
	logger *zap.Logger
	tel    *metadata.TelemetryBuilder
	next   consumer.Metrics
	// now is the clock; tests replace it.
	now   func() time.Time
	start pcommon.Timestamp
	// noBody is the body of a span event, which has none.
	noBody pcommon.Value

	// endStatus is runindex.EndStatus of each contract status, which is
	// what a parsed step's status always is (computed once: it allocates).
	endStatus map[string]string

	overflowOpts [numMetrics][]metric.AddOption
	sizeOpts     []metric.AddOption
	ttlOpts      []metric.AddOption

	mu        sync.Mutex
	steps     *counter[stepKey]
	durations *histogram[durationKey]
	runs      *counter[runKey]
	state     *runStates
	// seq orders the steps as they arrived (a ledger's seq); it breaks
	// ties of equal times in the root-cause rule.
	seq  uint64
	step stepattrs.Step // scratch for parsing, under mu
	ends []runEnd       // the run.ends of the request being read

	// started is set by Start; Start and Shutdown are not concurrent.
	started  bool
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

func newCore(set connector.Settings, cfg *Config, next consumer.Metrics) (*core, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("runmetrics: create telemetry: %w", err)
	}
	state, err := newRunStates(cfg.RunCacheSize, cfg.RunCacheTTL)
	if err != nil {
		return nil, fmt.Errorf("runmetrics: %w", err)
	}
	bounds := make([]float64, len(cfg.Histogram.Explicit.Buckets))
	for i, d := range cfg.Histogram.Explicit.Buckets {
		bounds[i] = float64(d) / float64(time.Millisecond)
	}
	c := &core{
		cfg:       cfg,
		logger:    set.Logger,
		tel:       tb,
		next:      next,
		now:       time.Now,
		noBody:    pcommon.NewValueEmpty(),
		steps:     newCounter[stepKey](cfg.AggregationCardinalityLimit),
		durations: newHistogram[durationKey](cfg.AggregationCardinalityLimit, bounds),
		runs:      newCounter[runKey](cfg.AggregationCardinalityLimit),
		state:     state,
		sizeOpts:  attrOpt("reason", "size"),
		ttlOpts:   attrOpt("reason", "ttl"),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	for i, name := range metricNames {
		c.overflowOpts[i] = attrOpt("metric", name)
	}
	c.endStatus = make(map[string]string)
	for _, s := range []string{stepschema.StatusOK, stepschema.StatusFailed, stepschema.StatusSkipped, stepschema.StatusStarted, stepschema.StatusCancelled} {
		c.endStatus[s] = runindex.EndStatus(s)
	}
	return c, nil
}

func attrOpt(key, value string) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String(key, value)))}
}

// Start starts the flush loop.
func (c *core) Start(context.Context, component.Host) error {
	c.start = pcommon.NewTimestampFromTime(c.now())
	c.started = true
	go c.loop()
	return nil
}

// Shutdown stops the flush loop and sends the metrics one last time, so
// the runs that ended since the last flush are not lost to an exporter
// that pushes (OTLP). The metrics pipeline shuts down after this one.
func (c *core) Shutdown(ctx context.Context) error {
	defer c.tel.Shutdown()
	if !c.started {
		return nil
	}
	c.stopOnce.Do(func() { close(c.stop) })
	<-c.done
	return c.flush(ctx)
}

func (c *core) loop() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.MetricsFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if err := c.flush(context.Background()); err != nil {
				c.logger.Warn("runmetrics: the metrics pipeline refused the run metrics; they are sent again, cumulative, at the next flush", zap.Error(err))
			}
		}
	}
}

// flush forgets the runs past their TTL and sends every data point (the
// metrics are cumulative: a refused flush loses nothing).
func (c *core) flush(ctx context.Context) error {
	now := c.now()
	c.mu.Lock()
	expired := c.state.expire(now)
	md := c.buildLocked(pcommon.NewTimestampFromTime(now))
	c.mu.Unlock()
	if expired > 0 {
		c.tel.ConnectorRunmetricsRunStateEvictions.Add(ctx, int64(expired), c.ttlOpts...)
	}
	if md.DataPointCount() == 0 {
		return nil
	}
	if err := c.next.ConsumeMetrics(ctx, md); err != nil {
		c.tel.ConnectorRunmetricsExportErrors.Add(ctx, 1)
		return fmt.Errorf("runmetrics: send metrics: %w", err)
	}
	return nil
}

func (c *core) buildLocked(now pcommon.Timestamp) pmetric.Metrics {
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	ms := sm.Metrics()
	c.steps.appendTo(ms, metricSteps, "Step events seen, by service, kind, status and error code", "{step}", c.start, now)
	c.durations.appendTo(ms, metricDuration, "Step durations (step.duration_ms), by service and kind", "ms", c.start, now)
	c.runs.appendTo(ms, metricRuns, "Runs ended (run.end), by service, final status and stop reason: category, root-cause stage and error code as the run report names them", "{run}", c.start, now)
	return md
}

// tally is what one request adds to the connector's own telemetry,
// recorded once the lock is released.
type tally struct {
	overflow [numMetrics]int64
	evicted  int64
}

func (c *core) record(ctx context.Context, t *tally) {
	for i, n := range t.overflow {
		if n > 0 {
			c.tel.ConnectorRunmetricsOverflow.Add(ctx, n, c.overflowOpts[i]...)
		}
	}
	if t.evicted > 0 {
		c.tel.ConnectorRunmetricsRunStateEvictions.Add(ctx, t.evicted, c.sizeOpts...)
	}
}

// resource is what the steps of one resource share: the service and the
// run of steps that name none ("" without a trace id: no run).
type resource struct {
	service string
	run     stepattrs.ResourceRun
}

func newResource(r pcommon.Resource) resource {
	attrs := r.Attributes()
	res := resource{run: stepattrs.NewResourceRun(attrs, "")}
	if v, ok := attrs.Get(stepschema.AttrServiceName); ok && v.Type() == pcommon.ValueTypeStr {
		res.service, _ = stepschema.ValidUTF8(v.Str())
		res.service = clip(res.service)
	}
	return res
}

// consumeTraces aggregates the step events (span events) of td.
func (c *core) consumeTraces(ctx context.Context, td ptrace.Traces) error {
	var t tally
	now := c.now()
	c.mu.Lock()
	for _, rs := range td.ResourceSpans().All() {
		res := newResource(rs.Resource())
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				spanRun := stepattrs.NewSpanRun(span, &res.run)
				for _, ev := range span.Events().All() {
					attrs := ev.Attributes()
					if !c.parse(attrs, c.noBody) {
						continue
					}
					// The run id as the ledger exporter resolves it:
					// steproute has written it on the event; without
					// steproute, the span's, the resource's, the trace's.
					run := spanRun.Of(stepattrs.RunID(attrs, stepschema.AttrRunID))
					c.observeLocked(&res, run, ev.Timestamp(), now, &t)
				}
			}
		}
	}
	c.endRunsLocked(&t)
	c.mu.Unlock()
	c.record(ctx, &t)
	return nil
}

// consumeLogs aggregates the step events (log records) of ld.
func (c *core) consumeLogs(ctx context.Context, ld plog.Logs) error {
	var t tally
	now := c.now()
	c.mu.Lock()
	for _, rl := range ld.ResourceLogs().All() {
		res := newResource(rl.Resource())
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				attrs := lr.Attributes()
				if !c.parse(attrs, lr.Body()) {
					continue
				}
				run := stepattrs.RunID(attrs, stepschema.AttrRunID)
				if run == "" {
					run = res.run.Of(lr.TraceID())
				}
				ts := lr.Timestamp()
				if ts == 0 {
					ts = lr.ObservedTimestamp()
				}
				c.observeLocked(&res, run, ts, now, &t)
			}
		}
	}
	c.endRunsLocked(&t)
	c.mu.Unlock()
	c.record(ctx, &t)
	return nil
}

// parse reads the step event in attrs into c.step by the contract's rules
// (stepattrs) and reports whether it is one.
func (c *core) parse(attrs pcommon.Map, body pcommon.Value) bool {
	stepattrs.ParseInto(&c.step, attrs, body, stepattrs.Limits{})
	return c.step.Kind != ""
}

// observeLocked counts step c.step of run (may be "") from resource res
// with time ts (0: now).
func (c *core) observeLocked(res *resource, run string, ts pcommon.Timestamp, now time.Time, t *tally) {
	s := &c.step
	kind := clip(s.Kind)
	if !c.steps.add(stepKey{service: res.service, kind: kind, status: s.Status, code: clip(s.ErrorCode)}) {
		t.overflow[idxSteps]++
	}
	if s.HasDuration && !c.durations.observe(durationKey{service: res.service, kind: kind}, s.DurationMS) {
		t.overflow[idxDuration]++
	}
	if run == "" {
		return
	}
	c.seq++
	at := now
	if ts != 0 {
		at = ts.AsTime()
	}
	// The digest reads the full kind and code: the stage and the
	// matching of codes are the report's, on what the ledger holds.
	l := ledger.Line{Kind: s.Kind, Status: s.Status, ErrorCode: s.ErrorCode, TS: at, Seq: c.seq}
	if s.Kind == stepschema.KindRunEnd {
		c.ends = append(c.ends, runEnd{service: res.service, run: run, line: l})
		return
	}
	if c.state.observe(run, &l, now) {
		t.evicted++
	}
}

// runEnd is a run.end waiting for the end of its request.
type runEnd struct {
	service, run string
	line         ledger.Line
}

// endRunsLocked counts the outcomes of the runs whose run.end came in the
// request just read. They are decided after every other step of the
// request: held steps that steproute releases with their run's root span
// are merged into that request, not always before its run.end.
func (c *core) endRunsLocked(t *tally) {
	for i := range c.ends {
		e := &c.ends[i]
		d := c.state.end(e.run, &e.line)
		status, ok := c.endStatus[e.line.Status]
		if !ok {
			status = runindex.EndStatus(e.line.Status)
		}
		stop := d.Stop(status, true)
		if !c.runs.add(runKey{service: e.service, status: status, category: stop.Category, stage: clip(stop.Stage), code: clip(stop.ErrorCode)}) {
			t.overflow[idxRuns]++
		}
	}
	clear(c.ends) // the strings are the request's
	c.ends = c.ends[:0]
}
