// Package runindex keeps an in-memory index of the runs in a ledger
// directory (docs/design.md §2): one entry per ledger file with the run id,
// status, start/end, services, kinds, event count and path. It is built by
// scanning the date folders and kept fresh by Refresh, which reads only what
// was appended to each file since the previous call. In the collector the
// jsonlledger exporter hands it every append (Appended, via reportapi's
// ledger.Observer), so it seldom reads a file; the CLI refreshes it once.
package runindex

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runledger/runledger/internal/churnmap"
	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
)

// Options tune an Index.
type Options struct {
	// StallAfter is passed to the status rules (default report.DefaultStallAfter).
	StallAfter time.Duration
	// Now is the clock for stall detection (default time.Now).
	Now func() time.Time
}

// Index is the run index of one ledger directory. It is safe for concurrent
// use: Refresh may run while List and Get are served.
type Index struct {
	dir  string
	opts Options

	refreshMu sync.Mutex // one Refresh at a time; guards days
	days      map[string]*dayCache
	clock     func() time.Time // wall clock for settling; replaced in tests

	internMu sync.Mutex
	interned map[string]string    // services and kinds, shared by all runs
	lists    map[string]*[]string // sorted lists of them by their joined form
	listKey  []byte               // scratch for lists' keys

	notifyMu sync.Mutex
	pending  map[string]struct{} // paths appended to since the last refresh
	notified atomic.Bool         // a writer notifies appends: skip quick polls
	absDir   string
	sameDir  sync.Map // other spellings of a directory -> whether it is absDir

	mu    sync.RWMutex
	files map[string]*fileState // by path
	byRun map[string]*fileState // by run id
	// deletes from files and byRun, which freeze compacts (churnmap)
	filesChurn, runsChurn churnmap.Counter
	sorted                []*fileState // newest first; nil when stale
	cold                  coldStore    // finished runs kept compactly (cold.go)
	scanned               bool
}

type fileState struct {
	path    string // relative to the index's directory: <day>/<file>
	offset  int64
	size    int64
	skipped int
	changed int64 // when new bytes were last read, Unix nanoseconds

	runID   string
	tracker report.Tracker
	// Sorted, interned; never changed in place (a refresh works on a clone),
	// so readers may hold them.
	svc   *[]string
	kinds *[]string
}

// New returns an empty index of dir; call Refresh to fill it.
func New(dir string, opts Options) *Index {
	if opts.StallAfter <= 0 {
		opts.StallAfter = report.DefaultStallAfter
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	dir = filepath.Clean(dir)
	absDir, err := filepath.Abs(dir)
	if err != nil {
		absDir = filepath.Clean(dir)
	}
	return &Index{dir: dir, opts: opts, files: map[string]*fileState{}, byRun: map[string]*fileState{},
		days: map[string]*dayCache{}, interned: map[string]string{}, lists: map[string]*[]string{}, clock: time.Now, pending: map[string]struct{}{}, absDir: absDir,
		cold: newColdStore()}
}

// notifyOwn records that the file at p (spelled with the index's
// directory) must be read at the next poll.
func (ix *Index) notifyOwn(p string) {
	ix.notifyMu.Lock()
	ix.pending[p] = struct{}{}
	ix.notifyMu.Unlock()
	ix.notified.Store(true)
}

// ownPath returns path spelled with the index's directory, or false when
// the file is not in it.
func (ix *Index) ownPath(path string) (string, bool) {
	day := filepath.Dir(path)
	root := filepath.Dir(day)
	if root == ix.dir {
		return path, true
	}
	// The writer names the directory differently (say, absolute): resolve
	// once per spelling, not on every append.
	same, ok := ix.sameDir.Load(root)
	if !ok {
		abs, err := filepath.Abs(root)
		same = err == nil && abs == ix.absDir
		ix.sameDir.Store(root, same)
	}
	if !same.(bool) {
		return "", false
	}
	return filepath.Join(ix.dir, filepath.Base(day), filepath.Base(path)), true
}

// Appended applies lines a ledger.Writer of the same directory just
// appended (ledger.Observer), without reading the file. When the index's
// state of the file does not end where the append starts (a file it has
// not read yet, or a refresh in between), the file is read at the next
// poll instead. Calls for one file must come in file order.
func (ix *Index) Appended(a *ledger.Appended) {
	p, ok := ix.ownPath(a.Path)
	if !ok {
		return
	}
	ix.notified.Store(true)
	ix.mu.RLock()
	old := ix.files[ix.rel(p)]
	ix.mu.RUnlock()
	var work *fileState
	switch {
	case old == nil && a.From == 0:
		work = ix.newFileState(p)
	case old != nil && old.offset == a.From && old.size == a.From:
		work = old.clone()
	default:
		ix.notifyOwn(p)
		return
	}
	for i := range a.Lines {
		ix.observe(work, &a.Lines[i])
	}
	work.offset, work.size, work.changed = a.To, a.To, ix.clock().UnixNano()
	ix.mu.Lock()
	published := ix.publishLocked(old, work)
	ix.mu.Unlock()
	if !published {
		ix.notifyOwn(p) // a refresh got there first; read what it missed
	}
}

// refreshPending reads what the notified files gained.
func (ix *Index) refreshPending() (RefreshStats, error) {
	ix.notifyMu.Lock()
	paths := ix.pending
	ix.pending = make(map[string]struct{}, len(paths))
	ix.notifyMu.Unlock()
	ix.refreshMu.Lock()
	defer ix.refreshMu.Unlock()
	var st RefreshStats
	var errs []error
	now := ix.clock()
	for p := range paths {
		st.Files++
		if err := ix.statAndRefresh(p, now, &st); err != nil {
			errs = append(errs, err)
		}
	}
	return st, errors.Join(errs...)
}

// Dir returns the ledger directory.
func (ix *Index) Dir() string { return ix.dir }

// Scanned reports whether at least one Refresh completed.
func (ix *Index) Scanned() bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.scanned
}

