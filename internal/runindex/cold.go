package runindex

import (
	"hash/maphash"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/runledger/runledger/internal/churnmap"
	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
)

// Finished runs make up nearly all of a busy ledger directory, and nothing
// about them changes once their file stops growing. The index keeps them
// "cold": a fixed-size record without pointers per run (the garbage
// collector never scans them) and the run id's bytes in an arena, about a
// third of a live fileState with its map entries. A cold run that gains
// lines again (a late event) is read anew and becomes a live state.

// freezeAfter is how long a finished run's file must have been unchanged
// before its state is made cold.
const freezeAfter = 2 * time.Second

// coldChunk is the size of the arena's chunks; a run id never straddles
// two, and ledger file names (the run ids kept cold) are at most 255 bytes.
const coldChunk = 1 << 16

// coldRun is one cold run: what an Entry needs, and the file size read.
type coldRun struct {
	first, last, end int64 // Unix nanoseconds, as report.Tracker keeps them
	size             int64
	events, skipped  uint32
	svc, kinds       uint32 // list ids in coldStore.lists; 0 is the empty list
	id               uint32 // arena offset of the run id (the file name stem)
	idLen            uint8
	status           uint8 // index in coldStatuses
	day              uint16
}

// recBlock is the number of records in a block of a recTable (64 KiB).
const recBlock = 1024

// recTable is an append-only table of cold records in fixed-size blocks:
// growing it never copies what it holds, nor briefly needs twice its size
// as a growing slice does. Records below n are never written again.
type recTable struct {
	blocks []*[recBlock]coldRun
	n      int
}

func (t *recTable) at(i uint32) *coldRun { return &t.blocks[i/recBlock][i%recBlock] }

func (t *recTable) add(r *coldRun) uint32 {
	if t.n%recBlock == 0 {
		t.blocks = append(t.blocks, new([recBlock]coldRun))
	}
	i := uint32(t.n)
	*t.at(i) = *r
	t.n++
	return i
}

// clone returns a table for readers: the records it holds stay as they are
// while t grows.
func (t *recTable) clone() recTable { return recTable{blocks: slices.Clone(t.blocks), n: t.n} }

// coldStatuses are the statuses a finished run can have; a cold record
// stores its index.
var coldStatuses = [...]string{report.StatusCompleted, report.StatusFailed, report.StatusCancelled}

// coldStore holds the cold runs of an Index; guarded by Index.mu.
type coldStore struct {
	seed   maphash.Seed
	hashFn func(string) uint32 // replaces the seeded hash in tests
	recs   recTable
	// byID maps a 32-bit hash of the run id to its record: 8-byte slots.
	// Of two run ids with the same hash only the first is made cold (a
	// handful among hundreds of thousands of runs); lookups compare ids.
	byID   map[uint32]uint32
	chunks []*[coldChunk]byte
	used   int // bytes used in the last chunk
	days   []string
	dayIDs map[string]uint16
	lists  []*[]string // by id; index 0 is nil
	listID map[*[]string]uint32

	order   []uint32 // records newest first, without added; nil: rebuild
	added   []uint32 // made cold since order was built
	pruned  bool     // order may hold dropped records
	removed int      // records dropped since the last compaction
	view    *coldView
}

// coldView is a consistent, immutable view of the cold runs for readers
// that do not hold Index.mu: the records and arena bytes it reaches are
// never written again.
type coldView struct {
	recs   recTable
	order  []uint32
	chunks []*[coldChunk]byte
	days   []string
	lists  []*[]string
}

func newColdStore() coldStore {
	return coldStore{seed: maphash.MakeSeed(), byID: map[uint32]uint32{}, dayIDs: map[string]uint16{},
		lists: []*[]string{nil}, listID: map[*[]string]uint32{}}
}

func (c *coldStore) len() int { return len(c.byID) }

func (c *coldStore) hash(id string) uint32 {
	if c.hashFn != nil {
		return c.hashFn(id)
	}
	return uint32(maphash.String(c.seed, id))
}

// idOf returns the run id of r. The arena bytes are never modified once
// written, so the string may alias them.
func idOf(chunks []*[coldChunk]byte, r *coldRun) string {
	ch := chunks[r.id/coldChunk]
	return unsafe.String(&ch[r.id%coldChunk], int(r.idLen))
}

// find returns the record of runID.
func (c *coldStore) find(runID string) (uint32, bool) {
	i, ok := c.byID[c.hash(runID)]
	if !ok || idOf(c.chunks, c.recs.at(i)) != runID {
		return 0, false
	}
	return i, true
}

