package jsonlledger

import (
	"encoding/base64"
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/stepschema"
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
	// Body is the detail used when Attributes has no step.detail (a log
	// record's string body).
	Body string
	// TraceID and SpanID are written as hex when not empty.
	TraceID pcommon.TraceID
	SpanID  pcommon.SpanID
	// SpanName is the enclosing span's name (span events only).
	SpanName string
	// Service is the resource's service.name.
	Service string
	// ID is the event id, see ledger.NewEventID.
	ID ledger.EventID
}

// renderEntries appends the ledger entry of each of evs to entries, their
// tails rendered into buf, and returns both grown. A tail stays valid when a
// later one makes buf grow (it keeps the old array), so one buffer per call
// serves every event without an allocation per event.
func renderEntries(entries []ledger.Entry, buf []byte, evs []event) ([]ledger.Entry, []byte) {
	for i := range evs {
		e := &evs[i]
		start := len(buf)
		var status string
		buf, status = appendTail(buf, e)
		entries = append(entries, ledger.Entry{
			RunID: e.RunID, ID: e.ID, Time: int64(e.Time),
			Kind: e.Kind, Status: status, Service: e.Service,
			Tail: buf[start:len(buf):len(buf)],
		})
	}
	return entries, buf
}

// appendTail appends the line of e after its seq (from `,"ts":` to the
// closing brace, see ledger.Entry) to dst and returns it with the status it
// wrote. It does not allocate when dst has room, except for attribute values
// that are not strings, numbers or booleans under step.error.code or
// step.resource.*.
//
// Field mapping: step.status must be one of the contract's statuses (absent
// means ok; anything else is written as ok and the original kept in
// attrs.status_raw); step.duration_ms and step.size.* take int, double or a
// numeric string (other values, NaN and infinities are dropped);
// step.resource.* values are written as strings; attributes starting with
// "step." that the contract does not define are dropped.
func appendTail(dst []byte, e *event) ([]byte, string) {
	attrs := e.Attributes
	var (
		status, errCode, detail string
		statusRaw               pcommon.Value
		hasStatusRaw            bool
		dur                     pcommon.Value
		hasDur                  bool
		nSizes, nRes, nAttrs    int
	)
	for k, v := range attrs.All() {
		if !strings.HasPrefix(k, "step.") {
			if k != stepschema.AttrRunID {
				nAttrs++
			}
			continue
		}
		switch k {
		case stepschema.AttrKind:
		case stepschema.AttrStatus:
			if v.Type() == pcommon.ValueTypeStr && stepschema.ValidStatus(v.Str()) {
				status = v.Str()
			} else {
				statusRaw, hasStatusRaw = v, true
			}
		case stepschema.AttrErrorCode:
			errCode = valueString(v)
		case stepschema.AttrDetail:
			detail = valueString(v)
		case stepschema.AttrDurationMS:
			dur, hasDur = v, true
		default:
			if strings.HasPrefix(k, stepschema.PrefixSize) {
				nSizes++
			} else if strings.HasPrefix(k, stepschema.PrefixResource) {
				nRes++
			}
		}
	}
	if status == "" {
		status = stepschema.StatusOK
	}
	if detail == "" {
		detail = e.Body
	}

	b := append(dst, `,"ts":"`...)
	b = time.Unix(0, int64(e.Time)).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","kind":`...)
	b = ledger.AppendString(b, e.Kind)
	b = append(b, `,"status":`...)
	b = ledger.AppendString(b, status)
	if errCode != "" {
		b = append(b, `,"error_code":`...)
		b = ledger.AppendString(b, errCode)
	}
	if detail != "" {
		b = append(b, `,"detail":`...)
		b = ledger.AppendString(b, detail)
	}
	if hasDur {
		if f, isInt, i, ok := numeric(dur); ok {
			b = append(b, `,"duration_ms":`...)
			if isInt {
				b = strconv.AppendInt(b, i, 10)
			} else {
				b = ledger.AppendFloat(b, f)
			}
		}
	}
	if nSizes > 0 {
		first := true
		for k, v := range attrs.All() {
			if !strings.HasPrefix(k, stepschema.PrefixSize) {
				continue
			}
			f, isInt, i, ok := numeric(v)
			if !ok {
				continue
			}
			b = ledger.AppendMemberKey(b, `,"sizes":{`, k[len(stepschema.PrefixSize):], &first)
			if isInt {
				b = strconv.AppendInt(b, i, 10)
			} else {
				b = ledger.AppendFloat(b, f)
			}
		}
		if !first {
			b = append(b, '}')
		}
	}
	if nRes > 0 {
		first := true
		for k, v := range attrs.All() {
			if !strings.HasPrefix(k, stepschema.PrefixResource) {
				continue
			}
			b = ledger.AppendMemberKey(b, `,"resources":{`, k[len(stepschema.PrefixResource):], &first)
			b = ledger.AppendString(b, valueString(v))
		}
		b = append(b, '}')
	}
	if nAttrs > 0 || hasStatusRaw {
		b = append(b, `,"attrs":{`...)
		first := true
		if hasStatusRaw {
			b = ledger.AppendString(b, stepschema.AttrStatusRaw)
			b = append(b, ':')
			b = ledger.AppendString(b, valueString(statusRaw))
			first = false
		}
		if nAttrs > 0 {
			for k, v := range attrs.All() {
				if strings.HasPrefix(k, "step.") || k == stepschema.AttrRunID {
					continue
				}
				if hasStatusRaw && k == stepschema.AttrStatusRaw {
					continue
				}
				if !first {
					b = append(b, ',')
				}
				first = false
				b = ledger.AppendString(b, k)
				b = append(b, ':')
				b = appendValue(b, v, 0)
			}
		}
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
	return append(b, `"}`...), status
}

// strAttr returns a non-empty string attribute, or "".
func strAttr(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// kindAndRun returns the string attributes step.kind and run.id in one pass.
func kindAndRun(m pcommon.Map) (kind, run string) {
	for k, v := range m.All() {
		switch k {
		case stepschema.AttrKind:
			if v.Type() == pcommon.ValueTypeStr {
				kind = v.Str()
			}
		case stepschema.AttrRunID:
			if v.Type() == pcommon.ValueTypeStr {
				run = v.Str()
			}
		}
	}
	return kind, run
}

func fallbackRunID(tid pcommon.TraceID) string {
	if tid.IsEmpty() {
		return unknownRunID
	}
	return "trace-" + hex.EncodeToString(tid[:])
}

// numeric reads an int, a finite double or a numeric string.
func numeric(v pcommon.Value) (f float64, isInt bool, i int64, ok bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return 0, true, v.Int(), true
	case pcommon.ValueTypeDouble:
		f = v.Double()
		return f, false, 0, finite(f)
	case pcommon.ValueTypeStr:
		s := strings.TrimSpace(v.Str())
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return 0, true, i, true
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && finite(f) {
			return f, false, 0, true
		}
	}
	return 0, false, 0, false
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// valueString returns a string value as it is and any other value in its
// pdata string form (which allocates).
func valueString(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	if v.Type() == pcommon.ValueTypeEmpty {
		return ""
	}
	return v.AsString()
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
