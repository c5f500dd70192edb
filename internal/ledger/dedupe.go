package ledger

// dedupe remembers the last n event ids (their first 64 bits) of one run: a
// ring in arrival order plus an open-addressing set with linear probing and
// backward-shift deletion, so lookups and updates are O(1) and allocation
// free once sized.
type dedupe struct {
	ring  []uint64
	pos   int
	full  bool
	table []uint64 // 0 marks an empty slot
	mask  uint64
}

// reset empties the window and sizes it for n ids; n <= 0 disables it.
func (d *dedupe) reset(n int) {
	if n <= 0 {
		*d = dedupe{}
		return
	}
	if len(d.ring) != n {
		size := 1
		for size < 2*n {
			size <<= 1
		}
		d.ring = make([]uint64, n)
		d.table = make([]uint64, size)
		d.mask = uint64(size - 1)
	} else {
		clear(d.ring)
		clear(d.table)
	}
	d.pos, d.full = 0, false
}

func normKey(k uint64) uint64 {
	if k == 0 {
		return 1
	}
	return k
}

// contains reports whether k is in the window.
func (d *dedupe) contains(k uint64) bool {
	if len(d.ring) == 0 {
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
	if len(d.ring) == 0 {
		return
	}
	k = normKey(k)
	if d.full {
		d.remove(d.ring[d.pos])
	}
	d.ring[d.pos] = k
	d.pos++
	if d.pos == len(d.ring) {
		d.pos, d.full = 0, true
	}
	i := k & d.mask
	for d.table[i] != 0 {
		i = (i + 1) & d.mask
	}
	d.table[i] = k
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
