package jsonlledger

// The harness the exporter tests share: one factory's traces and logs
// exporters on a test store, builders of span events and log records, and
// readers of the ledger files they write.

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/runledger/runledger/exporter/jsonlledger/internal/metadata"
	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/ledgerstore"
)

var (
	traceA = pcommon.TraceID{0xa1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	spanA  = pcommon.SpanID{0xa1, 2, 3, 4, 5, 6, 7, 8}
	spanB  = pcommon.SpanID{0xb1, 2, 3, 4, 5, 6, 7, 8}
	t0     = time.Date(2026, 11, 25, 10, 1, 2, 123456789, time.UTC)
)

func testConfig(t *testing.T) *testCfg {
	cfg := newTestCfg(t)
	cfg.RetryConfig.Enabled = false // errors surface from Consume directly
	return cfg
}

type harness struct {
	t      *testing.T
	cfg    *testCfg
	traces exporter.Traces
	logs   exporter.Logs
	logObs *observer.ObservedLogs
	tel    *componenttest.Telemetry
	status *statusLog // what the exporter reported to the host
}

// start creates and starts the traces and logs exporters of cfg from one
// factory (sharing one instance, as in a collector).
func start(t *testing.T, cfg *testCfg, fsys ledgerstore.FS) *harness {
	t.Helper()
	f := newFactory(fsys)
	core, logs := observer.New(zapcore.InfoLevel)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings() // carries a Logger: set ours after
	set.Logger = zap.New(core)
	ctx := context.Background()
	te, err := f.CreateTraces(ctx, set, cfg.Config)
	if err != nil {
		t.Fatal(err)
	}
	le, err := f.CreateLogs(ctx, set, cfg.Config)
	if err != nil {
		t.Fatal(err)
	}
	sh := cfg.host(t).(storeHost)
	sh.status = &statusLog{}
	host := component.Host(sh)
	for _, c := range []component.Component{te, le} {
		if err := c.Start(ctx, host); err != nil {
			t.Fatal(err)
		}
	}
	h := &harness{t: t, cfg: cfg, traces: te, logs: le, logObs: logs, tel: tel, status: sh.status}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	ctx := context.Background()
	if err := h.traces.Shutdown(ctx); err != nil {
		h.t.Error(err)
	}
	if err := h.logs.Shutdown(ctx); err != nil {
		h.t.Error(err)
	}
}

func (h *harness) counter(name string) int64 {
	m, err := h.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		n += dp.Value
	}
	return n
}

// step is one step event to put on a span or a log record.
type step struct {
	kind  string
	run   string // event attribute run.id; "" for none
	at    time.Time
	attrs map[string]any
}

func (s step) fill(m pcommon.Map) {
	if err := m.FromRaw(s.attrs); err != nil {
		panic(err)
	}
	if s.kind != "" {
		m.PutStr("step.kind", s.kind)
	}
	if s.run != "" {
		m.PutStr("run.id", s.run)
	}
}

// spanWith returns traces with one span (in a resource of service svc)
// holding the steps as events.
func spanWith(spanRun, resRun string, sid pcommon.SpanID, steps ...step) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "retriever")
	if resRun != "" {
		rs.Resource().Attributes().PutStr("run.id", resRun)
	}
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetName("faiss.search")
	span.SetTraceID(traceA)
	span.SetSpanID(sid)
	if spanRun != "" {
		span.Attributes().PutStr("run.id", spanRun)
	}
	for _, s := range steps {
		ev := span.Events().AppendEmpty()
		ev.SetName("step")
		ev.SetTimestamp(pcommon.NewTimestampFromTime(s.at))
		s.fill(ev.Attributes())
	}
	return td
}

func logsWith(resRun string, sid pcommon.SpanID, body string, steps ...step) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "retriever")
	if resRun != "" {
		rl.Resource().Attributes().PutStr("run.id", resRun)
	}
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, s := range steps {
		lr := recs.AppendEmpty()
		lr.SetTraceID(traceA)
		lr.SetSpanID(sid)
		if !s.at.IsZero() {
			lr.SetTimestamp(pcommon.NewTimestampFromTime(s.at))
		}
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Hour)))
		if body != "" {
			lr.Body().SetStr(body)
		}
		s.fill(lr.Attributes())
	}
	return ld
}

func (h *harness) consumeTraces(td ptrace.Traces) {
	h.t.Helper()
	if err := h.traces.ConsumeTraces(context.Background(), td); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) consumeLogs(ld plog.Logs) {
	h.t.Helper()
	if err := h.logs.ConsumeLogs(context.Background(), ld); err != nil {
		h.t.Fatal(err)
	}
}

// file returns the raw lines of run's ledger.
func (h *harness) file(run string) (string, []string) {
	h.t.Helper()
	p, err := ledger.FindRun(h.cfg.Directory, run)
	if err != nil || p == "" {
		h.t.Fatalf("run %q has no ledger (%v)", run, err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		h.t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		h.t.Fatalf("ledger %s ends without newline", p)
	}
	return p, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// lines reads run's ledger and checks seq runs 1..n without gaps.
func (h *harness) lines(run string) []ledger.Line {
	h.t.Helper()
	p, _ := h.file(run)
	var out []ledger.Line
	st, err := ledger.ReadFile(p, func(l *ledger.Line) error { out = append(out, *l); return nil })
	if err != nil || st.Skipped != 0 || st.Partial != 0 {
		h.t.Fatalf("read %s: %v %+v", p, err, st)
	}
	for i, l := range out {
		if l.Seq != uint64(i+1) {
			h.t.Fatalf("run %q line %d has seq %d", run, i, l.Seq)
		}
	}
	return out
}