// RefreshStats says what a Refresh did.
type RefreshStats struct {
	Files    int // ledger files seen
	Read     int // files read (new, grown or re-read)
	Lines    int // lines decoded
	Removed  int // files gone since the last refresh
	Rewinds  int // files that shrank and were re-read from the start
	Failures int // files that could not be read
}

// Refresh scans the date folders of the directory and reads what each ledger
// file gained since the previous Refresh. A missing directory is an empty
// index, not an error. Files that shrank are re-read from the start; files
// that disappeared are dropped. Errors reading single files are joined in the
// returned error; the rest of the index is still refreshed.
func (ix *Index) Refresh() (RefreshStats, error) { return ix.refresh(true) }

// settleAfter is how long a finished run (run.end seen) must have been
// unchanged before quick refreshes stop checking its file.
const settleAfter = 30 * time.Second

// refresh with full=false is the quick poll: date folders whose modification
// time did not change are not listed again (a new or removed file changes
// it), and the files of settled runs are not checked.
func (ix *Index) refresh(full bool) (RefreshStats, error) {
	ix.refreshMu.Lock()
	defer ix.refreshMu.Unlock()
	var st RefreshStats
	var errs []error
	days, err := os.ReadDir(ix.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("read ledger directory %q: %w", ix.dir, err)
	}
	now := ix.clock()
	seenDays := make(map[string]struct{}, len(days))
	for _, day := range days {
		if !day.IsDir() || !ledger.IsDateDir(day.Name()) {
			continue
		}
		dayPath := filepath.Join(ix.dir, day.Name())
		seenDays[dayPath] = struct{}{}
		info, err := os.Stat(dayPath)
		if err != nil {
			continue // removed meanwhile
		}
		cache := ix.days[dayPath]
		var names map[string]struct{}
		// A folder modified in the last seconds is listed again: its mtime
		// may have a coarse granularity.
		if cache == nil || cache.names == nil || full || !info.ModTime().Equal(cache.mtime) || now.Sub(cache.mtime) < 2*time.Second {
			entries, err := os.ReadDir(dayPath)
			if err != nil {
				errs = append(errs, fmt.Errorf("read %q: %w", dayPath, err))
				continue
			}
			names = make(map[string]struct{}, len(entries))
			for _, e := range entries {
				if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ledger.FileExt) {
					names[e.Name()] = struct{}{}
				}
			}
			st.Removed += ix.dropGone(func(rel string) bool {
				if filepath.Join(ix.dir, filepath.Dir(rel)) != dayPath {
					return false
				}
				_, ok := names[filepath.Base(rel)]
				return !ok
			})
			cache = &dayCache{mtime: info.ModTime()}
			// Quick polls reuse the listing of an unchanged folder. An index
			// told of appends only runs full refreshes, and a listing kept
			// for each of a hundred thousand files is memory for nothing.
			if !ix.notified.Load() {
				cache.names = names
			}
			ix.days[dayPath] = cache
		} else {
			names = cache.names
		}
		for name := range names {
			p := filepath.Join(dayPath, name)
			st.Files++
			if !full && ix.settled(p, now) {
				continue
			}
			if err := ix.statAndRefresh(p, now, &st); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for dayPath := range ix.days {
		if _, ok := seenDays[dayPath]; !ok {
			delete(ix.days, dayPath)
		}
	}
	st.Removed += ix.dropGone(func(rel string) bool {
		_, ok := seenDays[filepath.Join(ix.dir, filepath.Dir(rel))]
		return !ok
	})
	ix.mu.Lock()
	ix.scanned = true
	ix.mu.Unlock()
	return st, errors.Join(errs...)
}

// statAndRefresh brings the file at p up to date, dropping it when it is
// gone.
func (ix *Index) statAndRefresh(p string, now time.Time, st *RefreshStats) error {
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			st.Removed += ix.drop(p)
			return nil
		}
		return err
	}
	if err := ix.refreshFile(p, fi.Size(), now, st); err != nil {
		st.Failures++
		return err
	}
	return nil
}

