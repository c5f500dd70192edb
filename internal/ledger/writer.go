package ledger

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/runledger/runledger/internal/churnmap"
)

// FsyncMode says when the Writer calls fsync on ledger files.
type FsyncMode int

const (
	// FsyncNever leaves flushing to the operating system. Lines survive a
	// crash of the process, not of the machine.
	FsyncNever FsyncMode = iota
	// FsyncInterval syncs files with new lines every FsyncInterval in the
	// background.
	FsyncInterval
	// FsyncAlways syncs a file after every write, before Write returns.
	FsyncAlways
)

// ParseFsyncMode parses "never", "interval" or "always".
func ParseFsyncMode(s string) (FsyncMode, error) {
	switch s {
	case "never":
		return FsyncNever, nil
	case "interval":
		return FsyncInterval, nil
	case "always":
		return FsyncAlways, nil
	}
	return 0, fmt.Errorf("fsync must be one of never, interval, always; got %q", s)
}

// String returns the config spelling of m.
func (m FsyncMode) String() string {
	switch m {
	case FsyncNever:
		return "never"
	case FsyncInterval:
		return "interval"
	case FsyncAlways:
		return "always"
	}
	return fmt.Sprintf("FsyncMode(%d)", int(m))
}

// Default values of WriterConfig fields left zero.
const (
	DefaultMaxOpenFiles  = 256
	DefaultFsyncInterval = time.Second
)

// Hooks lets the owner of a Writer count what happens inside it (for its
// own telemetry). Nil hooks are skipped; hooks must be cheap and must not
// call back into the Writer.
type Hooks struct {
	// FileOpened is called when a run's ledger file is opened, FileClosed
	// when it is closed again (LRU eviction, error or Close).
	FileOpened, FileClosed func()
	// TornLine is called when a torn last line of bytes bytes was cut off a
	// file on open.
	TornLine func(path string, bytes int64)
	// WriteError is called for every failed disk operation.
	WriteError func(err error)
	// Appended is called after lines were appended to a run's file (see
	// Observer), under that run's lock, so calls for one file come in file
	// order. It must not keep a or its Lines.
	Appended func(a *Appended)
}

// WriterConfig configures a Writer.
type WriterConfig struct {
	// Dir is the ledger directory; it is created when missing.
	Dir string
	// FS is the file system, OSFS when nil.
	FS FS
	// MaxOpenFiles bounds open ledger files (and the memory of per-run
	// state); idle files are closed least recently used first. A file in use
	// is never closed, so the bound is exceeded while more runs than
	// MaxOpenFiles are written at the same instant. Default 256.
	MaxOpenFiles int
	// Fsync says when files are synced.
	Fsync FsyncMode
	// FsyncInterval is the period of FsyncInterval, default 1s.
	FsyncInterval time.Duration
	// Retention removes date folders whose whole day is older than this; 0
	// keeps everything. It also bounds which folders the run index is built
	// from.
	Retention time.Duration
	// SweepInterval is the period of the retention sweep; default the
	// smaller of an hour and Retention/4 (at least a minute).
	SweepInterval time.Duration
	// MaxRunStates bounds the runs whose seq and dedupe window stay in
	// memory after their file was closed, so a run written again soon is
	// reopened without reading its file's tail. Default 4 * MaxOpenFiles
	// (at least MaxOpenFiles).
	MaxRunStates int
	// DedupeWindow is the number of most recent event ids remembered per run;
	// an event whose id is among them is not written again. 0 disables
	// deduplication.
	DedupeWindow int
	// Now is the clock, time.Now when nil.
	Now func() time.Time
	// Logger receives one line per disk error condition and its recovery.
	Logger *zap.Logger
	// Hooks are called for telemetry.
	Hooks Hooks
}

// WriteResult counts what a Write did.
type WriteResult struct {
	// Lines is the number of lines written.
	Lines int
	// Bytes is the number of bytes written.
	Bytes int
	// Deduped is the number of events skipped as already written.
	Deduped int
	// Invalid is the number of events not written because their RunID or
	// Kind was empty (readers would reject such lines).
	Invalid int
}

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("ledger writer is closed")

