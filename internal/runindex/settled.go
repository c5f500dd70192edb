package runindex

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
)

// Finished runs make up nearly all of a busy ledger directory, and nothing
// about them changes once their file stops growing. The index keeps them
// "settled": per date folder, in immutable segments sorted in listing
// order, each run a fixed-size summary without pointers (the garbage
// collector never scans them) and the segment's run ids in one string.
// Settled runs of a folder arrive in batches (freeze); batches are merged
// into fewer, larger segments as they accumulate, and into one once the
// folder has no live runs and went quiet. A settled run that gains lines again (a
// late event) is read anew and becomes live. Dropping a run marks it dead
// in a copy of its segment's header, which shares the summaries; a segment
// half dead is rebuilt without them.

// freezeAfter is how long a finished run's file must have been unchanged
// before the run settles.
const freezeAfter = 2 * time.Second

// settledStatuses are the statuses a settled (ended) run can have; a
// summary stores the index.
var settledStatuses = [...]string{report.StatusCompleted, report.StatusFailed, report.StatusCancelled}

// settledRun is the summary of one settled run: what an Entry needs, and
// the file size read.
type settledRun struct {
	first, last, end int64 // Unix nanoseconds: StartedAt, LastEventAt, EndedAt
	size             int64
	events, skipped  uint32
	svc, kinds       uint32 // index in segment.lists; 0 is the empty list
	stop             uint32 // index in segment.stops
	idOff            uint32 // the run id is segment.ids[idOff:idOff+idLen]
	idLen            uint8
	status           uint8 // index in settledStatuses
}

// segment is an immutable batch of settled runs of one date folder, whose
// files are named after their run ids.
type segment struct {
	day   string
	runs  []settledRun // newest first (order)
	byID  []uint32     // indexes into runs, by run id
	ids   string       // the run ids, concatenated
	lists []*[]string  // interned service and kind lists; lists[0] is nil
	// stops are the distinct stop reasons of the runs: few per folder (a
	// handful of categories, stages and codes), so a run holds an index.
	stops []Stop
	dead  []uint64 // bit i set: run i was dropped; nil: none
	ndead int
}

// alive reports whether run i was not dropped.
func (s *segment) alive(i int) bool { return s.dead == nil || s.dead[i/64]&(1<<(i%64)) == 0 }

// len returns the number of runs in s not dropped (0 for nil).
func (s *segment) len() int {
	if s == nil {
		return 0
	}
	return len(s.runs) - s.ndead
}

// idBytes returns the length of the ids of the runs in s not dropped.
func (s *segment) idBytes() int {
	if s.ndead == 0 {
		return len(s.ids)
	}
	n := 0
	for i := range s.runs {
		if s.alive(i) {
			n += int(s.runs[i].idLen)
		}
	}
	return n
}

// kill returns s with run i dropped.
func (s *segment) kill(i int) *segment {
	if 2*(s.ndead+1) > len(s.runs) {
		return s.without(func(j int) bool { return j == i })
	}
	c := *s
	if s.dead == nil {
		c.dead = make([]uint64, (len(s.runs)+63)/64)
	} else {
		c.dead = slices.Clone(s.dead)
	}
	c.dead[i/64] |= 1 << (i % 64)
	c.ndead++
	return &c
}

func (s *segment) id(i int) string {
	r := &s.runs[i]
	return s.ids[r.idOff : r.idOff+uint32(r.idLen)]
}

func (s *segment) list(i uint32) []string {
	if l := s.lists[i]; l != nil {
		return *l
	}
	return nil
}

// find returns the index of the run with id runID.
func (s *segment) find(runID string) (int, bool) {
	j, ok := slices.BinarySearchFunc(s.byID, runID, func(k uint32, id string) int {
		return strings.Compare(s.id(int(k)), id)
	})
	if !ok || !s.alive(int(s.byID[j])) {
		return 0, false
	}
	return int(s.byID[j]), true
}

// relPath returns the path of run i's file relative to the index's
// directory.
func (s *segment) relPath(i int) string {
	return filepath.Join(s.day, s.id(i)+ledger.FileExt)
}

// entry returns the Entry of run i.
func (s *segment) entry(dir string, i int) Entry {
	r := &s.runs[i]
	id := strings.Clone(s.id(i)) // entries outlive segments: do not pin its ids
	end := time.Unix(0, r.end).UTC()
	e := Entry{
		RunID:        id,
		Status:       settledStatuses[r.status],
		StartedAt:    time.Unix(0, r.first).UTC(),
		EndedAt:      &end,
		LastEventAt:  time.Unix(0, r.last).UTC(),
		Services:     s.list(r.svc),
		Kinds:        s.list(r.kinds),
		EventCount:   int(r.events),
		SkippedLines: int(r.skipped),
		Path:         filepath.Join(dir, s.day, id+ledger.FileExt),
	}
	return e.withStop(s.stops[r.stop]).withLists()
}

