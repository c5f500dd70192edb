package steproute

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/internal/stepschema"
)

// captureExceptions turns the exceptions recorded on span into failed step
// events (capture_exceptions), before the span's events are filtered: a
// span event named "exception" without a step kind (what an SDK's
// RecordException writes), or, when the span has no such event, an error
// status with exception.* attributes on the span itself (a new event at the
// span's end). It does so only on a span of a known run: one with step
// events of its own (held with them if need be), or whose span, resource or
// trace names a run; an exception elsewhere is the noise of some other
// service and would only make a fallback run.
//
// The common span has no exception: one pass over event names and the
// status decides that without reading an attribute.
func (c *core) captureExceptions(b *batch, span ptrace.Span, resID string) {
	events := span.Events()
	excEvent := false
	for i := 0; i < events.Len(); i++ {
		if events.At(i).Name() == stepschema.EventNameException {
			excEvent = true
			break
		}
	}
	spanExc := !excEvent && span.Status().Code() == ptrace.StatusCodeError && hasException(span.Attributes())
	if !excEvent && !spanExc {
		return
	}
	n := &c.norm
	// The stage of the span's step events, "" when none or several.
	stage, steps, several := "", 0, false
	for i := 0; i < events.Len(); i++ {
		k := n.eventKind(events.At(i).Attributes())
		if k == "" {
			continue
		}
		steps++
		if k == stepschema.KindRunStart || k == stepschema.KindRunEnd {
			continue
		}
		st, _, _ := strings.Cut(k, ".")
		switch {
		case stage == "":
			stage = st
		case stage != st:
			several = true
		}
	}
	if steps == 0 && resID == "" && n.runID(span.Attributes()) == "" && b.lookup(span.TraceID()) == "" {
		return
	}
	kind := stepschema.KindException
	if stage != "" && !several {
		kind = stage + "." + stepschema.KindException
	}
	if spanExc {
		ev := events.AppendEmpty()
		ev.SetName(stepschema.EventNameException)
		ts := span.EndTimestamp()
		if ts == 0 {
			ts = span.StartTimestamp()
		}
		ev.SetTimestamp(ts)
		m := ev.Attributes()
		for _, k := range []string{stepschema.AttrExceptionType, stepschema.AttrExceptionMessage, stepschema.AttrExceptionStacktrace} {
			if v, ok := span.Attributes().Get(k); ok {
				v.CopyTo(m.PutEmpty(k))
			}
		}
		if _, ok := m.Get(stepschema.AttrExceptionMessage); !ok && span.Status().Message() != "" {
			m.PutStr(stepschema.AttrExceptionMessage, span.Status().Message())
		}
		c.exceptionStep(m, kind)
		return
	}
	for i := 0; i < events.Len(); i++ {
		ev := events.At(i)
		// An exception event that is a step event already is counted once,
		// as the step it says it is.
		if ev.Name() == stepschema.EventNameException && n.eventKind(ev.Attributes()) == "" {
			c.exceptionStep(ev.Attributes(), kind)
		}
	}
}

// hasException reports whether m carries exception.type or
// exception.message (the semantic conventions require one of them).
func hasException(m pcommon.Map) bool {
	_, t := m.Get(stepschema.AttrExceptionType)
	_, msg := m.Get(stepschema.AttrExceptionMessage)
	return t || msg
}

// exceptionStep rewrites the attributes of an exception event as a failed
// step of the given kind: error code = exception.type, detail =
// exception.message, the stack trace under "stacktrace", cut as details
// are. The message and stack trace are moved, not copied: they can be
// large. Normalisation follows as for any step event.
func (c *core) exceptionStep(m pcommon.Map, kind string) {
	m.PutStr(c.norm.kindAttr, kind)
	m.PutStr(stepschema.AttrStatus, stepschema.StatusFailed)
	if _, ok := m.Get(stepschema.AttrErrorCode); !ok {
		if v, ok := m.Get(stepschema.AttrExceptionType); ok && v.AsString() != "" {
			m.PutStr(stepschema.AttrErrorCode, v.AsString())
		}
	}
	if v, ok := m.Get(stepschema.AttrExceptionMessage); ok {
		if _, has := m.Get(stepschema.AttrDetail); !has {
			m.PutStr(stepschema.AttrDetail, v.AsString())
		}
		m.Remove(stepschema.AttrExceptionMessage)
	}
	if v, ok := m.Get(stepschema.AttrExceptionStacktrace); ok {
		st, cut := stepschema.TruncateUTF8(v.AsString(), c.cfg.MaxDetailBytes)
		m.PutStr(stepschema.AttrStacktrace, st)
		if cut {
			m.PutBool(stepschema.AttrStacktrace+"_truncated", true)
		}
		m.Remove(stepschema.AttrExceptionStacktrace)
	}
}
