package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"
)

// Span records sit in a run's ledger beside its step lines: one per span
// that carried step events of the run, or that is an ancestor of one
// (docs/design.md §2). They are told apart by "rec":"span" right after
// run_id and carry no seq, so seq stays the step counter; readers of steps
// (Read, ReadFile, the run index, torn-tail recovery) pass over them
// without counting them as skipped, and ReadSpans hands them to readers
// that want the trace shape (the report).

// RecSpan is the "rec" value of a span record.
const RecSpan = "span"

// Span statuses, as written in "status".
const (
	SpanStatusUnset = "unset"
	SpanStatusOK    = "ok"
	SpanStatusError = "error"
)

// SpanRecord is one span as stored in a ledger. Field order matches the
// on-disk key order; optional fields are omitted when empty.
type SpanRecord struct {
	V             int       `json:"v"`
	RunID         string    `json:"run_id"`
	Rec           string    `json:"rec"`
	Start         time.Time `json:"ts"`
	End           time.Time `json:"end"`
	TraceID       string    `json:"trace_id"`
	SpanID        string    `json:"span_id"`
	ParentSpanID  string    `json:"parent_span_id,omitempty"`
	Name          string    `json:"span_name"`
	Service       string    `json:"service,omitempty"`
	Status        string    `json:"status"`
	StatusMessage string    `json:"status_message,omitempty"`
	EventID       string    `json:"event_id,omitempty"`
}

// SpanEventID is the event id of the span record of a span: stable across
// redeliveries, so the writer's dedupe keeps one record per span, and apart
// from every step event id (no step has this time, kind and index).
func SpanEventID(traceID [16]byte, spanID [8]byte) EventID {
	return NewEventID(traceID, spanID, math.MaxUint64, "\x00span", math.MaxUint32)
}

// AppendSpanTail appends the tail of s's record (everything after run_id,
// see Entry.Tail) to dst: `,"rec":"span","ts":...}`. Times are written as
// the step encoder writes ts; a zero End is written as the Start.
func AppendSpanTail(dst []byte, s *SpanRecord) []byte {
	b := append(dst, `,"rec":"span","ts":`...)
	b = appendTime(b, s.Start)
	b = append(b, `,"end":`...)
	end := s.End
	if end.IsZero() {
		end = s.Start
	}
	b = appendTime(b, end)
	b = append(b, `,"trace_id":`...)
	b = AppendString(b, s.TraceID)
	b = append(b, `,"span_id":`...)
	b = AppendString(b, s.SpanID)
	b = AppendOptString(b, `,"parent_span_id":`, s.ParentSpanID)
	b = append(b, `,"span_name":`...)
	b = AppendString(b, s.Name)
	b = AppendOptString(b, `,"service":`, s.Service)
	b = append(b, `,"status":`...)
	status := s.Status
	if status == "" {
		status = SpanStatusUnset
	}
	b = AppendString(b, status)
	b = AppendOptString(b, `,"status_message":`, s.StatusMessage)
	b = AppendOptString(b, `,"event_id":`, s.EventID)
	return append(b, '}')
}

// AppendSpan appends s as one ledger line (no trailing newline) to dst.
func AppendSpan(dst []byte, s *SpanRecord) []byte {
	b := append(dst, canonicalHead...)
	b = AppendString(b, s.RunID)
	return AppendSpanTail(b, s)
}

// isSpanLine reports whether a line is a span record as the writer writes
// it: the canonical head, the run id, then "rec":"span". A step line
// cannot look like this (its run id is followed by seq), whatever its
// attributes hold.
func isSpanLine(b []byte) bool {
	if !canonicalStart(b) {
		return false
	}
	d := fastDecoder{b: b, s: unsafe.String(unsafe.SliceData(b), len(b)), i: len(canonicalHead), scan: true}
	if _, ok := d.strKeep(false); !ok {
		return false
	}
	return d.lit(`,"rec":"span"`)
}

// ErrInvalidSpan is returned by DecodeSpan for a line that is not a span
// record.
var ErrInvalidSpan = errors.New("not a v1 span record")

// DecodeSpan parses one span record line (without its newline): the
// canonical form the encoder writes without reflection (s's strings share
// one copy of b), anything else with encoding/json.
func DecodeSpan(b []byte, s *SpanRecord) error {
	*s = SpanRecord{}
	if decodeSpanFast(b, s) {
		return nil
	}
	*s = SpanRecord{}
	if err := json.Unmarshal(b, s); err != nil {
		*s = SpanRecord{}
		return fmt.Errorf("span record: %w", err)
	}
	if s.V != Version || s.RunID == "" || s.Rec != RecSpan || s.SpanID == "" {
		*s = SpanRecord{}
		return ErrInvalidSpan
	}
	return nil
}

// decodeSpanFast decodes a span record in the encoder's canonical form.
func decodeSpanFast(b []byte, s *SpanRecord) bool {
	if !canonicalStart(b) {
		return false
	}
	d := fastDecoder{b: b, s: string(b), i: len(canonicalHead)}
	var ok bool
	if s.RunID, ok = d.str(); !ok || !d.lit(`,"rec":"span","ts":`) || !d.ts(&s.Start) ||
		!d.lit(`,"end":`) || !d.ts(&s.End) || !d.lit(`,"trace_id":`) {
		return false
	}
	if s.TraceID, ok = d.str(); !ok || !d.lit(`,"span_id":`) {
		return false
	}
	if s.SpanID, ok = d.str(); !ok {
		return false
	}
	opt := func(key string, dst *string) bool {
		if !d.lit(key) {
			return true
		}
		*dst, ok = d.str()
		return ok
	}
	if !opt(`,"parent_span_id":`, &s.ParentSpanID) || !d.lit(`,"span_name":`) {
		return false
	}
	if s.Name, ok = d.str(); !ok || !opt(`,"service":`, &s.Service) || !d.lit(`,"status":`) {
		return false
	}
	if s.Status, ok = d.str(); !ok || !opt(`,"status_message":`, &s.StatusMessage) || !opt(`,"event_id":`, &s.EventID) {
		return false
	}
	if d.i != len(b)-1 || s.SpanID == "" || s.RunID == "" {
		return false
	}
	s.V, s.Rec = Version, RecSpan
	return true
}