// builder assembles a segment from runs added in listing order.
type builder struct {
	seg *segment
	ids strings.Builder
}

func newBuilder(day string, runs, idBytes int) *builder {
	b := &builder{seg: &segment{day: day, runs: make([]settledRun, 0, runs)}}
	b.ids.Grow(idBytes)
	return b
}

// add appends r with run id id and returns its index.
func (b *builder) add(r settledRun, id string) uint32 {
	r.idOff, r.idLen = uint32(b.ids.Len()), uint8(len(id))
	b.ids.WriteString(id)
	b.seg.runs = append(b.seg.runs, r)
	return uint32(len(b.seg.runs) - 1)
}

// finish returns the segment with the given id order, or sorted by id when
// byID is nil; nil when it holds no runs.
func (b *builder) finish(byID []uint32) *segment {
	s := b.seg
	if len(s.runs) == 0 {
		return nil
	}
	s.ids = b.ids.String()
	if byID == nil {
		byID = make([]uint32, len(s.runs))
		for i := range byID {
			byID[i] = uint32(i)
		}
		slices.SortFunc(byID, func(a, b uint32) int { return strings.Compare(s.id(int(a)), s.id(int(b))) })
	}
	s.byID = byID
	return s
}

// newSegment returns the segment of finished live states of one folder
// (freezable ones).
func newSegment(day string, fs []*fileState) *segment {
	slices.SortFunc(fs, newer)
	idBytes := 0
	for _, f := range fs {
		idBytes += len(f.runID)
	}
	b := newBuilder(strings.Clone(day), len(fs), idBytes)
	b.seg.lists = []*[]string{nil}
	listID := map[*[]string]uint32{nil: 0}
	ref := func(l *[]string) uint32 {
		id, ok := listID[l]
		if !ok {
			id = uint32(len(b.seg.lists))
			listID[l] = id
			b.seg.lists = append(b.seg.lists, l)
		}
		return id
	}
	stopID := map[Stop]uint32{}
	for _, f := range fs {
		status := f.tracker.Status(time.Time{}, 0)
		end, _ := f.tracker.EndTime(status)
		b.add(settledRun{first: f.tracker.First().UnixNano(), last: f.tracker.Last().UnixNano(), end: end.UnixNano(),
			size: f.size, events: uint32(f.tracker.Events()), skipped: uint32(f.skipped),
			svc: ref(f.svc), kinds: ref(f.kinds), stop: b.stopRef(stopID, f.stopReason(status)),
			status: uint8(slices.Index(settledStatuses[:], status))}, f.runID)
	}
	return b.finish(nil)
}

// stopRef returns the index of st in the segment's stops, adding it; ids
// maps the stops added so far to their index.
func (b *builder) stopRef(ids map[Stop]uint32, st Stop) uint32 {
	id, ok := ids[st]
	if !ok {
		id = uint32(len(b.seg.stops))
		ids[st] = id
		b.seg.stops = append(b.seg.stops, st)
	}
	return id
}

// canMerge reports whether a and b fit in one segment (offsets are 32-bit).
func canMerge(a, b *segment) bool {
	return len(a.ids)+len(b.ids) <= math.MaxUint32 && len(a.runs)+len(b.runs) <= math.MaxUint32 &&
		len(a.stops)+len(b.stops) <= math.MaxUint32
}

// merge returns a segment of the runs of a and b, of one folder, in
// linear time: both are sorted in listing order and by id already.
func merge(a, b *segment) *segment {
	out := newBuilder(a.day, a.len()+b.len(), a.idBytes()+b.idBytes())
	// a's lists, then those of b that a lacks; b's list ids are remapped.
	out.seg.lists = slices.Clone(a.lists)
	aList := make(map[*[]string]uint32, len(a.lists))
	for i, l := range a.lists {
		aList[l] = uint32(i)
	}
	bList := make([]uint32, len(b.lists))
	for i, l := range b.lists {
		id, ok := aList[l]
		if !ok {
			id = uint32(len(out.seg.lists))
			out.seg.lists = append(out.seg.lists, l)
		}
		bList[i] = id
	}
	// Likewise a's stops, then b's that a lacks.
	out.seg.stops = slices.Clone(a.stops)
	stopID := make(map[Stop]uint32, len(a.stops)+len(b.stops))
	for i, st := range a.stops {
		stopID[st] = uint32(i)
	}
	bStop := make([]uint32, len(b.stops))
	for i, st := range b.stops {
		bStop[i] = out.stopRef(stopID, st)
	}
	// The new index of each run of a and b; dropped runs are left out.
	const dropped = math.MaxUint32
	na, nb := make([]uint32, len(a.runs)), make([]uint32, len(b.runs))
	i, j := 0, 0
	for i < len(a.runs) || j < len(b.runs) {
		if j == len(b.runs) || i < len(a.runs) && order(a.runs[i].first, a.id(i), b.runs[j].first, b.id(j)) <= 0 {
			na[i] = dropped
			if a.alive(i) {
				na[i] = out.add(a.runs[i], a.id(i))
			}
			i++
			continue
		}
		nb[j] = dropped
		if b.alive(j) {
			r := b.runs[j]
			r.svc, r.kinds, r.stop = bList[r.svc], bList[r.kinds], bStop[r.stop]
			nb[j] = out.add(r, b.id(j))
		}
		j++
	}
	byID := make([]uint32, 0, len(out.seg.runs))
	i, j = 0, 0
	for i < len(a.byID) || j < len(b.byID) {
		var k uint32
		if j == len(b.byID) || i < len(a.byID) && a.id(int(a.byID[i])) <= b.id(int(b.byID[j])) {
			k = na[a.byID[i]]
			i++
		} else {
			k = nb[b.byID[j]]
			j++
		}
		if k != dropped {
			byID = append(byID, k)
		}
	}
	return out.finish(byID)
}

