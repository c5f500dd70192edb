package jsonlledger

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/internal/stepschema/stepattrs"
)

// This file maps pdata to ledger lines (as contrib's fileexporter has its
// marshaller): the ledger package knows only the format and the writer only
// bytes, so the pdata knowledge lives here, next to the code that reads the
// OTLP data.

// event is one step event seen through its pdata, so that a ledger line can
// be encoded straight from the OTLP data without building a ledger.Line.
// appendTraceEvents and appendLogEvents fill it from a span event or a log
// record.
type event struct {
	// RunID is the resolved run id; it picks the ledger file and is written
	// as run_id unchanged.
	RunID string
	// Kind is the non-empty step.kind.
	Kind string
	// Time is the event time written as ts (the ingestion time when the
	// producer sent none); the run's date folder comes from its first event.
	Time pcommon.Timestamp
	// Attributes are the event's (or log record's) attributes: step.* keys
	// fill the line's fields, run.id is dropped, everything else lands in
	// attrs.
	Attributes pcommon.Map
	// Body is a log record's body: its string is the detail when
	// Attributes has no step.detail. The zero Value (a span event) has none.
	Body pcommon.Value
	// TraceID and SpanID are written as hex when not empty.
	TraceID pcommon.TraceID
	SpanID  pcommon.SpanID
	// SpanName is the enclosing span's name (span events only).
	SpanName string
	// Service is the resource's service.name.
	Service string
	// ID is the event id, see ledger.NewEventID.
	ID ledger.EventID
	// Span, when IsSpan, makes this the span record of Span (SpanRecord):
	// Kind and Attributes are then unused.
	Span   ptrace.Span
	IsSpan bool
}

// maxSpanText bounds a span record's name and status message: they repeat
// the span, not step data, and a hostile span must not make a line the
// readers skip.
const maxSpanText = 4 << 10

// renderEntries appends the ledger entry of each of evs to entries, their
// tails rendered into buf, and returns both grown. A tail stays valid when a
// later one makes buf grow (it keeps the old array), so one buffer per call
// serves every event without an allocation per event. st is scratch space
// for the parsed step, reused from call to call for the same reason.
func renderEntries(entries []ledger.Entry, buf []byte, evs []event, st *stepattrs.Step) ([]ledger.Entry, []byte) {
	for i := range evs {
		e := &evs[i]
		start := len(buf)
		if e.IsSpan {
			buf = appendSpanTail(buf, e)
			entries = append(entries, ledger.Entry{
				RunID: e.RunID, ID: e.ID, Time: int64(e.Time), Service: e.Service, Span: true,
				Tail: buf[start:len(buf):len(buf)],
			})
			continue
		}
		buf = appendTail(buf, e, st)
		entries = append(entries, ledger.Entry{
			RunID: e.RunID, ID: e.ID, Time: int64(e.Time),
			Kind: e.Kind, Status: st.Status, ErrorCode: st.ErrorCode, Service: e.Service,
			Tail: buf[start:len(buf):len(buf)],
		})
	}
	return entries, buf
}

// noBody is the body of a span event, which has none; stepattrs only reads
// it.
var noBody = pcommon.NewValueEmpty()

