package steproute

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// exceptionSpan is a span of trace 1 with attrs, the given status and the
// events (name, attributes).
type exceptionSpan struct {
	id     byte
	attrs  map[string]any
	status ptrace.StatusCode
	msg    string
	events []namedEvent
}

type namedEvent struct {
	name  string
	attrs map[string]any
}

func exceptionTraces(t *testing.T, resource map[string]any, spans ...exceptionSpan) ptrace.Traces {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	putAll(t, rs.Resource().Attributes(), resource)
	ss := rs.ScopeSpans().AppendEmpty()
	for _, s := range spans {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(traceID(1))
		sp.SetSpanID(spanID(s.id))
		sp.SetName("op")
		sp.SetStartTimestamp(1000)
		sp.SetEndTimestamp(2000)
		sp.Status().SetCode(s.status)
		sp.Status().SetMessage(s.msg)
		putAll(t, sp.Attributes(), s.attrs)
		for _, ev := range s.events {
			e := sp.Events().AppendEmpty()
			e.SetName(ev.name)
			e.SetTimestamp(1500)
			putAll(t, e.Attributes(), ev.attrs)
		}
	}
	return td
}

func recorded(typ, msg string) namedEvent {
	return namedEvent{name: "exception", attrs: map[string]any{
		"exception.type": typ, "exception.message": msg, "exception.stacktrace": "goroutine 1:\nmain.main()",
	}}
}

func TestExceptionsBecomeFailedSteps(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      func(*Config)
		resource map[string]any
		spans    []exceptionSpan
		want     []map[string]any
	}{
		{
			name:     "RecordException on a span of a known run (session.id on the resource)",
			resource: map[string]any{"session.id": "s-1"},
			spans:    []exceptionSpan{{id: 1, events: []namedEvent{recorded("*net.OpError", "dial tcp: refused")}}},
			want: []map[string]any{{
				"exception.type": "*net.OpError", "step.kind": "exception", "step.status": "failed",
				"step.error.code": "*net.OpError", "step.detail": "dial tcp: refused", "stacktrace": "goroutine 1:\nmain.main()",
				"run.id": "s-1", "run_key": "session.id",
			}},
		},
		{
			name: "on a span whose sibling in the batch names the run (trace memory)",
			spans: []exceptionSpan{
				{id: 2, events: []namedEvent{recorded("ValueError", "bad")}},
				{id: 1, attrs: map[string]any{"session.id": "s-2"}},
			},
			want: []map[string]any{{
				"exception.type": "ValueError", "step.kind": "exception", "step.status": "failed",
				"step.error.code": "ValueError", "step.detail": "bad", "stacktrace": "goroutine 1:\nmain.main()", "run.id": "s-2",
			}},
		},
		{
			name:     "stage of the span's step events gives <stage>.exception; a step event named exception counts once",
			resource: map[string]any{"run.id": "r"},
			spans: []exceptionSpan{{id: 1, events: []namedEvent{
				{name: "step", attrs: map[string]any{"step.kind": "embed.vllm", "step.status": "ok"}},
				{name: "exception", attrs: map[string]any{"step.kind": "embed.error", "step.status": "failed", "exception.type": "OOM"}},
				recorded("OOMError", "CUDA out of memory"),
			}}},
			want: []map[string]any{
				{"step.kind": "embed.vllm", "step.status": "ok", "run.id": "r"},
				{"step.kind": "embed.error", "step.status": "failed", "exception.type": "OOM", "run.id": "r"},
				{
					"exception.type": "OOMError", "step.kind": "embed.exception", "step.status": "failed",
					"step.error.code": "OOMError", "step.detail": "CUDA out of memory", "stacktrace": "goroutine 1:\nmain.main()", "run.id": "r",
				},
			},
		},
		{
			name:     "error span with exception attributes and no exception event",
			resource: map[string]any{"run.id": "r"},
			spans: []exceptionSpan{{
				id: 1, status: ptrace.StatusCodeError, msg: "status text",
				attrs: map[string]any{"exception.type": "TimeoutError"},
			}},
			want: []map[string]any{{
				"exception.type": "TimeoutError", "step.kind": "exception", "step.status": "failed",
				"step.error.code": "TimeoutError", "step.detail": "status text", "run.id": "r",
			}},
		},
		{
			name:     "error span without exception attributes is not a step",
			resource: map[string]any{"run.id": "r"},
			spans:    []exceptionSpan{{id: 1, status: ptrace.StatusCodeError, msg: "boom"}},
		},
		{
			name:  "exception on a span of no known run is noise",
			spans: []exceptionSpan{{id: 1, events: []namedEvent{recorded("E", "m")}}},
		},
		{
			name: "capture_exceptions: false", cfg: func(c *Config) { c.CaptureExceptions = false },
			resource: map[string]any{"run.id": "r"},
			spans:    []exceptionSpan{{id: 1, events: []namedEvent{recorded("E", "m")}}},
		},
		{
			name: "huge stack trace cut as details are", cfg: func(c *Config) { c.MaxDetailBytes = 8 },
			resource: map[string]any{"run.id": "r"},
			spans: []exceptionSpan{{id: 1, events: []namedEvent{{name: "exception", attrs: map[string]any{
				"exception.type": "E", "exception.stacktrace": strings.Repeat("frame\n", 100000),
			}}}}},
			want: []map[string]any{{
				"exception.type": "E", "step.kind": "exception", "step.status": "failed", "step.error.code": "E",
				"stacktrace": "frame\nfr", "stacktrace_truncated": true, "run.id": "r",
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(tc.cfg)
			p := newPipelines(t, cfg, nopSettings())
			require.NoError(t, p.traces.ConsumeTraces(context.Background(), exceptionTraces(t, tc.resource, tc.spans...)))
			got := spanEvents(p.tsink)
			if tc.want == nil {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, tc.want, got)
			for _, e := range got {
				assert.NoError(t, checkNormalised(e, cfg))
			}
		})
	}
}

// An exception on a span that waits in the hold with its step events goes
// to the run that arrives later, with them.
func TestHeldExceptionReachesTheLaterRun(t *testing.T) {
	p := newPipelines(t, waitConfig(time.Hour, nil), nopSettings())
	ctx := context.Background()
	require.NoError(t, p.traces.ConsumeTraces(ctx, exceptionTraces(t, nil, exceptionSpan{id: 2, events: []namedEvent{
		{name: "step", attrs: map[string]any{"step.kind": "ann.faiss.search", "step.status": "started"}},
		recorded("IndexError", "no such index"),
	}})))
	assert.Empty(t, spanEvents(p.tsink), "held: no run id yet")
	require.NoError(t, p.traces.ConsumeTraces(ctx, exceptionTraces(t, nil, exceptionSpan{id: 1, attrs: map[string]any{"session.id": "s-late"}})))
	got := spanEvents(p.tsink)
	require.Len(t, got, 2)
	assert.Equal(t, "ann.exception", got[1]["step.kind"])
	assert.Equal(t, "IndexError", got[1]["step.error.code"])
	for _, e := range got {
		assert.Equal(t, "s-late", e["run.id"])
	}
}
