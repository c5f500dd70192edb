// Package stepcarry is the format in which step events travel between the
// agent and gateway tiers of a scale-out deployment (docs/scale-out.md):
// as log records, one resource per run holding only run.id, so that a
// Kafka exporter keying messages by resource attributes puts every event of
// a run in one partition. The steplogs connector writes it and the
// jsonlledger exporter's logs path reads it, so that a gateway writes the
// same ledger line for an event as a single node does.
//
// What a single-node line takes from outside the event lives in the scope
// and the record's body, never in the event's attributes (they are written
// to the line's attrs as they are):
//
//   - the scope is named ScopeName; its attributes are the producer's
//     resource attributes (service.name among them) and AttrSource;
//   - a record carried from a span event has the event's attributes, trace
//     and span ids, its time as Timestamp (0 when the producer sent none,
//     with the agent's clock in ObservedTimestamp), and a map body holding
//     the span's name and the event's index among its span's step events
//     (both are part of the single-node line and its event id);
//   - a span record (a span that holds step events, or an ancestor span
//     steproute passed on) is a record without step.kind, its trace and
//     span ids the span's, whose map body holds "rec":"span" and the
//     span's name, parent, start, end and status (PutSpan);
//   - a record carried from a log record is that record, unchanged.
package stepcarry

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const (
	// ScopeName names the instrumentation scope of carried step events.
	ScopeName = "github.com/runledger/runledger/connector/steplogs"
	// ScopeVersion is the version of this format.
	ScopeVersion = "1"
	// AttrSource is the scope attribute that says what the records were
	// on the agent: SourceSpanEvents or SourceLogRecords.
	AttrSource = "runledger.carried_from"

	// bodySpanName and bodyIndex are the keys of a carried span event's
	// body.
	bodySpanName = "span_name"
	bodyIndex    = "index"

	// The keys of a span record's body.
	bodyRec           = "rec"
	recSpan           = "span"
	bodyParent        = "parent_span_id"
	bodyStart         = "start"
	bodyEnd           = "end"
	bodyStatusCode    = "status_code"
	bodyStatusMessage = "status_message"
)

// Source is what carried records were on the agent.
type Source uint8

// Sources of carried records.
const (
	// NotCarried is a scope that is not of this format.
	NotCarried Source = iota
	// SpanEvents are records made from span events.
	SpanEvents
	// LogRecords are producers' log records passed on.
	LogRecords
)

// Values of AttrSource.
const (
	SourceSpanEvents = "span_events"
	SourceLogRecords = "log_records"
)

// SourceOf returns what the records of a scope were on the agent, or
// NotCarried for a scope of any other producer.
func SourceOf(scope pcommon.InstrumentationScope) Source {
	if scope.Name() != ScopeName {
		return NotCarried
	}
	v, ok := scope.Attributes().Get(AttrSource)
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return NotCarried
	}
	switch v.Str() {
	case SourceSpanEvents:
		return SpanEvents
	case SourceLogRecords:
		return LogRecords
	}
	return NotCarried
}

// SetScope makes scope a carried scope of src records from a producer
// resource with attributes res.
func SetScope(scope pcommon.InstrumentationScope, src Source, res pcommon.Map) {
	scope.SetName(ScopeName)
	scope.SetVersion(ScopeVersion)
	attrs := scope.Attributes()
	res.CopyTo(attrs)
	if src == SpanEvents {
		attrs.PutStr(AttrSource, SourceSpanEvents)
	} else {
		attrs.PutStr(AttrSource, SourceLogRecords)
	}
}

// PutSpanEvent writes into body what a carried span event's line needs
// besides its attributes: the span's name and the event's index among its
// span's step events.
func PutSpanEvent(body pcommon.Value, spanName string, index uint32) {
	m := body.SetEmptyMap()
	m.EnsureCapacity(2)
	m.PutStr(bodySpanName, spanName)
	m.PutInt(bodyIndex, int64(index))
}

// SpanEvent reads what PutSpanEvent wrote. A body that is not such a map
// (a hostile or foreign producer) gives an empty name and index 0, and
// ok false.
func SpanEvent(body pcommon.Value) (spanName string, index uint32, ok bool) {
	if body.Type() != pcommon.ValueTypeMap {
		return "", 0, false
	}
	m := body.Map()
	n, okName := m.Get(bodySpanName)
	i, okIndex := m.Get(bodyIndex)
	if okName && n.Type() == pcommon.ValueTypeStr {
		spanName = n.Str()
	} else {
		okName = false
	}
	if okIndex && i.Type() == pcommon.ValueTypeInt && i.Int() >= 0 && i.Int() <= int64(^uint32(0)) {
		index = uint32(i.Int())
	} else {
		okIndex = false
	}
	return spanName, index, okName && okIndex
}

// PutSpan writes into body the span record of span: what the ledger's span
// line takes from it besides its trace and span ids.
func PutSpan(body pcommon.Value, span ptrace.Span) {
	m := body.SetEmptyMap()
	m.EnsureCapacity(7)
	m.PutStr(bodyRec, recSpan)
	m.PutStr(bodySpanName, span.Name())
	if p := span.ParentSpanID(); !p.IsEmpty() {
		m.PutEmptyBytes(bodyParent).FromRaw(p[:])
	}
	m.PutInt(bodyStart, int64(span.StartTimestamp()))
	m.PutInt(bodyEnd, int64(span.EndTimestamp()))
	m.PutInt(bodyStatusCode, int64(span.Status().Code()))
	if msg := span.Status().Message(); msg != "" {
		m.PutStr(bodyStatusMessage, msg)
	}
}

// IsSpan says whether body is a span record's (PutSpan).
func IsSpan(body pcommon.Value) bool {
	if body.Type() != pcommon.ValueTypeMap {
		return false
	}
	v, ok := body.Map().Get(bodyRec)
	return ok && v.Type() == pcommon.ValueTypeStr && v.Str() == recSpan
}

// SpanInto fills span (which must be empty) with what PutSpan wrote into
// body. Values of the wrong type are left out: a hostile body gives a span
// with fewer fields, never an error.
func SpanInto(span ptrace.Span, body pcommon.Value) {
	if body.Type() != pcommon.ValueTypeMap {
		return
	}
	m := body.Map()
	if v, ok := m.Get(bodySpanName); ok && v.Type() == pcommon.ValueTypeStr {
		span.SetName(v.Str())
	}
	if v, ok := m.Get(bodyParent); ok && v.Type() == pcommon.ValueTypeBytes && v.Bytes().Len() == 8 {
		var p pcommon.SpanID
		copy(p[:], v.Bytes().AsRaw())
		span.SetParentSpanID(p)
	}
	if v, ok := m.Get(bodyStart); ok && v.Type() == pcommon.ValueTypeInt {
		span.SetStartTimestamp(pcommon.Timestamp(v.Int()))
	}
	if v, ok := m.Get(bodyEnd); ok && v.Type() == pcommon.ValueTypeInt {
		span.SetEndTimestamp(pcommon.Timestamp(v.Int()))
	}
	if v, ok := m.Get(bodyStatusCode); ok && v.Type() == pcommon.ValueTypeInt {
		switch c := ptrace.StatusCode(v.Int()); c {
		case ptrace.StatusCodeOk, ptrace.StatusCodeError:
			span.Status().SetCode(c)
		}
	}
	if v, ok := m.Get(bodyStatusMessage); ok && v.Type() == pcommon.ValueTypeStr {
		span.Status().SetMessage(v.Str())
	}
}