// Writer appends step events to per-run ledger files under a directory:
// one file per run id (found again across midnight and restarts through an
// index of the date folders), seq continuing from the file's last line,
// duplicates within the dedupe window dropped, a bounded set of open files.
// It is safe for concurrent use; writes to different runs proceed in
// parallel.
type Writer struct {
	cfg    WriterConfig
	fs     FS
	now    func() time.Time
	logger *zap.Logger

	// hashStem hashes file name stems for index; seeded per Writer, a
	// constant in tests that force collisions.
	hashStem func(stem string) uint64

	mu          sync.Mutex
	closed      bool
	isClosed    atomic.Bool          // closed, readable without mu
	runs        map[string]*runState // run id -> state in memory
	runsChurn   churnmap.Counter     // deletes from runs
	files       lruList              // runs with an open file, most recent first
	states      lruList              // runs with a known state (warm), most recent first
	dirtyClosed map[string]struct{}  // closed while not yet synced (FsyncInterval)
	// index maps the hash of a file name stem to the id of its date folder
	// in days: one entry per run ever written within retention, so it is
	// kept pointer-free and small (no strings for the GC to scan or keep).
	// Two stems can share a hash, so an entry is a hint that openRun checks
	// against the disk.
	index  map[uint64]uint16
	days   []string          // date folder of each id, "" for a freed id
	dayIDs map[string]uint16 // date folders known to exist -> their id in days

	conds conditions

	createMu sync.Mutex // one file creation at a time, see create

	bufPool   sync.Pool // *[]byte: encoded lines of one run
	linePool  sync.Pool // *[]Line: Appended lines of one run
	tailPool  sync.Pool // *[]byte: tail reads on open
	dedupPool sync.Pool // *dedupe: windows of dropped states
	grouper   grouper   // groups a write's events by run

	stop chan struct{}
	wg   sync.WaitGroup
}

// runState is what the Writer knows about one run. Its file fields are
// guarded by mu; an idle state (refs == 0) is only touched under Writer.mu,
// so eviction can take its file without mu.
type runState struct {
	id string

	mu    sync.Mutex // held while opening and writing
	f     File       // nil while closed
	warm  bool       // path, size, seq and dd are what is on disk
	path  string
	dir   string
	size  int64
	seq   uint64
	dd    *dedupe
	dirty atomic.Bool // lines written since the last fsync

	// Under Writer.mu:
	refs  int
	links [2]lruLinks // in Writer.files and Writer.states
}

type lruLinks struct {
	prev, next *runState
	in         bool
}

// lruList is an intrusive doubly linked list over one of runState.links.
type lruList struct {
	which      int
	head, tail *runState
	n          int
}

func (l *lruList) pushFront(rs *runState) {
	lk := &rs.links[l.which]
	lk.prev, lk.next, lk.in = nil, l.head, true
	if l.head != nil {
		l.head.links[l.which].prev = rs
	}
	l.head = rs
	if l.tail == nil {
		l.tail = rs
	}
	l.n++
}

func (l *lruList) remove(rs *runState) {
	lk := &rs.links[l.which]
	if !lk.in {
		return
	}
	if lk.prev != nil {
		lk.prev.links[l.which].next = lk.next
	} else {
		l.head = lk.next
	}
	if lk.next != nil {
		lk.next.links[l.which].prev = lk.prev
	} else {
		l.tail = lk.prev
	}
	*lk = lruLinks{}
	l.n--
}

func (l *lruList) touch(rs *runState) {
	if rs.links[l.which].in && l.head != rs {
		l.remove(rs)
		l.pushFront(rs)
	}
}

// NewWriter creates the ledger directory if needed, builds the run index
// from the date folders within retention and starts the background fsync
// (FsyncInterval) and retention sweep (Retention > 0, a first sweep right
// away) loops. Call Close to stop them and close the files.
func NewWriter(cfg WriterConfig) (*Writer, error) {
	return newWriter(cfg, nil)
}

