package runmetrics

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/runledger/runledger/connector/runmetrics/internal/metadata"
)

// t0 is the time of the first step in the tests.
var t0 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// rig is a started connector for both signals on one config, feeding a
// metrics sink, with the connector's own telemetry.
type rig struct {
	t      *testing.T
	traces connector.Traces
	logs   connector.Logs
	sink   *consumertest.MetricsSink
	tel    *componenttest.Telemetry
	clock  *fakeClock
	closed bool
}

func testConfig(mod func(*Config)) *Config {
	cfg := createDefaultConfig().(*Config)
	if mod != nil {
		mod(cfg)
	}
	return cfg
}

func newRig(t *testing.T, cfg *Config) *rig {
	return newRigTo(t, cfg, nil)
}

// newRigTo is newRig with another next consumer (nil: a sink).
func newRigTo(t *testing.T, cfg *Config, next consumer.Metrics) *rig {
	t.Helper()
	require.NoError(t, cfg.Validate())
	r := &rig{t: t, sink: new(consumertest.MetricsSink), tel: componenttest.NewTelemetry(), clock: &fakeClock{now: t0}}
	t.Cleanup(func() { require.NoError(t, r.tel.Shutdown(context.Background())) })
	if next == nil {
		next = r.sink
	}
	set := connectortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = r.tel.NewTelemetrySettings()
	f := NewFactory()
	ctx := context.Background()
	tc, err := f.CreateTracesToMetrics(ctx, set, cfg, next)
	require.NoError(t, err)
	lc, err := f.CreateLogsToMetrics(ctx, set, cfg, next)
	require.NoError(t, err)
	r.traces, r.logs = tc, lc
	tc.(*tracesConnector).comp.Unwrap.now = r.clock.Now
	require.NoError(t, tc.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, lc.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { r.shutdown() })
	return r
}

// shutdown stops the connector, which sends the metrics a last time.
func (r *rig) shutdown() {
	if r.closed {
		return
	}
	r.closed = true
	require.NoError(r.t, r.traces.Shutdown(context.Background()))
	require.NoError(r.t, r.logs.Shutdown(context.Background()))
}

// final stops the connector and returns the metrics it sent last.
func (r *rig) final() pmetric.Metrics {
	r.t.Helper()
	r.shutdown()
	all := r.sink.AllMetrics()
	require.NotEmpty(r.t, all, "no metrics sent")
	return all[len(all)-1]
}

func (r *rig) sendTraces(td ptrace.Traces) {
	r.t.Helper()
	require.NoError(r.t, r.traces.ConsumeTraces(context.Background(), td))
}

func (r *rig) sendLogs(ld plog.Logs) {
	r.t.Helper()
	require.NoError(r.t, r.logs.ConsumeLogs(context.Background(), ld))
}

// ownMetric sums the connector's own counter name over the data points
// carrying attrs.
func (r *rig) ownMetric(name string, attrs ...attribute.KeyValue) int64 {
	m, err := r.tel.GetMetric("otelcol_connector_runmetrics_" + name)
	if err != nil {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(r.t, ok, name)
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

// st is one step event.
type st struct {
	kind, status, code, detail string
	durationMS                 any // nil: none
	at                         time.Duration
	run                        string // event run.id
}

// spanOf is a span of trace tid with run.id run (may be "") and steps.
type spanOf struct {
	tid   byte
	run   string
	steps []st
}

func traceID(n byte) pcommon.TraceID {
	return pcommon.TraceID{n, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
}

func putStep(m pcommon.Map, s st) {
	m.PutStr("step.kind", s.kind)
	if s.status != "" {
		m.PutStr("step.status", s.status)
	}
	if s.code != "" {
		m.PutStr("step.error.code", s.code)
	}
	if s.detail != "" {
		m.PutStr("step.detail", s.detail)
	}
	switch d := s.durationMS.(type) {
	case nil:
	case float64:
		m.PutDouble("step.duration_ms", d)
	case int:
		m.PutInt("step.duration_ms", int64(d))
	case string:
		m.PutStr("step.duration_ms", d)
	}
	if s.run != "" {
		m.PutStr("run.id", s.run)
	}
}

// tracesOf builds one resource of service (no service.name when "") with
// the spans.
func tracesOf(service string, spans ...spanOf) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	if service != "" {
		rs.Resource().Attributes().PutStr("service.name", service)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	for i, sp := range spans {
		s := ss.Spans().AppendEmpty()
		s.SetName("work")
		s.SetTraceID(traceID(sp.tid))
		s.SetSpanID(pcommon.SpanID{byte(i + 1)})
		if sp.run != "" {
			s.Attributes().PutStr("run.id", sp.run)
		}
		for _, step := range sp.steps {
			ev := s.Events().AppendEmpty()
			ev.SetName(step.kind)
			ev.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(step.at)))
			putStep(ev.Attributes(), step)
		}
	}
	return td
}

// logsOf builds log records of service for the steps of run.
func logsOf(service, run string, steps ...st) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	sl := rl.ScopeLogs().AppendEmpty()
	for _, s := range steps {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(s.at)))
		if s.run == "" {
			s.run = run
		}
		putStep(lr.Attributes(), s)
	}
	return ld
}