// findPath returns the record of the file at rel (<day>/<file>).
func (c *coldStore) findPath(rel string) (uint32, bool) {
	day, name := filepath.Split(rel)
	day = strings.TrimSuffix(day, string(filepath.Separator))
	stem, ok := strings.CutSuffix(name, ledger.FileExt)
	if !ok {
		return 0, false
	}
	i, ok := c.find(stem)
	if !ok || c.days[c.recs.at(i).day] != day {
		return 0, false
	}
	return i, true
}

// relPath returns the path of r's file relative to the index's directory.
func (c *coldStore) relPath(r *coldRun) string {
	return filepath.Join(c.days[r.day], idOf(c.chunks, r)+ledger.FileExt)
}

// remove drops record i.
func (c *coldStore) remove(i uint32) {
	delete(c.byID, c.hash(idOf(c.chunks, c.recs.at(i))))
	c.removed++
	c.pruned, c.view = true, nil
}

// live reports whether record i was not dropped.
func (c *coldStore) live(i uint32) bool {
	j, ok := c.byID[c.hash(idOf(c.chunks, c.recs.at(i)))]
	return ok && j == i
}

// freezable reports whether f can be kept cold, and its status index.
func (ix *Index) freezable(f *fileState, now int64) (uint8, bool) {
	if now-f.changed < int64(freezeAfter) || f.offset != f.size || f.skipped > math.MaxUint32 ||
		f.tracker.Events() > math.MaxUint32 || ix.byRun[f.runID] != f {
		return 0, false
	}
	if _, ended := f.tracker.Ended(); !ended {
		return 0, false
	}
	day, name := filepath.Split(f.path)
	if name != f.runID+ledger.FileExt || len(f.runID) > math.MaxUint8 || !ledger.IsDateDir(strings.TrimSuffix(day, string(filepath.Separator))) {
		return 0, false
	}
	st := slices.Index(coldStatuses[:], f.tracker.Status(time.Time{}, 0))
	return uint8(st), st >= 0
}

// freeze makes the finished runs whose files have not changed for
// freezeAfter cold, and compacts the cold store when most of it was
// dropped.
func (ix *Index) freeze(now time.Time) int {
	n := 0
	ix.mu.Lock()
	defer ix.mu.Unlock()
	c := &ix.cold
	for _, f := range ix.files {
		st, ok := ix.freezable(f, now.UnixNano())
		if !ok {
			continue
		}
		h := c.hash(f.runID)
		if _, taken := c.byID[h]; taken {
			continue // another run id with the same hash: stay live
		}
		svc, ok1 := c.listRef(f.svc)
		kinds, ok2 := c.listRef(f.kinds)
		day, ok3 := c.dayRef(filepath.Dir(f.path))
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		end, _ := f.tracker.Ended()
		r := coldRun{first: f.tracker.First().UnixNano(), last: f.tracker.Last().UnixNano(), end: end.UnixNano(),
			size: f.size, events: uint32(f.tracker.Events()), skipped: uint32(f.skipped),
			svc: svc, kinds: kinds, id: c.store(f.runID), idLen: uint8(len(f.runID)), status: st, day: day}
		i := c.recs.add(&r)
		c.byID[h] = i
		c.added = append(c.added, i)
		delete(ix.files, f.path)
		delete(ix.byRun, f.runID)
		n++
	}
	if n > 0 {
		ix.sorted = nil
		c.view = nil
		// Every run passes through the live maps: keep them at the size
		// of the runs being written.
		ix.filesChurn.Deleted(n)
		ix.runsChurn.Deleted(n)
		ix.files = churnmap.Compact(ix.files, &ix.filesChurn)
		ix.byRun = churnmap.Compact(ix.byRun, &ix.runsChurn)
	}
	if c.removed > 4096 && c.removed > c.recs.n/2 {
		c.compact()
	}
	return n
}

// store copies s into the arena and returns its offset.
func (c *coldStore) store(s string) uint32 {
	if len(c.chunks) == 0 || c.used+len(s) > coldChunk {
		c.chunks = append(c.chunks, new([coldChunk]byte))
		c.used = 0
	}
	off := uint32(len(c.chunks)-1)*coldChunk + uint32(c.used)
	copy(c.chunks[len(c.chunks)-1][c.used:], s)
	c.used += len(s)
	return off
}