// newWriter is NewWriter with the stem hash of the index replaced when
// hashStem is not nil (tests forcing collisions).
func newWriter(cfg WriterConfig, hashStem func(string) uint64) (*Writer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("ledger directory is empty")
	}
	if cfg.FS == nil {
		cfg.FS = OSFS()
	}
	if cfg.MaxOpenFiles <= 0 {
		cfg.MaxOpenFiles = DefaultMaxOpenFiles
	}
	if cfg.MaxRunStates <= 0 {
		cfg.MaxRunStates = 4 * cfg.MaxOpenFiles
	}
	cfg.MaxRunStates = max(cfg.MaxRunStates, cfg.MaxOpenFiles)
	if cfg.FsyncInterval <= 0 {
		cfg.FsyncInterval = DefaultFsyncInterval
	}
	if cfg.SweepInterval <= 0 && cfg.Retention > 0 {
		cfg.SweepInterval = min(time.Hour, max(cfg.Retention/4, time.Minute))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if hashStem == nil {
		seed := maphash.MakeSeed()
		hashStem = func(stem string) uint64 { return maphash.String(seed, stem) }
	}
	w := &Writer{
		hashStem:    hashStem,
		cfg:         cfg,
		fs:          cfg.FS,
		now:         cfg.Now,
		logger:      cfg.Logger,
		runs:        map[string]*runState{},
		files:       lruList{which: 0},
		states:      lruList{which: 1},
		index:       map[uint64]uint16{},
		dayIDs:      map[string]uint16{},
		dirtyClosed: map[string]struct{}{},
		stop:        make(chan struct{}),
	}
	w.conds.active = map[condKey]*condition{}
	if err := w.fs.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create ledger directory %q: %w", cfg.Dir, err)
	}
	if err := w.buildIndex(); err != nil {
		return nil, err
	}
	if cfg.Fsync == FsyncInterval {
		w.wg.Add(1)
		go w.loop(cfg.FsyncInterval, false, w.syncDirty)
	}
	if cfg.Retention > 0 {
		w.wg.Add(1)
		go w.loop(cfg.SweepInterval, true, func() {
			if _, err := w.Sweep(); err != nil {
				w.logger.Warn("ledger retention sweep failed", zap.Error(err))
			}
		})
	}
	return w, nil
}

func (w *Writer) loop(every time.Duration, now bool, fn func()) {
	defer w.wg.Done()
	if now {
		fn()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			fn()
		}
	}
}