type dayCache struct {
	mtime time.Time
	names map[string]struct{} // nil: list the folder again
}

// dropGone drops the files for which gone reports true (given their path
// relative to the directory) and returns how many.
func (ix *Index) dropGone(gone func(rel string) bool) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := 0
	for p, f := range ix.files {
		if gone(p) {
			ix.dropLocked(f)
			n++
		}
	}
	if n > 0 {
		ix.sorted = nil
	}
	c := &ix.cold
	for _, i := range c.byID {
		if gone(c.relPath(c.recs.at(i))) {
			c.remove(i)
			n++
		}
	}
	return n
}

func (ix *Index) settled(path string, now time.Time) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	rel := ix.rel(path)
	f := ix.files[rel]
	if f == nil {
		_, cold := ix.cold.findPath(rel)
		return cold
	}
	_, ended := f.tracker.Ended()
	return ended && now.UnixNano()-f.changed > int64(settleAfter)
}

func (ix *Index) drop(path string) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	rel := ix.rel(path)
	f := ix.files[rel]
	if f == nil {
		if i, ok := ix.cold.findPath(rel); ok {
			ix.cold.remove(i)
			return 1
		}
		return 0
	}
	ix.dropLocked(f)
	ix.sorted = nil
	return 1
}

func (ix *Index) dropLocked(f *fileState) {
	delete(ix.files, f.path)
	ix.filesChurn.Deleted(1)
	if f.runID != "" && ix.byRun[f.runID] == f {
		delete(ix.byRun, f.runID)
		ix.runsChurn.Deleted(1)
	}
}

// refreshFile brings one file up to date. Reading happens on a private copy
// of the state, published under the write lock, so readers never wait for I/O.
func (ix *Index) refreshFile(path string, size int64, now time.Time, st *RefreshStats) error {
	ix.mu.RLock()
	rel := ix.rel(path)
	old := ix.files[rel]
	var coldSize int64 = -1
	if old == nil {
		if i, ok := ix.cold.findPath(rel); ok {
			coldSize = ix.cold.recs.at(i).size
		}
	}
	ix.mu.RUnlock()
	var work *fileState
	switch {
	case old == nil && size == coldSize:
		return nil
	case old == nil:
		// New, or cold and grown: a cold run keeps too little to go on
		// from, so its file is read again (publishLocked drops the record).
		work = ix.newFileState(path)
	case size == old.size:
		return nil
	case size < old.offset:
		st.Rewinds++
		work = ix.newFileState(path)
	default:
		work = old.clone()
	}
	st.Read++
	rs, err := ledger.ReadSummaryFrom(path, work.offset, func(l *ledger.Line) error {
		ix.observe(work, l)
		return nil
	})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile; dropped on the next scan
		}
		return err
	}
	st.Lines += rs.Lines
	work.skipped += rs.Skipped
	work.offset = rs.Offset
	work.size = size
	work.changed = now.UnixNano()

	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.publishLocked(old, work)
	return nil
}