// listRef returns the id of an interned list, registering it; false when
// the table is full (producers with unbounded services or kinds).
func (c *coldStore) listRef(l *[]string) (uint32, bool) {
	if l == nil {
		return 0, true
	}
	if id, ok := c.listID[l]; ok {
		return id, true
	}
	if len(c.lists) >= maxInterned {
		return 0, false
	}
	c.listID[l] = uint32(len(c.lists))
	c.lists = append(c.lists, l)
	return uint32(len(c.lists) - 1), true
}

func (c *coldStore) dayRef(day string) (uint16, bool) {
	if id, ok := c.dayIDs[day]; ok {
		return id, true
	}
	if len(c.days) >= math.MaxUint16 {
		return 0, false
	}
	day = strings.Clone(day)
	c.dayIDs[day] = uint16(len(c.days))
	c.days = append(c.days, day)
	return uint16(len(c.days) - 1), true
}

// compact copies the live records and their ids into a new store, in
// newest-first order. Views handed out keep the old arrays.
func (c *coldStore) compact() {
	order := c.sortedOrder()
	old := *c
	*c = newColdStore()
	c.seed, c.hashFn, c.days, c.dayIDs, c.lists, c.listID = old.seed, old.hashFn, old.days, old.dayIDs, old.lists, old.listID
	c.order = make([]uint32, 0, len(order))
	for _, i := range order {
		r := *old.recs.at(i)
		id := idOf(old.chunks, &r)
		r.id = c.store(id)
		j := c.recs.add(&r)
		c.byID[c.hash(id)] = j
		c.order = append(c.order, j)
	}
}

// coldNewer orders records in listing order.
func coldNewer(chunks []*[coldChunk]byte, a, b *coldRun) int {
	return order(a.first, idOf(chunks, a), b.first, idOf(chunks, b))
}

// sortedOrder returns the live records newest first. Dropped records are
// filtered out and records made cold since the last call are sorted and
// merged in, so the whole store is sorted only once (the order is built
// while holding Index.mu, which writers wait for).
func (c *coldStore) sortedOrder() []uint32 {
	cmpRec := func(a, b uint32) int { return coldNewer(c.chunks, c.recs.at(a), c.recs.at(b)) }
	if c.order == nil {
		live := make([]uint32, 0, len(c.byID))
		for _, i := range c.byID {
			live = append(live, i)
		}
		slices.SortFunc(live, cmpRec)
		c.order, c.added, c.pruned = live, c.added[:0], false
		return live
	}
	if c.pruned {
		kept := make([]uint32, 0, len(c.byID))
		for _, i := range c.order {
			if c.live(i) {
				kept = append(kept, i)
			}
		}
		added := c.added[:0]
		for _, i := range c.added {
			if c.live(i) {
				added = append(added, i)
			}
		}
		c.order, c.added, c.pruned = kept, added, false
	}
	if len(c.added) == 0 {
		return c.order
	}
	slices.SortFunc(c.added, cmpRec)
	merged := make([]uint32, 0, len(c.order)+len(c.added))
	i, j := 0, 0
	for i < len(c.order) && j < len(c.added) {
		if cmpRec(c.order[i], c.added[j]) <= 0 {
			merged = append(merged, c.order[i])
			i++
		} else {
			merged = append(merged, c.added[j])
			j++
		}
	}
	c.order = append(append(merged, c.order[i:]...), c.added[j:]...)
	c.added = c.added[:0]
	return c.order
}

// snapshot returns the current view. Called with Index.mu held for writing.
func (c *coldStore) snapshot() *coldView {
	if c.view == nil {
		c.view = &coldView{recs: c.recs.clone(), order: c.sortedOrder(), chunks: slices.Clone(c.chunks),
			days: slices.Clone(c.days), lists: slices.Clone(c.lists)}
	}
	return c.view
}

func (v *coldView) list(id uint32) []string {
	if l := v.lists[id]; l != nil {
		return *l
	}
	return nil
}

// entry returns the Entry of cold record r.
func (v *coldView) entry(dir string, r *coldRun) Entry {
	id := strings.Clone(idOf(v.chunks, r))
	end := time.Unix(0, r.end).UTC()
	e := Entry{
		RunID:        id,
		Status:       coldStatuses[r.status],
		StartedAt:    time.Unix(0, r.first).UTC(),
		EndedAt:      &end,
		LastEventAt:  time.Unix(0, r.last).UTC(),
		Services:     v.list(r.svc),
		Kinds:        v.list(r.kinds),
		EventCount:   int(r.events),
		SkippedLines: int(r.skipped),
		Path:         filepath.Join(dir, v.days[r.day], id+ledger.FileExt),
	}
	return e.withLists()
}