// dateFolders returns the date folder names under Dir, oldest first.
func (w *Writer) dateFolders() ([]string, error) {
	ents, err := w.fs.ReadDir(w.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("list ledger directory %q: %w", w.cfg.Dir, err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && IsDateDir(e.Name()) {
			if _, err := time.Parse(DateLayout, e.Name()); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// expired reports whether the whole day of date folder name is older than
// the retention at now.
func (w *Writer) expired(name string, now time.Time) bool {
	if w.cfg.Retention <= 0 {
		return false
	}
	d, err := time.Parse(DateLayout, name)
	if err != nil {
		return false
	}
	return !d.Add(24 * time.Hour).After(now.Add(-w.cfg.Retention))
}

func (w *Writer) buildIndex() error {
	days, err := w.dateFolders()
	if err != nil {
		return err
	}
	now := w.now()
	for _, day := range days {
		if w.expired(day, now) {
			continue
		}
		ents, err := w.fs.ReadDir(filepath.Join(w.cfg.Dir, day))
		if err != nil {
			return fmt.Errorf("index ledger folder %q: %w", day, err)
		}
		id, ok := w.dayIDLocked(day)
		for _, e := range ents {
			name := e.Name()
			if !ok || e.IsDir() || !strings.HasSuffix(name, FileExt) {
				continue
			}
			w.index[w.hashStem(strings.TrimSuffix(name, FileExt))] = id // newest folder wins
		}
	}
	return nil
}

// Runs returns the number of runs in the index (every run with a ledger
// file within retention, less the rare runs whose stem hashes collide).
func (w *Writer) Runs() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.index)
}

// OpenFiles returns the number of open ledger files.
func (w *Writer) OpenFiles() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.files.n
}

// Write appends events to their runs' ledgers, in order within each run, and
// returns when the lines are written to the operating system (and synced
// with FsyncAlways). It reorders events (grouping them by run). Runs are
// written independently: on error some runs may be written and others not;
// writing the same events again is safe because written events are deduped.
// A failed write leaves the file as it was before it.
func (w *Writer) Write(events []Event) (WriteResult, error) {
	var res WriteResult
	if len(events) == 0 {
		return res, nil
	}
	w.grouper.group(events)
	bp := getBuf(&w.bufPool, 64<<10)
	defer w.bufPool.Put(bp)
	var lines *[]Line // summaries for the Appended hook
	if w.cfg.Hooks.Appended != nil {
		if v, ok := w.linePool.Get().(*[]Line); ok {
			lines = v
		} else {
			lines = new([]Line)
		}
		defer w.putLines(lines)
	}
	var errs []error
	for i := 0; i < len(events); {
		j := i + 1
		for j < len(events) && events[j].RunID == events[i].RunID {
			j++
		}
		if events[i].RunID == "" {
			res.Invalid += j - i
			i = j
			continue
		}
		if err := w.writeRun(events[i:j], bp, lines, &res); err != nil {
			errs = append(errs, err)
		}
		i = j
	}
	if cap(*bp) > 4<<20 {
		*bp = nil // do not keep a huge buffer around
	}
	return res, errors.Join(errs...)
}

// putLines returns a lines buffer to the pool, dropping its references to
// event data (and the buffer itself when a huge write grew it).
func (w *Writer) putLines(lines *[]Line) {
	clear((*lines)[:cap(*lines)])
	if cap(*lines) > 4096 {
		*lines = nil
	}
	*lines = (*lines)[:0]
	w.linePool.Put(lines)
}

func getBuf(p *sync.Pool, size int) *[]byte {
	if v, ok := p.Get().(*[]byte); ok {
		return v
	}
	b := make([]byte, 0, size)
	return &b
}

func (w *Writer) writeRun(evs []Event, bp *[]byte, lines *[]Line, res *WriteResult) error {
	rs, err := w.acquire(evs[0].RunID)
	if err != nil {
		return err
	}
	defer w.release(rs)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if w.isClosed.Load() {
		return ErrClosed
	}
	if rs.f == nil {
		if err := w.openRun(rs, evs[0].Time.AsTime()); err != nil {
			return err
		}
	}
	b := (*bp)[:0]
	seq := rs.seq
	if lines != nil {
		*lines = (*lines)[:0]
	}
	for k := range evs {
		e := &evs[k]
		if e.Kind == "" {
			res.Invalid++
			continue
		}
		if w.cfg.DedupeWindow > 0 {
			key := e.ID.key()
			if rs.dd.contains(key) {
				res.Deduped++
				continue
			}
			rs.dd.add(key)
		}
		seq++
		b = AppendEvent(b, e, seq)
		b = append(b, '\n')
		if lines != nil {
			*lines = append(*lines, e.summaryLine(seq))
		}
	}
	*bp = b
	if len(b) == 0 {
		if w.cfg.Fsync == FsyncAlways && rs.dirty.Load() {
			// An earlier fsync failed after its lines were written: the
			// redelivery is deduped, but it is acked only once synced.
			return w.syncRun(rs)
		}
		return nil
	}
	n, err := rs.f.Write(b)
	if err != nil {
		// Cut a partial write back to the last whole line and forget the
		// run's state: the next write reopens the file and takes seq and
		// the dedupe window from what is really on disk.
		if n > 0 {
			if terr := rs.f.Truncate(rs.size); terr != nil {
				_ = w.failure(rs.dir, "truncate partial write", rs.path, terr)
			}
		}
		w.closeRun(rs)
		return w.failure(rs.dir, "write", rs.path, err)
	}
	res.Lines += int(seq - rs.seq)
	res.Bytes += n
	from := rs.size
	rs.size += int64(n)
	rs.seq = seq
	if lines != nil {
		w.cfg.Hooks.Appended(&Appended{Path: rs.path, From: from, To: rs.size, Lines: *lines})
	}
	switch w.cfg.Fsync {
	case FsyncAlways:
		return w.syncRun(rs)
	case FsyncInterval:
		rs.dirty.Store(true)
	}
	w.conds.success(w, rs.dir)
	return nil
}

// syncRun fsyncs the file of rs (FsyncAlways); a failure leaves it dirty so
// the next write of the run syncs again. Called with rs.mu held.
func (w *Writer) syncRun(rs *runState) error {
	if err := rs.f.Sync(); err != nil {
		rs.dirty.Store(true)
		return w.failure(rs.dir, "fsync", rs.path, err)
	}
	rs.dirty.Store(false)
	w.conds.success(w, rs.dir)
	return nil
}

// acquire returns the state of run id with a reference held.
func (w *Writer) acquire(id string) (*runState, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, ErrClosed
	}
	rs := w.runs[id]
	if rs == nil {
		rs = &runState{id: strings.Clone(id)}
		w.runs[rs.id] = rs
	}
	rs.refs++
	w.files.touch(rs)
	w.states.touch(rs)
	return rs, nil
}

// release drops a reference from acquire, forgets a state that never got
// established and enforces the limits.
func (w *Writer) release(rs *runState) {
	w.mu.Lock()
	rs.refs--
	var closing []closingFile
	if rs.refs == 0 {
		if !rs.warm && rs.f == nil {
			w.dropLocked(rs)
		}
		closing = w.evictLocked(nil)
	}
	w.mu.Unlock()
	w.closeFiles(closing)
}

// closingFile is a file taken off an evicted run, closed outside Writer.mu.
type closingFile struct {
	f    File
	path string
}

