package e2e

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// step is one step event as a producer sends it.
type step struct {
	kind, status, detail, code string
	at                         time.Time
	durationMS                 float64
	sizes                      map[string]int64
	resources                  map[string]string
	attrs                      map[string]any
	runID                      string // event-level run.id, usually empty
}

// span is a span carrying step events.
type span struct {
	name    string
	traceID pcommon.TraceID
	spanID  pcommon.SpanID
	parent  pcommon.SpanID
	runID   string // span attribute run.id
	steps   []step
}

func traceID(b byte) pcommon.TraceID {
	return pcommon.TraceID{b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
}

func spanID(b byte) pcommon.SpanID { return pcommon.SpanID{b, 1, 2, 3, 4, 5, 6, 7} }

func putStep(m pcommon.Map, s step) {
	m.PutStr("step.kind", s.kind)
	if s.status != "" {
		m.PutStr("step.status", s.status)
	}
	if s.detail != "" {
		m.PutStr("step.detail", s.detail)
	}
	if s.code != "" {
		m.PutStr("step.error.code", s.code)
	}
	if s.durationMS != 0 {
		m.PutDouble("step.duration_ms", s.durationMS)
	}
	for k, v := range s.sizes {
		m.PutInt("step.size."+k, v)
	}
	for k, v := range s.resources {
		m.PutStr("step.resource."+k, v)
	}
	for k, v := range s.attrs {
		_ = m.PutEmpty(k).FromRaw(v)
	}
	if s.runID != "" {
		m.PutStr("run.id", s.runID)
	}
}

// traces builds one resource (service) with the given spans.
func traces(service string, spans ...span) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty()
	for _, sp := range spans {
		s := ss.Spans().AppendEmpty()
		s.SetName(sp.name)
		s.SetTraceID(sp.traceID)
		s.SetSpanID(sp.spanID)
		s.SetParentSpanID(sp.parent)
		var start time.Time
		if len(sp.steps) > 0 {
			start = sp.steps[0].at
		}
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Second)))
		if sp.runID != "" {
			s.Attributes().PutStr("run.id", sp.runID)
		}
		for _, st := range sp.steps {
			ev := s.Events().AppendEmpty()
			ev.SetName(st.kind)
			ev.SetTimestamp(pcommon.NewTimestampFromTime(st.at))
			putStep(ev.Attributes(), st)
		}
	}
	return td
}

// logs builds log-based step events correlated with the given span.
func logs(service string, sp span) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	sl := rl.ScopeLogs().AppendEmpty()
	for _, st := range sp.steps {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTraceID(sp.traceID)
		lr.SetSpanID(sp.spanID)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(st.at))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(st.at))
		detail := st.detail
		st.detail = ""
		putStep(lr.Attributes(), st)
		if sp.runID != "" && st.runID == "" {
			lr.Attributes().PutStr("run.id", sp.runID)
		}
		if detail != "" {
			lr.Body().SetStr(detail)
		}
	}
	return ld
}

func ptraceotlpMarshal(td ptrace.Traces) ([]byte, error) {
	return ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
}
