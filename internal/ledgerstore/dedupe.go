package ledgerstore

import (
	"encoding/binary"

	"github.com/runledger/runledger/internal/ledger"
)

// dedupeKey returns the 64 bits of id that a dedupe window stores: event ids
// are hashes, so half of one is as good a key as all of it.
func dedupeKey(id ledger.EventID) uint64 { return binary.BigEndian.Uint64(id[0:8]) }

// dedupe remembers the last n event ids (their first 64 bits) of one run: a
// ring in arrival order, to know which id leaves the window, and a set of
// the ids in it. Storage grows with the run up to the window, so thousands
// of short runs cost little.
type dedupe struct {
	limit int      // the window size n; 0 disables the window
	ring  []uint64 // len <= limit; full once len == limit
	pos   int      // oldest id once full
	set   map[uint64]struct{}
}

// reset empties the window for n ids; n <= 0 disables it. Storage already
// grown is kept for reuse (windows are pooled across runs).
func (d *dedupe) reset(n int) {
	if n <= 0 {
		*d = dedupe{}
		return
	}
	d.limit, d.pos = n, 0
	d.ring = d.ring[:0]
	if d.set == nil {
		d.set = make(map[uint64]struct{}, min(n, 16))
	} else {
		clear(d.set)
	}
}

// contains reports whether k is in the window.
func (d *dedupe) contains(k uint64) bool {
	_, ok := d.set[k]
	return ok
}

// add puts k into the window, evicting the oldest id when it is full. k
// must not be in the window already.
func (d *dedupe) add(k uint64) {
	if d.limit == 0 {
		return
	}
	if len(d.ring) < d.limit {
		d.ring = append(d.ring, k)
	} else {
		delete(d.set, d.ring[d.pos])
		d.ring[d.pos] = k
		d.pos = (d.pos + 1) % d.limit
	}
	d.set[k] = struct{}{}
}