// evictLocked closes (takes the files of) idle runs beyond MaxOpenFiles and
// forgets idle states beyond MaxRunStates, least recently used first. A run
// with a reference is skipped, so the bounds can be exceeded while that many
// runs are written at once.
func (w *Writer) evictLocked(closing []closingFile) []closingFile {
	for rs := w.files.tail; rs != nil && w.files.n > w.cfg.MaxOpenFiles; {
		prev := rs.links[0].prev
		if rs.refs == 0 {
			closing = w.takeFileLocked(rs, closing)
		}
		rs = prev
	}
	for rs := w.states.tail; rs != nil && w.states.n > w.cfg.MaxRunStates; {
		prev := rs.links[1].prev
		if rs.refs == 0 {
			closing = w.takeFileLocked(rs, closing)
			w.dropLocked(rs)
		}
		rs = prev
	}
	return closing
}

// takeFileLocked detaches the open file of the idle run rs (its state stays
// warm). Nobody holds rs.mu: taking it needs a reference, which needs w.mu.
func (w *Writer) takeFileLocked(rs *runState, closing []closingFile) []closingFile {
	if rs.f == nil {
		return closing
	}
	if w.cfg.Fsync == FsyncInterval && rs.dirty.Load() {
		w.dirtyClosed[rs.path] = struct{}{}
		rs.dirty.Store(false)
	}
	closing = append(closing, closingFile{f: rs.f, path: rs.path})
	rs.f = nil
	w.files.remove(rs)
	return closing
}

// dropLocked forgets rs (idle, file closed).
func (w *Writer) dropLocked(rs *runState) {
	w.states.remove(rs)
	if w.runs[rs.id] == rs {
		delete(w.runs, rs.id)
		w.runsChurn.Deleted(1)
		w.runs = churnmap.Compact(w.runs, &w.runsChurn)
	}
	if rs.dd != nil {
		w.dedupPool.Put(rs.dd)
		rs.dd = nil
	}
	rs.warm = false
}

func (w *Writer) closeFiles(closing []closingFile) {
	for _, c := range closing {
		if err := c.f.Close(); err != nil {
			w.logger.Debug("close ledger file", zap.String("path", c.path), zap.Error(err))
		}
		w.hook(w.cfg.Hooks.FileClosed)
	}
}

func (w *Writer) hook(fn func()) {
	if fn != nil {
		fn()
	}
}

// dateFor returns the date folder of a new run whose first event is at t:
// its UTC date, or today's when t is unset, more than a day in the future or
// already past retention (so a bad producer clock cannot put a live run in
// a folder the sweep removes).
func (w *Writer) dateFor(t time.Time) string {
	now := w.now()
	if t.UnixNano() <= 0 || t.After(now.Add(24*time.Hour)) ||
		(w.cfg.Retention > 0 && t.Before(now.Add(-w.cfg.Retention))) {
		t = now
	}
	return DateDir(t)
}

// openRun opens (creating when new) the ledger file of rs. A warm state
// whose file still has the size it left it at is reused; otherwise seq and
// the dedupe window are loaded from the file's tail, after cutting a torn
// last line. Called with rs.mu held.
func (w *Writer) openRun(rs *runState, first time.Time) error {
	var stem, dir, path string
	var dirKnown, known bool
	if rs.warm {
		dir, path, dirKnown = rs.dir, rs.path, true
	} else {
		stem = FileName(rs.id)
		var day string
		w.mu.Lock()
		if id, ok := w.index[w.hashStem(stem)]; ok {
			day, known = w.days[id], true
		} else {
			day = w.dateFor(first)
		}
		_, dirKnown = w.dayIDs[day]
		w.mu.Unlock()
		dir = filepath.Join(w.cfg.Dir, day)
		path = filepath.Join(dir, stem+FileExt)
	}
	// A file known to exist is opened without O_CREATE: Linux takes the
	// folder's lock exclusively for every O_CREATE open, and with thousands
	// of runs in one date folder reopening files (open-file LRU) would
	// serialise on it. A new run's file is created with O_EXCL, which proves
	// it empty, so its tail need not be read.
	var f File
	err := fs.ErrNotExist
	if rs.warm || known {
		f, err = w.fs.OpenFile(path, os.O_RDWR|os.O_APPEND, 0o644)
	}
	if known && errors.Is(err, fs.ErrNotExist) {
		// The index entry was another run's (the stems' hashes collide) or
		// the file is gone: start the run where a new run goes, not in the
		// folder the entry names.
		w.mu.Lock()
		day := w.dateFor(first)
		_, dirKnown = w.dayIDs[day]
		w.mu.Unlock()
		dir = filepath.Join(w.cfg.Dir, day)
		path = filepath.Join(dir, stem+FileExt)
	}
	if !dirKnown {
		if err := w.fs.MkdirAll(dir, 0o755); err != nil {
			return w.failure(dir, "create folder", dir, err)
		}
	}
	created := false
	if errors.Is(err, fs.ErrNotExist) {
		f, created, err = w.create(path)
	}
	if err != nil && errors.Is(err, fs.ErrNotExist) && dirKnown {
		// The folder went away (removed by hand); create it again.
		if err := w.fs.MkdirAll(dir, 0o755); err != nil {
			return w.failure(dir, "create folder", dir, err)
		}
		f, created, err = w.create(path)
	}
	if err != nil {
		return w.failure(dir, "open", path, err)
	}
	switch {
	case created:
		w.resetRun(rs)
	case rs.warm:
		// Reuse the warm state when the file still has the size it left
		// it at; otherwise load it from the file.
		if fi, err := f.Stat(); err == nil && fi.Size() == rs.size {
			break
		}
		fallthrough
	default:
		if err := w.loadTail(rs, f, path); err != nil {
			_ = f.Close()
			rs.warm = false
			return w.failure(dir, "recover tail of", path, err)
		}
	}
	rs.f, rs.dir, rs.path, rs.warm = f, dir, path, true

	w.mu.Lock()
	w.remember(FileNameStem(path), filepath.Base(dir))
	w.files.pushFront(rs)
	if !rs.links[1].in {
		w.states.pushFront(rs)
	}
	closing := w.evictLocked(nil)
	w.mu.Unlock()
	w.hook(w.cfg.Hooks.FileOpened)
	w.closeFiles(closing)
	return nil
}

