package ledger

import (
	"encoding/binary"
	"encoding/hex"
	"errors"

	"github.com/cespare/xxhash/v2"
)

// EventID identifies a step event across redeliveries: a 128-bit hash of
// (trace id, span id, event time, kind, index). It is written to the ledger
// as 32 lowercase hex characters.
type EventID [16]byte

// Seeds of the two 64-bit halves. Changing them changes every event id and
// breaks deduplication against existing ledgers.
const (
	eventIDSeedHi = 0x72756e6c65646765 // "runledge"
	eventIDSeedLo = 0x725f6576656e7431 // "r_event1"
)

// NewEventID returns the id of the step event with the given trace and span
// ids, event time in Unix nanoseconds as sent by the producer (not the
// ingestion time the ledger may substitute for a zero time), kind and index.
// It takes plain arrays so that the format does not depend on pdata: a
// pcommon.TraceID or SpanID is passed as it is. For span events index is
// the event's position among the step events of its span; for log records
// it is the number of earlier step records in the same ScopeLogs with the
// same (trace id, span id, time, kind), normally 0.
func NewEventID(traceID [16]byte, spanID [8]byte, t uint64, kind string, index uint32) EventID {
	var fixed [16 + 8 + 8 + 4]byte
	copy(fixed[0:16], traceID[:])
	copy(fixed[16:24], spanID[:])
	binary.LittleEndian.PutUint64(fixed[24:32], t)
	binary.LittleEndian.PutUint32(fixed[32:36], index)
	var id EventID
	var d xxhash.Digest
	d.ResetWithSeed(eventIDSeedHi)
	_, _ = d.Write(fixed[:])
	_, _ = d.WriteString(kind)
	binary.BigEndian.PutUint64(id[0:8], d.Sum64())
	d.ResetWithSeed(eventIDSeedLo)
	_, _ = d.Write(fixed[:])
	_, _ = d.WriteString(kind)
	binary.BigEndian.PutUint64(id[8:16], d.Sum64())
	return id
}

// String returns the 32-character lowercase hex form written to ledgers.
func (id EventID) String() string { return hex.EncodeToString(id[:]) }

// AppendEventID appends the hex form of id to dst without allocating when
// dst has room.
func AppendEventID(dst []byte, id EventID) []byte { return hex.AppendEncode(dst, id[:]) }

// ErrInvalidEventID is returned by ParseEventID for text that is not 32 hex
// characters.
var ErrInvalidEventID = errors.New("event id is not 32 hex characters")

// ParseEventID parses the hex form written by AppendEventID.
func ParseEventID(s string) (EventID, error) {
	var id EventID
	if len(s) != 2*len(id) {
		return id, ErrInvalidEventID
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, ErrInvalidEventID
	}
	return id, nil
}
