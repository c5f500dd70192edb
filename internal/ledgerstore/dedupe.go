package ledgerstore

import (
	"encoding/binary"

	"github.com/runledger/runledger/internal/ledger"
)

// dedupeKey returns the 64 bits of id that a dedupe window stores: event ids
// are hashes, so half of one is as good a key as all of it.
func dedupeKey(id ledger.EventID) uint64 { return binary.BigEndian.Uint64(id[0:8]) }

// dedupe remembers the last n event ids (their first 64 bits) of one run: a
// ring in arrival order plus an open-addressing set with linear probing and
// backward-shift deletion, so lookups and updates are O(1). Storage grows
// with the run up to the window, so thousands of short runs cost little.
type dedupe struct {
	limit int      // the window size n
	ring  []uint64 // len <= limit; full once len == limit
	pos   int
	full  bool
	table []uint64 // 0 marks an empty slot; at least twice len(ring)
	mask  uint64
}

// dedupeInitial is the ring size a window starts with.
const dedupeInitial = 16

// reset empties the window for n ids; n <= 0 disables it. Storage already
// grown is kept for reuse.
func (d *dedupe) reset(n int) {
	if n <= 0 {
		*d = dedupe{}
		return
	}
	d.limit = n
	if len(d.ring) > n || len(d.ring) == 0 {
		d.ring = make([]uint64, 0, min(n, dedupeInitial))
		d.table = make([]uint64, tableSize(cap(d.ring)))
	} else {
		d.ring = d.ring[:0]
		clear(d.table)
	}
	d.mask = uint64(len(d.table) - 1)
	d.pos, d.full = 0, false
}

func tableSize(ringCap int) int {
	size := 1
	for size < 2*ringCap {
		size <<= 1
	}
	return size
}

// grow doubles the ring (up to the limit) and rehashes the table.
func (d *dedupe) grow() {
	ring := make([]uint64, len(d.ring), min(d.limit, 2*cap(d.ring)))
	copy(ring, d.ring)
	d.ring = ring
	d.table = make([]uint64, tableSize(cap(ring)))
	d.mask = uint64(len(d.table) - 1)
	for _, k := range ring {
		d.insert(k)
	}
}

func (d *dedupe) insert(k uint64) {
	i := k & d.mask
	for d.table[i] != 0 {
		i = (i + 1) & d.mask
	}
	d.table[i] = k
}

func normKey(k uint64) uint64 {
	if k == 0 {
		return 1
	}
	return k
}

// contains reports whether k is in the window.
func (d *dedupe) contains(k uint64) bool {
	if d.limit == 0 {
		return false
	}
	k = normKey(k)
	for i := k & d.mask; ; i = (i + 1) & d.mask {
		switch d.table[i] {
		case k:
			return true
		case 0:
			return false
		}
	}
}

// add puts k into the window, evicting the oldest id when it is full. k
// must not be in the window already.
func (d *dedupe) add(k uint64) {
	if d.limit == 0 {
		return
	}
	k = normKey(k)
	switch {
	case d.full:
		d.remove(d.ring[d.pos])
		d.ring[d.pos] = k
		d.pos++
		if d.pos == len(d.ring) {
			d.pos = 0
		}
	default:
		if len(d.ring) == cap(d.ring) {
			d.grow()
		}
		d.ring = append(d.ring, k)
		if len(d.ring) == d.limit {
			d.full = true
		}
	}
	d.insert(k)
}

func (d *dedupe) remove(k uint64) {
	i := k & d.mask
	for d.table[i] != k {
		if d.table[i] == 0 {
			return
		}
		i = (i + 1) & d.mask
	}
	// Backward-shift deletion: move later entries of the probe run into the
	// hole when their home slot is not cyclically within (hole, entry].
	j := i
	for {
		j = (j + 1) & d.mask
		e := d.table[j]
		if e == 0 {
			break
		}
		h := e & d.mask
		if i <= j {
			if i < h && h <= j {
				continue
			}
		} else if i < h || h <= j {
			continue
		}
		d.table[i] = e
		i = j
	}
	d.table[i] = 0
}
