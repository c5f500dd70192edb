package ledger

import (
	"strconv"
	"time"

	"github.com/runledger/runledger/internal/stepschema"
)

// Entry is one step event ready to be appended to its run's ledger: the
// line already rendered except for the part only the appender knows (seq),
// plus the few fields it needs to place the line and to describe it to an
// index. Producers render Tail once (the exporter from pdata, NewEntry from
// a Line), so a writer handles bytes and never the producer's data model.
type Entry struct {
	// RunID picks the ledger file and is written as run_id unchanged.
	RunID string
	// ID is the event id written in Tail; a writer deduplicates on it.
	ID EventID
	// Time is the ts written in Tail, in Unix nanoseconds (0 for none); it
	// picks the date folder of a new run.
	Time int64
	// Kind, Status and Service are the kind, status and service written in
	// Tail (Service empty when Tail has none): what Summary reports.
	Kind, Status, Service string
	// ErrorCode is the error_code written in Tail (empty when it has none).
	// Summary reports it so that a run index can say why a run stopped
	// without reading the file; a producer that leaves it empty gives
	// summaries without it, and the index then names no error code.
	ErrorCode string
	// Tail is the rest of the line after seq: it begins with `,"ts":`, has
	// the remaining keys in schema order and ends with the closing brace,
	// without newline (see AppendTail). For a span record it is the rest
	// after run_id (AppendSpanTail).
	Tail []byte
	// Span marks a span record: written without seq, it takes no seq
	// number and is not a step of the run (Kind is empty).
	Span bool
}

// NewSpanEntry returns the Entry of span record s (its event id parsed from
// s.EventID), with its tail rendered by AppendSpanTail into dst's spare
// capacity.
func NewSpanEntry(dst []byte, s *SpanRecord) Entry {
	e := Entry{RunID: s.RunID, Service: s.Service, Span: true, Tail: AppendSpanTail(dst, s)}
	if !s.Start.IsZero() {
		e.Time = s.Start.UnixNano()
	}
	e.ID, _ = ParseEventID(s.EventID)
	return e
}

// AppendEntry appends e as one ledger line with sequence number seq (no
// trailing newline) to dst: `{"v":1,"run_id":...,"seq":<seq>` and e.Tail
// (a span record: without seq, which is then ignored).
// It does not allocate when dst has room.
func AppendEntry(dst []byte, e *Entry, seq uint64) []byte {
	b := append(dst, `{"v":1,"run_id":`...)
	b = AppendString(b, e.RunID)
	if e.Span {
		return append(b, e.Tail...)
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, e.Tail...)
}

// Summary returns the line AppendEntry writes for e with seq as a summary
// decoder (ReadSummaryFrom) reads it back: V, RunID, Seq, TS, Kind, Status,
// ErrorCode and Service, texts with invalid UTF-8 as the encoder rewrites
// it. It allocates only for such texts.
func (e *Entry) Summary(seq uint64) Line {
	return Line{
		V:         Version,
		RunID:     decodedText(e.RunID),
		Seq:       seq,
		TS:        time.Unix(0, e.Time).UTC(),
		Kind:      decodedText(e.Kind),
		Status:    decodedText(e.Status),
		ErrorCode: decodedText(e.ErrorCode),
		Service:   decodedText(e.Service),
	}
}

// NewEntry returns the Entry of l: its tail rendered by AppendTail, its id
// parsed from l.EventID (zero when that is not an event id). For tools that
// rewrite ledgers and for tests; V and Seq of l are not used.
func NewEntry(l *Line) Entry {
	e := Entry{RunID: l.RunID, Kind: l.Kind, Status: l.Status, Service: l.Service, ErrorCode: l.ErrorCode,
		Tail: AppendTail(nil, l)}
	if e.Status == "" {
		e.Status = stepschema.StatusOK
	}
	if !l.TS.IsZero() {
		e.Time = l.TS.UnixNano()
	}
	e.ID, _ = ParseEventID(l.EventID)
	return e
}
