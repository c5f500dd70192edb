// Package ledger is the one place that knows the on-disk ledger format
// (docs/design.md §2): the line schema, its encoding and decoding, where a
// run's file lives, how to read a ledger back and how to repair a torn last
// line. It is the format only, with no collector dependency (no pdata, no
// zap), so the CLI and the TUI can read ledgers without linking the
// collector. The writer that appends to ledgers is internal/ledgerstore; the
// jsonlledger exporter renders pdata into Entry values for it.
package ledger

import (
	"errors"
	"time"
)

// Version is the ledger line schema version written in "v".
const Version = 1

// Line is one step event as stored in a ledger. Field order matches the
// on-disk key order; optional fields are omitted when zero.
type Line struct {
	V          int                `json:"v"`
	RunID      string             `json:"run_id"`
	Seq        uint64             `json:"seq"`
	TS         time.Time          `json:"ts"`
	Kind       string             `json:"kind"`
	Status     string             `json:"status"`
	ErrorCode  string             `json:"error_code,omitempty"`
	Detail     string             `json:"detail,omitempty"`
	DurationMS *float64           `json:"duration_ms,omitempty"`
	Sizes      map[string]float64 `json:"sizes,omitempty"`
	Resources  map[string]string  `json:"resources,omitempty"`
	Attrs      map[string]any     `json:"attrs,omitempty"`
	TraceID    string             `json:"trace_id,omitempty"`
	SpanID     string             `json:"span_id,omitempty"`
	SpanName   string             `json:"span_name,omitempty"`
	Service    string             `json:"service,omitempty"`
	EventID    string             `json:"event_id,omitempty"`
}

// ErrInvalidLine is returned by DecodeLine for JSON that is not a v1 line.
var ErrInvalidLine = errors.New("not a v1 ledger line")

// DecodeLine parses one ledger line (without its newline) into l. It
// accepts what encoding/json would unmarshal into a Line, with the same
// result, but without reflection and with few allocations: l gets new maps,
// and its strings share one copy of b. On a syntax or type error l is left
// zero; a line that is JSON but not a v1 line gives ErrInvalidLine.
func DecodeLine(b []byte, l *Line) error { return decodeChecked(b, l, false) }

// decodeSummary is DecodeLine without detail, sizes, resources and attrs.
func decodeSummary(b []byte, l *Line) error { return decodeChecked(b, l, true) }

func decodeChecked(b []byte, l *Line, summary bool) error {
	*l = Line{}
	if err := decodeLineMode(b, l, summary); err != nil {
		*l = Line{}
		return err
	}
	if l.V != Version || l.RunID == "" || l.Kind == "" {
		return ErrInvalidLine
	}
	return nil
}