// appendTail appends the line of e after its seq (from `,"ts":` to the
// closing brace, see ledger.Entry) to dst and returns it, with the step it
// read left in st. It does not allocate when dst has room and st has room
// for the sizes and resources, except for attribute values that are not
// strings, numbers or booleans under step.error.code or step.resource.*.
//
// The step fields follow the rules of the contract as stepattrs reads them
// (with no limits and no status aliases): a status the contract does not
// know is written as ok with the original in attrs.status_raw, durations and
// sizes that are not finite numbers are dropped, resources are strings, and
// "step." attributes the contract does not define are not written. run.id
// is the line's run_id, so it is not repeated in attrs; every other
// attribute lands there.
func appendTail(dst []byte, e *event, st *stepattrs.Step) []byte {
	body := e.Body
	if body == (pcommon.Value{}) {
		body = noBody
	}
	fx := stepattrs.ParseInto(st, e.Attributes, body, stepattrs.Limits{})
	// The status rule made status_raw now (rather than the processor
	// before): it leads attrs and replaces any status_raw attribute.
	rawNow := fx[stepschema.FixStatusUnknown] > 0

	b := append(dst, `,"ts":"`...)
	b = time.Unix(0, int64(e.Time)).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","kind":`...)
	b = ledger.AppendString(b, e.Kind)
	b = append(b, `,"status":`...)
	b = ledger.AppendString(b, st.Status)
	b = ledger.AppendOptString(b, `,"error_code":`, st.ErrorCode)
	b = ledger.AppendOptString(b, `,"detail":`, st.Detail)
	if st.HasDuration {
		b = append(b, `,"duration_ms":`...)
		b = ledger.AppendFloat(b, st.DurationMS)
	}
	first := true
	for _, sz := range st.Sizes {
		b = ledger.AppendMemberKey(b, `,"sizes":{`, sz.Name, &first)
		if sz.IsInt {
			b = strconv.AppendInt(b, sz.Int, 10)
		} else {
			b = ledger.AppendFloat(b, sz.Float)
		}
	}
	if !first {
		b = append(b, '}')
	}
	first = true
	for _, r := range st.Resources {
		b = ledger.AppendMemberKey(b, `,"resources":{`, r.Name, &first)
		b = ledger.AppendString(b, r.Value)
	}
	if !first {
		b = append(b, '}')
	}
	first = true
	if rawNow {
		b = ledger.AppendMemberKey(b, `,"attrs":{`, stepschema.AttrStatusRaw, &first)
		b = ledger.AppendString(b, st.StatusRaw)
	}
	for k, v := range e.Attributes.All() {
		switch stepschema.Lookup(k).Field {
		case stepschema.FieldStatusRaw:
			if rawNow {
				continue
			}
		case stepschema.FieldOther, stepschema.FieldDetailTruncated, stepschema.FieldAttributesDropped:
		default:
			continue // a step field, or run.id
		}
		b = ledger.AppendMemberKey(b, `,"attrs":{`, k, &first)
		b = appendValue(b, v, 0)
	}
	if !first {
		b = append(b, '}')
	}
	if !e.TraceID.IsEmpty() {
		b = append(b, `,"trace_id":"`...)
		b = hex.AppendEncode(b, e.TraceID[:])
		b = append(b, '"')
	}
	if !e.SpanID.IsEmpty() {
		b = append(b, `,"span_id":"`...)
		b = hex.AppendEncode(b, e.SpanID[:])
		b = append(b, '"')
	}
	b = ledger.AppendOptString(b, `,"span_name":`, e.SpanName)
	b = ledger.AppendOptString(b, `,"service":`, e.Service)
	b = append(b, `,"event_id":"`...)
	b = ledger.AppendEventID(b, e.ID)
	return append(b, `"}`...)
}

// appendSpanTail appends the span record tail of e.Span (see
// ledger.AppendSpanTail, whose format it writes straight from pdata).
func appendSpanTail(dst []byte, e *event) []byte {
	span := e.Span
	b := append(dst, `,"rec":"span","ts":"`...)
	start, end := span.StartTimestamp(), span.EndTimestamp()
	if start == 0 {
		start = e.Time
	}
	if end < start {
		end = start
	}
	b = time.Unix(0, int64(start)).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","end":"`...)
	b = time.Unix(0, int64(end)).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","trace_id":"`...)
	b = hex.AppendEncode(b, e.TraceID[:])
	b = append(b, `","span_id":"`...)
	b = hex.AppendEncode(b, e.SpanID[:])
	b = append(b, '"')
	if p := span.ParentSpanID(); !p.IsEmpty() {
		b = append(b, `,"parent_span_id":"`...)
		b = hex.AppendEncode(b, p[:])
		b = append(b, '"')
	}
	name, _ := stepschema.TruncateUTF8(span.Name(), maxSpanText)
	b = append(b, `,"span_name":`...)
	b = ledger.AppendString(b, name)
	b = ledger.AppendOptString(b, `,"service":`, e.Service)
	b = append(b, `,"status":`...)
	switch span.Status().Code() {
	case ptrace.StatusCodeError:
		b = ledger.AppendString(b, ledger.SpanStatusError)
	case ptrace.StatusCodeOk:
		b = ledger.AppendString(b, ledger.SpanStatusOK)
	default:
		b = ledger.AppendString(b, ledger.SpanStatusUnset)
	}
	msg, _ := stepschema.TruncateUTF8(span.Status().Message(), maxSpanText)
	b = ledger.AppendOptString(b, `,"status_message":`, msg)
	b = append(b, `,"event_id":"`...)
	b = ledger.AppendEventID(b, e.ID)
	return append(b, `"}`...)
}

// appendValue writes a pdata value as JSON: strings, ints, doubles (NaN and
// infinities as strings), bools, null for empty, base64 strings for bytes,
// objects and arrays for maps and slices.
func appendValue(b []byte, v pcommon.Value, depth int) []byte {
	if depth > ledger.MaxDepth {
		return append(b, "null"...)
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return ledger.AppendString(b, v.Str())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(b, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		return ledger.AppendNumber(b, v.Double())
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(b, v.Bool())
	case pcommon.ValueTypeBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes().AsRaw())
		return append(b, '"')
	case pcommon.ValueTypeMap:
		b = append(b, '{')
		first := true
		for k, e := range v.Map().All() {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = ledger.AppendString(b, k)
			b = append(b, ':')
			b = appendValue(b, e, depth+1)
		}
		return append(b, '}')
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		b = append(b, '[')
		for i := 0; i < s.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, s.At(i), depth+1)
		}
		return append(b, ']')
	}
	return append(b, "null"...)
}