// remember records that the run file stem is in date folder day (which
// exists). Called with w.mu held.
func (w *Writer) remember(stem, day string) {
	if id, ok := w.dayIDLocked(day); ok {
		w.index[w.hashStem(stem)] = id
	}
}

// dayIDLocked returns the id of date folder day in days, adding it (and so
// marking it known to exist) when new. A freed id is reused: the sweep frees
// one only after dropping the index entries naming it. ok is false only when
// 65536 date folders are known at once (possible only through producer
// clocks with Retention 0); runs in further folders are then not
// remembered, which costs them only their continuation across midnight and
// restarts. Called with w.mu held or from NewWriter.
func (w *Writer) dayIDLocked(day string) (id uint16, ok bool) {
	if id, ok := w.dayIDs[day]; ok {
		return id, true
	}
	day = strings.Clone(day) // day is often part of a run's path
	i := -1
	if len(w.days) > len(w.dayIDs) { // a freed id to reuse
		i = slices.Index(w.days, "")
	}
	switch {
	case i >= 0:
		w.days[i] = day
	case len(w.days) <= math.MaxUint16:
		i = len(w.days)
		w.days = append(w.days, day)
	default:
		return 0, false
	}
	w.dayIDs[day] = uint16(i)
	return uint16(i), true
}

// FileNameStem returns the file name of path without directory and FileExt.
func FileNameStem(path string) string {
	return strings.TrimSuffix(filepath.Base(path), FileExt)
}

// create creates the file at path, reporting whether it is new (and so
// empty); an existing file is opened for appending.
//
// Creates are serialised: the kernel creates one file at a time per folder
// anyway (under the folder's lock) and, on ext4, waiting creators spin on
// that lock while the holder searches for a free inode, which under load
// cost up to an eighth of the collector's CPU. Waiting here costs nothing.
func (w *Writer) create(path string) (File, bool, error) {
	w.createMu.Lock()
	defer w.createMu.Unlock()
	f, err := w.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err == nil {
		return f, true, nil
	}
	if errors.Is(err, fs.ErrExist) {
		f, err = w.fs.OpenFile(path, os.O_RDWR|os.O_APPEND, 0o644)
	}
	return f, false, err
}

// resetRun sets the state of rs for a new, empty file.
func (w *Writer) resetRun(rs *runState) {
	rs.size, rs.seq = 0, 0
	rs.dirty.Store(false)
	w.ensureDedupe(rs)
	rs.dd.reset(w.cfg.DedupeWindow)
}

func (w *Writer) ensureDedupe(rs *runState) {
	if rs.dd != nil {
		return
	}
	if d, ok := w.dedupPool.Get().(*dedupe); ok {
		rs.dd = d
	} else {
		rs.dd = &dedupe{}
	}
}

