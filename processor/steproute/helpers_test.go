package steproute

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/runledger/runledger/processor/steproute/internal/metadata"
)

// pipelines is a traces and a logs processor of one steproute component
// (same factory, same config) with sinks behind them.
type pipelines struct {
	traces processor.Traces
	logs   processor.Logs
	tsink  *consumertest.TracesSink
	lsink  *consumertest.LogsSink
}

// holdRoot holds a hold directory for every test config, so no test
// writes into the package's folder or shares a hold log with another.
var (
	holdRoot string
	holdDirs atomic.Int64
)

func TestMain(m *testing.M) {
	var err error
	holdRoot, err = os.MkdirTemp("", "steproute-hold-")
	if err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(holdRoot)
	os.Exit(code)
}

func testConfig(mod func(*Config)) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.ResolveWait = 0
	cfg.HoldDirectory = filepath.Join(holdRoot, strconv.FormatInt(holdDirs.Add(1), 10))
	if mod != nil {
		mod(cfg)
	}
	return cfg
}

func newPipelines(t testing.TB, cfg *Config, set processor.Settings) *pipelines {
	t.Helper()
	require.NoError(t, cfg.Validate())
	f := NewFactory()
	p := &pipelines{tsink: new(consumertest.TracesSink), lsink: new(consumertest.LogsSink)}
	var err error
	p.traces, err = f.CreateTraces(context.Background(), set, cfg, p.tsink)
	require.NoError(t, err)
	p.logs, err = f.CreateLogs(context.Background(), set, cfg, p.lsink)
	require.NoError(t, err)
	require.NoError(t, p.traces.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.logs.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() {
		require.NoError(t, p.traces.Shutdown(context.Background()))
		require.NoError(t, p.logs.Shutdown(context.Background()))
	})
	return p
}

func nopSettings() processor.Settings { return processortest.NewNopSettings(metadata.Type) }

func traceID(n byte) pcommon.TraceID {
	return pcommon.TraceID{0xab, 0xcd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n}
}

func spanID(n byte) pcommon.SpanID { return pcommon.SpanID{1, 0, 0, 0, 0, 0, 0, n} }

func putAll(t testing.TB, m pcommon.Map, attrs map[string]any) {
	t.Helper()
	for k, v := range attrs {
		require.NoError(t, m.PutEmpty(k).FromRaw(v), k)
	}
}

// spanSpec describes one span of a test batch.
type spanSpec struct {
	trace  pcommon.TraceID
	id     byte
	name   string
	parent byte // parent span id (spanID(parent)); 0 for a root
	attrs  map[string]any
	events []map[string]any
}

func buildTraces(t testing.TB, resource map[string]any, spans ...spanSpec) ptrace.Traces {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	putAll(t, rs.Resource().Attributes(), resource)
	ss := rs.ScopeSpans().AppendEmpty()
	for _, s := range spans {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(s.trace)
		sp.SetSpanID(spanID(s.id))
		sp.SetName(s.name)
		if s.parent != 0 {
			sp.SetParentSpanID(spanID(s.parent))
		}
		putAll(t, sp.Attributes(), s.attrs)
		for _, ev := range s.events {
			e := sp.Events().AppendEmpty()
			e.SetName("step")
			putAll(t, e.Attributes(), ev)
		}
	}
	return td
}

// recordSpec describes one log record of a test batch.
type recordSpec struct {
	trace     pcommon.TraceID
	id        byte
	attrs     map[string]any
	body      any
	eventName string
}

func buildLogs(t testing.TB, resource map[string]any, recs ...recordSpec) plog.Logs {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	putAll(t, rl.Resource().Attributes(), resource)
	sl := rl.ScopeLogs().AppendEmpty()
	for _, r := range recs {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTraceID(r.trace)
		lr.SetSpanID(spanID(r.id))
		lr.SetEventName(r.eventName)
		if r.body != nil {
			require.NoError(t, lr.Body().FromRaw(r.body))
		}
		putAll(t, lr.Attributes(), r.attrs)
	}
	return ld
}

// stepEvents lists the attributes of every span event in what a sink got,
// in order.
func spanEvents(sink *consumertest.TracesSink) []map[string]any {
	var out []map[string]any
	for _, td := range sink.AllTraces() {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					evs := spans.At(k).Events()
					for e := 0; e < evs.Len(); e++ {
						out = append(out, evs.At(e).Attributes().AsRaw())
					}
				}
			}
		}
	}
	return out
}

func logRecords(sink *consumertest.LogsSink) []map[string]any {
	var out []map[string]any
	for _, ld := range sink.AllLogs() {
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					out = append(out, lrs.At(k).Attributes().AsRaw())
				}
			}
		}
	}
	return out
}

func kinds(events []map[string]any) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i], _ = e["step.kind"].(string)
	}
	return out
}