// observe adds line l of the file to work.
func (ix *Index) observe(work *fileState, l *ledger.Line) {
	if work.runID == "" {
		// Most files are named after their run: share the path's bytes.
		if stem := ledger.FileNameStem(work.path); stem == l.RunID {
			work.runID = stem
		} else {
			work.runID = strings.Clone(l.RunID)
		}
	} else if l.RunID != work.runID {
		work.skipped++
		return
	}
	work.tracker.Observe(l)
	if l.Service != "" {
		work.svc = ix.addSorted(work.svc, l.Service)
	}
	work.kinds = ix.addSorted(work.kinds, l.Kind)
}

// publishLocked makes work, derived from old (nil for a new file), the
// state of its file. Appended and refreshFile derive states without
// holding mu; when the other one published meanwhile, the state that read
// further into the file stays. It reports whether work was published.
func (ix *Index) publishLocked(old, work *fileState) bool {
	cur := ix.files[work.path]
	if cur != old && cur != nil && cur.offset >= work.offset {
		return false
	}
	if cur != nil {
		ix.dropLocked(cur)
	} else if i, ok := ix.cold.findPath(work.path); ok {
		ix.cold.remove(i)
	}
	ix.files[work.path] = work
	ix.sorted = nil
	if work.runID != "" {
		// A run id maps to one file; should two exist, keep the one FindRun
		// would pick (the newest date folder).
		if i, ok := ix.cold.find(work.runID); ok {
			if ix.cold.relPath(ix.cold.recs.at(i)) > work.path {
				return true
			}
			ix.cold.remove(i)
		}
		if cur := ix.byRun[work.runID]; cur == nil || cur.path <= work.path {
			ix.byRun[work.runID] = work
		}
	}
	return true
}

// addSorted returns list with s added in order, as a new slice when s is
// new (published lists are shared with readers). Services and kinds repeat
// across thousands of runs, and so do whole sets of them (every run of a
// service goes through the same steps), so both the strings and the lists
// are interned: an index of many runs holds a few distinct lists.
func (ix *Index) addSorted(lp *[]string, s string) *[]string {
	var list []string
	if lp != nil {
		list = *lp
	}
	i, found := slices.BinarySearch(list, s)
	if found {
		return lp
	}
	ix.internMu.Lock()
	defer ix.internMu.Unlock()
	// The key is the new list, each string length-prefixed (kinds may
	// hold any byte).
	k := ix.listKey[:0]
	for j, x := range list {
		if j == i {
			k = append(binary.AppendUvarint(k, uint64(len(s))), s...)
		}
		k = append(binary.AppendUvarint(k, uint64(len(x))), x...)
	}
	if i == len(list) {
		k = append(binary.AppendUvarint(k, uint64(len(s))), s...)
	}
	ix.listKey = k
	if out, ok := ix.lists[string(k)]; ok {
		return out
	}
	v, ok := ix.interned[s]
	if !ok {
		if len(ix.interned) >= maxInterned {
			clear(ix.interned)
		}
		v = strings.Clone(s)
		ix.interned[v] = v
	}
	out := make([]string, len(list)+1)
	copy(out, list[:i])
	out[i] = v
	copy(out[i+1:], list[i:])
	if len(ix.lists) >= maxInterned {
		clear(ix.lists)
	}
	ix.lists[string(k)] = &out
	return &out
}

// maxInterned bounds the intern table against producers that put unique
// values in service.name or step.kind.
const maxInterned = 1 << 16

// services returns the run's sorted services (shared: do not modify).
func (f *fileState) services() []string {
	if f.svc == nil {
		return nil
	}
	return *f.svc
}

// kindList returns the run's sorted kinds (shared: do not modify).
func (f *fileState) kindList() []string {
	if f.kinds == nil {
		return nil
	}
	return *f.kinds
}

// newFileState returns the state of a file not read yet at path (spelled
// with the index's directory). The state keeps the path relative to the
// directory, in a string of its own: the caller's full path is often the
// writer's, and one full path per run ever written adds up.
func (ix *Index) newFileState(path string) *fileState {
	return &fileState{path: strings.Clone(ix.rel(path))}
}

// rel returns path relative to the index's directory, as a substring.
func (ix *Index) rel(path string) string {
	if ix.dir == "." {
		return path
	}
	if r, ok := strings.CutPrefix(path, ix.dir); ok && len(r) > 0 && r[0] == filepath.Separator {
		return r[1:]
	}
	return path
}

func (f *fileState) clone() *fileState {
	c := *f
	c.tracker = f.tracker.Clone()
	return &c
}