// loadTail sets the state of rs from the end of its file f.
func (w *Writer) loadTail(rs *runState, f File, path string) error {
	tp := getBuf(&w.tailPool, tailChunk)
	st, buf, err := recoverTail(f, w.cfg.DedupeWindow, (*tp)[:0])
	if cap(buf) <= 2*tailChunk {
		*tp = buf[:0]
	}
	w.tailPool.Put(tp)
	if err != nil {
		return err
	}
	if st.torn > 0 {
		w.logger.Warn("cut torn last line off ledger file",
			zap.String("path", path), zap.Int64("bytes", st.torn))
		if w.cfg.Hooks.TornLine != nil {
			w.cfg.Hooks.TornLine(path, st.torn)
		}
	}
	rs.size, rs.seq = st.size, st.seq
	rs.dirty.Store(st.torn > 0)
	w.ensureDedupe(rs)
	rs.dd.reset(w.cfg.DedupeWindow)
	for i := len(st.ids) - 1; i >= 0; i-- {
		if !rs.dd.contains(st.ids[i]) {
			rs.dd.add(st.ids[i])
		}
	}
	return nil
}

// closeRun closes the file of rs after an error and marks its state stale,
// so the next write reloads it from disk. Called with rs.mu held.
func (w *Writer) closeRun(rs *runState) {
	if rs.f == nil {
		return
	}
	_ = rs.f.Close()
	rs.f = nil
	rs.warm = false
	w.mu.Lock()
	w.files.remove(rs)
	w.mu.Unlock()
	w.hook(w.cfg.Hooks.FileClosed)
}

// syncDirty fsyncs files with lines written since their last sync,
// including files closed since.
func (w *Writer) syncDirty() {
	w.mu.Lock()
	var busy []*runState
	for rs := w.files.head; rs != nil; rs = rs.links[0].next {
		if rs.dirty.Load() {
			rs.refs++
			busy = append(busy, rs)
		}
	}
	var paths []string
	for p := range w.dirtyClosed {
		paths = append(paths, p)
	}
	clear(w.dirtyClosed)
	w.mu.Unlock()

	if len(busy)+len(paths) >= syncFSThreshold && w.syncFS(busy) {
		return
	}
	for _, rs := range busy {
		rs.mu.Lock()
		f := rs.f
		dirty := rs.dirty.Swap(false)
		dir, path := rs.dir, rs.path
		rs.mu.Unlock()
		if f != nil && dirty {
			// Sync outside the run lock so writers are not held up; the
			// reference keeps the file from being evicted meanwhile.
			if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
				_ = w.failure(dir, "fsync", path, err)
				rs.dirty.Store(true)
			}
		}
		w.release(rs)
	}
	for _, p := range paths {
		w.syncPath(p)
	}
}

// syncFSThreshold is the number of dirty files from which one syncfs(2) of
// the ledger file system replaces per-file fsyncs.
const syncFSThreshold = 32

// fsSyncer is implemented by file systems that can flush everything at once
// (the OS file system on Linux).
type fsSyncer interface{ SyncFS(dir string) error }

// syncFS flushes the whole ledger file system, marks the busy runs clean and
// releases them; it reports false (busy runs still held) when the file system
// cannot, or the call failed, so the caller falls back to per-file fsync.
func (w *Writer) syncFS(busy []*runState) bool {
	s, ok := w.fs.(fsSyncer)
	if !ok {
		return false
	}
	// Clear the flags first: a line written during the syncfs marks its run
	// dirty again and is synced next time.
	for _, rs := range busy {
		rs.dirty.Store(false)
	}
	if err := s.SyncFS(w.cfg.Dir); err != nil {
		for _, rs := range busy {
			rs.dirty.Store(true)
		}
		w.logger.Warn("syncfs failed, falling back to fsync per file", zap.String("directory", w.cfg.Dir), zap.Error(err))
		return false
	}
	for _, rs := range busy {
		w.release(rs)
	}
	return true
}

func (w *Writer) syncPath(p string) {
	f, err := w.fs.OpenFile(p, os.O_RDONLY, 0)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			_ = w.failure(filepath.Dir(p), "open for fsync", p, err)
		}
		return
	}
	if err := f.Sync(); err != nil {
		_ = w.failure(filepath.Dir(p), "fsync", p, err)
	}
	_ = f.Close()
}

// Sync fsyncs every file with lines not yet synced.
func (w *Writer) Sync() { w.syncDirty() }