// attrKey spells a data point's attributes in sorted order, k=v joined
// by commas, for comparisons.
func attrKey(m pcommon.Map) string {
	var kv []string
	for k, v := range m.All() {
		kv = append(kv, k+"="+v.AsString())
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// metricOf returns the metric name of md; it fails the test when there is
// none or more than one.
func metricOf(t *testing.T, md pmetric.Metrics, name string) pmetric.Metric {
	t.Helper()
	var found []pmetric.Metric
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() == name {
					found = append(found, m)
				}
			}
		}
	}
	require.Len(t, found, 1, "metric %s", name)
	return found[0]
}

// sums returns the data points of sum metric name by attributes.
func sums(t *testing.T, md pmetric.Metrics, name string) map[string]int64 {
	t.Helper()
	m := metricOf(t, md, name)
	require.Equal(t, pmetric.MetricTypeSum, m.Type())
	require.True(t, m.Sum().IsMonotonic())
	require.Equal(t, pmetric.AggregationTemporalityCumulative, m.Sum().AggregationTemporality())
	out := map[string]int64{}
	for _, dp := range m.Sum().DataPoints().All() {
		k := attrKey(dp.Attributes())
		_, dup := out[k]
		require.False(t, dup, "two data points with %s", k)
		out[k] = dp.IntValue()
	}
	return out
}

// hists returns the data points of histogram metric name by attributes.
func hists(t *testing.T, md pmetric.Metrics, name string) map[string]pmetric.HistogramDataPoint {
	t.Helper()
	m := metricOf(t, md, name)
	require.Equal(t, pmetric.MetricTypeHistogram, m.Type())
	require.Equal(t, pmetric.AggregationTemporalityCumulative, m.Histogram().AggregationTemporality())
	out := map[string]pmetric.HistogramDataPoint{}
	for _, dp := range m.Histogram().DataPoints().All() {
		out[attrKey(dp.Attributes())] = dp
	}
	return out
}

// runAttrs spells the attributes of a runledger.runs data point as
// attrKey does (empty values are left out, as the connector does).
func runAttrs(service, status, category, stage, code string) string {
	var kv []string
	for _, p := range [][2]string{
		{"service.name", service}, {"run.status", status}, {"stop.category", category},
		{"stop.stage", stage}, {"stop.error_code", code},
	} {
		if p[1] != "" {
			kv = append(kv, p[0]+"="+p[1])
		}
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// stepAttrs spells the attributes of a runledger.steps data point.
func stepAttrs(service, kind, status, code string) string {
	kv := []string{"service.name=" + service, "step.kind=" + kind, "step.status=" + status}
	if code != "" {
		kv = append(kv, "step.error.code="+code)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// hasMetric reports whether md has a metric called name.
func hasMetric(md pmetric.Metrics, name string) bool {
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() == name {
					return true
				}
			}
		}
	}
	return false
}