// Run refreshes the index every interval until ctx is done: a full Refresh
// first and then every fullEvery polls, quick polls in between (see
// refresh). onError, when not nil, receives refresh errors.
//
// Once the index is told of appends (Appended), polls read only the
// notified files, and the full refresh, which catches files written by other
// processes and removed ones, runs every notifiedFullEvery polls (ten
// minutes at reportapi's default 500ms): with a hundred thousand files a
// full refresh lists and stats every one of them. Every freezeEvery polls,
// runs finished and unchanged for a while are made cold (cold.go).
func (ix *Index) Run(ctx context.Context, interval time.Duration, onError func(error)) {
	const fullEvery, notifiedFullEvery, freezeEvery = 20, 1200, 2
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; ; i++ {
		var err error
		switch {
		case ix.notified.Load() && i%notifiedFullEvery != 0:
			_, err = ix.refreshPending()
		default:
			_, err = ix.refresh(i%fullEvery == 0)
		}
		if err != nil && onError != nil {
			onError(err)
		}
		if i%freezeEvery == 0 {
			ix.freeze(ix.clock())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Entry is one run in the index.
type Entry struct {
	RunID       string     `json:"run_id"`
	Status      string     `json:"status"`
	StartedAt   time.Time  `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at"`
	LastEventAt time.Time  `json:"last_event_at"`
	Services    []string   `json:"services"`
	Kinds       []string   `json:"kinds"`
	EventCount  int        `json:"event_count"`
	// SkippedLines counts lines that could not be parsed.
	SkippedLines int    `json:"skipped_lines"`
	Path         string `json:"path"`
}

func (ix *Index) entry(f *fileState, now time.Time) Entry {
	status := f.tracker.Status(now, ix.opts.StallAfter)
	e := Entry{
		RunID:        f.runID,
		Status:       status,
		StartedAt:    f.tracker.First().UTC(),
		LastEventAt:  f.tracker.Last().UTC(),
		Services:     f.services(),
		Kinds:        f.kindList(),
		EventCount:   f.tracker.Events(),
		SkippedLines: f.skipped,
		Path:         filepath.Join(ix.dir, f.path),
	}
	if end, ok := f.tracker.EndTime(status); ok {
		end = end.UTC()
		e.EndedAt = &end
	}
	return e.withLists()
}

// withLists returns e with empty service and kind lists rather than nil
// (JSON [] rather than null).
func (e Entry) withLists() Entry {
	if e.Services == nil {
		e.Services = []string{}
	}
	if e.Kinds == nil {
		e.Kinds = []string{}
	}
	return e
}

// Get returns the entry of a run.
func (ix *Index) Get(runID string) (Entry, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	f := ix.byRun[runID]
	if f == nil {
		c := &ix.cold
		i, ok := c.find(runID)
		if !ok {
			return Entry{}, false
		}
		v := coldView{chunks: c.chunks, days: c.days, lists: c.lists}
		return v.entry(ix.dir, c.recs.at(i)), true
	}
	return ix.entry(f, ix.opts.Now()), true
}

// Len returns the number of runs in the index.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.byRun) + ix.cold.len()
}

// order compares two runs, by start time (Unix nanoseconds) and run id, in
// listing order: newest first, then by run id. Live states, cold records,
// their merge and cursors all use it.
func order(aFirst int64, aID string, bFirst int64, bID string) int {
	return cmp.Or(cmp.Compare(bFirst, aFirst), strings.Compare(aID, bID))
}

// newer orders live states in listing order.
func newer(a, b *fileState) int { return order(a.firstNanos(), a.runID, b.firstNanos(), b.runID) }

// firstNanos is the start time as ordered in listings and cursors: Unix
// nanoseconds, and the smallest value for a file without events.
func (f *fileState) firstNanos() int64 {
	if f.tracker.Events() == 0 {
		return math.MinInt64
	}
	return f.tracker.First().UnixNano()
}

// sortedSnapshot returns the runs newest first, rebuilding the order after a
// change. The returned slice and the states it points to are never modified.
func (ix *Index) sortedSnapshot() []*fileState {
	ix.mu.RLock()
	s := ix.sorted
	ix.mu.RUnlock()
	if s != nil {
		return s
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.sorted == nil {
		s := make([]*fileState, 0, len(ix.byRun))
		for _, f := range ix.byRun {
			s = append(s, f)
		}
		slices.SortFunc(s, newer)
		ix.sorted = s
	}
	return ix.sorted
}