// Sweep removes the date folders whose whole day is older than Retention
// (nothing when Retention is 0). Files of runs that are open or being
// written are kept (with their folder). It returns the removed folders.
func (w *Writer) Sweep() ([]string, error) {
	if w.cfg.Retention <= 0 {
		return nil, nil
	}
	days, err := w.dateFolders()
	if err != nil {
		return nil, err
	}
	now := w.now()
	var removed []string
	var errs []error
	for _, day := range days {
		if !w.expired(day, now) {
			continue
		}
		dir := filepath.Join(w.cfg.Dir, day)
		// Under the lock: forget the folder's idle runs so new events for
		// them start a new file, and note the busy ones to keep (file names,
		// and their stems' hashes for the index).
		keep := map[string]bool{}
		keepHash := map[uint64]bool{}
		w.mu.Lock()
		id, hasID := w.dayIDs[day]
		for _, rs := range w.runs {
			if rs.refs > 0 {
				// Busy: its fields belong to the writer holding it; the
				// index says where its file is (an entry of a colliding
				// stem at worst delays the folder's removal a sweep).
				stem := FileName(rs.id)
				h := w.hashStem(stem)
				if d, ok := w.index[h]; ok && hasID && d == id {
					keep[stem+FileExt], keepHash[h] = true, true
				}
				continue
			}
			// Idle: nobody holds rs.mu, its fields are stable.
			if !rs.warm || rs.dir != dir {
				continue
			}
			if rs.f != nil {
				stem := FileNameStem(rs.path)
				keep[stem+FileExt], keepHash[w.hashStem(stem)] = true, true
			} else {
				w.dropLocked(rs)
			}
		}
		if hasID {
			for h, d := range w.index {
				if d == id && !keepHash[h] {
					delete(w.index, h)
				}
			}
			if len(keep) == 0 {
				// No entry names the id any more: free it.
				delete(w.dayIDs, day)
				w.days[id] = ""
			}
		}
		w.mu.Unlock()

		if len(keep) == 0 {
			if err := w.fs.RemoveAll(dir); err != nil {
				errs = append(errs, fmt.Errorf("remove expired ledger folder %q: %w", dir, err))
				continue
			}
			removed = append(removed, dir)
			continue
		}
		ents, err := w.fs.ReadDir(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("list expired ledger folder %q: %w", dir, err))
			continue
		}
		for _, e := range ents {
			if keep[e.Name()] {
				continue
			}
			if err := w.fs.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				errs = append(errs, fmt.Errorf("remove expired ledger file: %w", err))
			}
		}
	}
	if len(removed) > 0 {
		w.logger.Info("removed expired ledger folders", zap.Strings("folders", removed),
			zap.Duration("retention", w.cfg.Retention))
	}
	return removed, errors.Join(errs...)
}

// Close stops the background loops, syncs (unless FsyncNever) and closes
// every file. Writes after Close fail with ErrClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.isClosed.Store(true)
	w.mu.Unlock()
	close(w.stop)
	w.wg.Wait()

	w.mu.Lock()
	all := make([]*runState, 0, len(w.runs))
	for _, rs := range w.runs {
		rs.refs++ // keeps eviction by a finishing writer away
		all = append(all, rs)
	}
	paths := make([]string, 0, len(w.dirtyClosed))
	for p := range w.dirtyClosed {
		paths = append(paths, p)
	}
	clear(w.dirtyClosed)
	w.mu.Unlock()

	// Many dirty files (the usual case under load) are flushed with one
	// syncfs(2) after closing them, not an fsync each: thousands of fsyncs
	// made shutdown take seconds.
	sync := w.cfg.Fsync != FsyncNever
	dirty := len(paths)
	for _, rs := range all {
		if rs.dirty.Load() {
			dirty++
		}
	}
	s, bulk := w.fs.(fsSyncer)
	bulk = bulk && sync && dirty >= syncFSThreshold
	var errs []error
	for _, rs := range all {
		rs.mu.Lock() // waits for a write in progress
		if rs.f != nil {
			if sync && rs.dirty.Load() {
				if bulk {
					paths = append(paths, rs.path)
				} else if err := rs.f.Sync(); err != nil {
					errs = append(errs, fmt.Errorf("fsync %q: %w", rs.path, err))
				}
			}
			if err := rs.f.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close %q: %w", rs.path, err))
			}
			rs.f = nil
			w.mu.Lock()
			w.files.remove(rs)
			w.mu.Unlock()
			w.hook(w.cfg.Hooks.FileClosed)
		}
		rs.mu.Unlock()
		w.release(rs)
	}
	if bulk {
		err := s.SyncFS(w.cfg.Dir)
		if err == nil {
			return errors.Join(errs...)
		}
		w.logger.Warn("syncfs failed, falling back to fsync per file", zap.String("directory", w.cfg.Dir), zap.Error(err))
	}
	if sync {
		for _, p := range paths {
			w.syncPath(p)
		}
	}
	return errors.Join(errs...)
}