// without returns s without the runs for which gone reports true, and
// without dropped ones (s itself when there are neither; nil when no run
// is left).
func (s *segment) without(gone func(i int) bool) *segment {
	first := -1 // the first run gone
	for i := range s.runs {
		if s.alive(i) && gone(i) {
			first = i
			break
		}
	}
	if first < 0 && s.ndead == 0 {
		return s
	}
	const dropped = math.MaxUint32
	idx := make([]uint32, len(s.runs)) // new index of each run
	kept, idBytes := 0, 0
	for i := range s.runs {
		if !s.alive(i) || first >= 0 && i >= first && gone(i) {
			idx[i] = dropped
			continue
		}
		kept++
		idBytes += int(s.runs[i].idLen)
	}
	out := newBuilder(s.day, kept, idBytes)
	out.seg.lists = s.lists // a list no run refers to any more costs a pointer
	out.seg.stops = s.stops // and so does a stop reason
	for i := range s.runs {
		if idx[i] != dropped {
			idx[i] = out.add(s.runs[i], s.id(i))
		}
	}
	byID := make([]uint32, 0, kept)
	for _, k := range s.byID {
		if idx[k] != dropped {
			byID = append(byID, idx[k])
		}
	}
	return out.finish(byID)
}

// settledStore holds the settled runs of an Index; guarded by Index.mu.
type settledStore struct {
	folders map[string]*folder // by date folder name
	n       int                // runs held
	view    []*segment         // every segment, for readers; nil: rebuild
}

// folder is the settled runs of one date folder.
type folder struct {
	segs  []*segment // oldest batch first
	added int64      // when the last batch settled, Unix nanoseconds
}

// folderQuietAfter is how long no run must have settled into a folder
// without live runs before its segments are merged into one. Waiting
// bounds the merges of a folder whose runs trickle in one at a time (each
// would copy the whole folder) to one per period.
const folderQuietAfter = 10 * time.Minute

// segs returns the segments of date folder day.
func (c *settledStore) segs(day string) []*segment {
	if f := c.folders[day]; f != nil {
		return f.segs
	}
	return nil
}

func (c *settledStore) len() int { return c.n }

// find returns the segment and index of the run with id runID.
func (c *settledStore) find(runID string) (*segment, int, bool) {
	for _, f := range c.folders {
		for _, s := range f.segs {
			if i, ok := s.find(runID); ok {
				return s, i, true
			}
		}
	}
	return nil, 0, false
}

// findPath returns the segment and index of the run whose file is at rel
// (<day>/<file>).
func (c *settledStore) findPath(rel string) (*segment, int, bool) {
	day, name := splitRel(rel)
	stem, ok := strings.CutSuffix(name, ledger.FileExt)
	if !ok {
		return nil, 0, false
	}
	for _, s := range c.segs(day) {
		if i, ok := s.find(stem); ok {
			return s, i, true
		}
	}
	return nil, 0, false
}

// splitRel splits a path relative to the index's directory into its date
// folder and file name.
func splitRel(rel string) (day, name string) {
	day, name, ok := strings.Cut(rel, string(filepath.Separator))
	if !ok {
		return "", rel
	}
	return day, name
}

// replace puts next (nil: nothing) in the place of s in its folder.
func (c *settledStore) replace(s, next *segment) {
	if next == s {
		return
	}
	f := c.folders[s.day]
	k := slices.Index(f.segs, s)
	c.n += next.len() - s.len()
	if next != nil {
		f.segs[k] = next
	} else if f.segs = slices.Delete(f.segs, k, k+1); len(f.segs) == 0 {
		delete(c.folders, s.day)
	}
	c.view = nil
}

// dropFolder drops the runs of date folder day and returns how many.
func (c *settledStore) dropFolder(day string) int {
	n := 0
	for _, s := range c.segs(day) {
		n += s.len()
	}
	delete(c.folders, day)
	c.n -= n
	c.view = nil
	return n
}

// remove drops run i of s.
func (c *settledStore) remove(s *segment, i int) { c.replace(s, s.kill(i)) }

// removePath drops the run whose file is at rel, if it is settled.
func (c *settledStore) removePath(rel string) bool {
	s, i, ok := c.findPath(rel)
	if ok {
		c.remove(s, i)
	}
	return ok
}

// add adds a new segment to its folder and merges the folder's newest
// segments while the older of two is at most twice the size of the newer:
// a folder keeps a number of segments logarithmic in its runs, and a run
// is copied a logarithmic number of times. now is the time, in Unix
// nanoseconds.
func (c *settledStore) add(s *segment, now int64) {
	f := c.folders[s.day]
	if f == nil {
		f = &folder{}
		c.folders[s.day] = f
	}
	segs := append(f.segs, s)
	for k := len(segs); k >= 2 && segs[k-2].len() <= 2*segs[k-1].len() && canMerge(segs[k-2], segs[k-1]); k-- {
		segs[k-2] = merge(segs[k-2], segs[k-1])
		segs = segs[:k-1]
	}
	f.segs, f.added = segs, now
	c.n += s.len()
	c.view = nil
}

// settle merges the segments of a folder no run of which is live any more
// into one without dropped runs: what a settled date folder is for good.
func (c *settledStore) settle(day string) {
	f := c.folders[day]
	segs := f.segs
	for len(segs) >= 2 && canMerge(segs[len(segs)-2], segs[len(segs)-1]) {
		segs = append(segs[:len(segs)-2], merge(segs[len(segs)-2], segs[len(segs)-1]))
	}
	if len(segs) == 1 {
		segs[0] = segs[0].without(func(int) bool { return false })
	}
	if f.segs = slices.DeleteFunc(segs, func(s *segment) bool { return s == nil }); len(f.segs) == 0 {
		delete(c.folders, day)
	}
	c.view = nil
}

// snapshot returns every segment. Called with Index.mu held for writing.
func (c *settledStore) snapshot() []*segment {
	if c.view == nil {
		v := make([]*segment, 0, len(c.folders))
		for _, f := range c.folders {
			v = append(v, f.segs...)
		}
		c.view = v
	}
	return c.view
}

// freezable reports whether f can settle, and its date folder.
func (ix *Index) freezable(f *fileState, now int64) (string, bool) {
	if now-f.changed < int64(freezeAfter) || f.offset != f.size || f.skipped > math.MaxUint32 ||
		f.tracker.Events() > math.MaxUint32 || ix.byRun[f.runID] != f {
		return "", false
	}
	if _, ended := f.tracker.Ended(); !ended {
		return "", false
	}
	day, name := splitRel(f.path)
	if name != f.runID+ledger.FileExt || len(f.runID) > math.MaxUint8 || !ledger.IsDateDir(day) {
		return "", false
	}
	return day, slices.Contains(settledStatuses[:], f.tracker.Status(time.Time{}, 0))
}

// freeze settles the finished runs whose files have not changed for
// freezeAfter, one new segment per date folder, merges the segments of
// folders that went quiet, and returns how many runs settled.
func (ix *Index) freeze(now time.Time) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	type batch struct {
		runs    []*fileState
		idBytes int
	}
	batches := map[string]*batch{}
	live := map[string]bool{} // date folders with runs left live
	for _, f := range ix.files {
		day, ok := ix.freezable(f, now.UnixNano())
		b := batches[day]
		if ok && b == nil {
			b = &batch{}
			batches[day] = b
		}
		// Segment offsets are 32-bit: the rest waits for the next freeze.
		if !ok || b.idBytes+len(f.runID) > math.MaxUint32 || len(b.runs) == math.MaxUint32 {
			d, _ := splitRel(f.path)
			live[d] = true
			continue
		}
		b.runs = append(b.runs, f)
		b.idBytes += len(f.runID)
	}
	n := 0
	for day, b := range batches {
		ix.settled.add(newSegment(day, b.runs), now.UnixNano())
		for _, f := range b.runs {
			delete(ix.files, f.path)
			delete(ix.byRun, f.runID)
		}
		n += len(b.runs)
	}
	if n > 0 {
		ix.sorted = nil
	}
	for day, f := range ix.settled.folders {
		if (len(f.segs) > 1 || f.segs[0].ndead > 0) && !live[day] && now.UnixNano()-f.added >= int64(folderQuietAfter) {
			ix.settled.settle(day)
		}
	}
	return n
}
