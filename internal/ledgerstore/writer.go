package ledgerstore

import (
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/runledger/runledger/internal/ledger"
)

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

	mu       sync.Mutex
	closed   bool
	isClosed atomic.Bool // closed, readable without mu
	lock     *os.File    // holds the directory's advisory lock; nil where unsupported
	// runs maps run ids to their state in memory. It holds the states of
	// the states LRU plus runs being written, so its size (and the bucket
	// array a Go map keeps after deletes) is bounded by MaxRunStates and
	// the writes in flight: no need to shrink it.
	runs        map[string]*runState
	files       *runLRU             // runs with an open file, see lru.go
	states      *runLRU             // runs with a known state (warm)
	open        int                 // open files: in files or pushed out of it while in use
	closing     []closingFile       // files taken by evictions, closed once mu is released
	dirtyClosed map[string]struct{} // closed while not yet synced (FsyncInterval)
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
	linePool  sync.Pool // *[]ledger.Line: Appended lines of one run
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

	refs int // under Writer.mu
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
		index:       map[uint64]uint16{},
		dayIDs:      map[string]uint16{},
		dirtyClosed: map[string]struct{}{},
		stop:        make(chan struct{}),
	}
	w.conds.active = map[condKey]*condition{}
	if err := w.newLRUs(); err != nil {
		return nil, err
	}
	if err := w.fs.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create ledger directory %q: %w", cfg.Dir, err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	w.lock = lock
	if err := w.buildIndex(); err != nil {
		w.unlock()
		return nil, err
	}
	if cfg.Fsync == FsyncInterval {
		w.wg.Add(1)
		go w.loop(cfg.FsyncInterval, w.syncDirty)
	}
	if cfg.Retention > 0 {
		sweep := func() {
			if _, err := w.Sweep(); err != nil {
				w.logger.Warn("ledger retention sweep failed", zap.Error(err))
			}
		}
		// The first sweep runs before the first write, not beside it: what
		// is expired at start is gone before anything is appended.
		sweep()
		w.wg.Add(1)
		go w.loop(cfg.SweepInterval, sweep)
	}
	return w, nil
}

func (w *Writer) loop(every time.Duration, fn func()) {
	defer w.wg.Done()
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

// Dir returns the ledger directory the writer writes.
func (w *Writer) Dir() string { return w.cfg.Dir }

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
	return w.open
}

// Write appends entries to their runs' ledgers, in order within each run,
// and returns when the lines are written to the operating system (and synced
// with FsyncAlways). It reorders events (grouping them by run) and keeps no
// reference to them or their tails after it returns. Runs are
// written independently: on error some runs may be written and others not;
// writing the same events again is safe because written events are deduped.
// A failed write leaves the file as it was before it.
func (w *Writer) Write(events []ledger.Entry) (WriteResult, error) {
	var res WriteResult
	if len(events) == 0 {
		return res, nil
	}
	w.grouper.group(events)
	bp := getBuf(&w.bufPool, 64<<10)
	defer w.bufPool.Put(bp)
	var lines *[]ledger.Line // summaries for the Appended hook
	if w.cfg.Hooks.Appended != nil {
		if v, ok := w.linePool.Get().(*[]ledger.Line); ok {
			lines = v
		} else {
			lines = new([]ledger.Line)
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
func (w *Writer) putLines(lines *[]ledger.Line) {
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

func (w *Writer) writeRun(evs []ledger.Entry, bp *[]byte, lines *[]ledger.Line, res *WriteResult) error {
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
	first := time.Unix(0, evs[0].Time)
	newline := false
	if rs.f == nil {
		if err := w.openRun(rs, first); err != nil {
			return err
		}
	} else if newline, err = w.checkOpen(rs, first); err != nil {
		return err
	}
	b := (*bp)[:0]
	if newline {
		b = append(b, '\n') // ends a fragment someone else appended
	}
	seq := rs.seq
	if lines != nil {
		*lines = (*lines)[:0]
	}
	for k := range evs {
		e := &evs[k]
		if e.Kind == "" && !e.Span {
			res.Invalid++
			continue
		}
		if w.cfg.DedupeWindow > 0 {
			key := dedupeKey(e.ID)
			if rs.dd.contains(key) {
				res.Deduped++
				continue
			}
			rs.dd.add(key)
		}
		if e.Span {
			// A span record: no seq, and nothing for the index of steps.
			b = ledger.AppendEntry(b, e, 0)
			b = append(b, '\n')
			res.Spans++
			continue
		}
		seq++
		b = ledger.AppendEntry(b, e, seq)
		b = append(b, '\n')
		if lines != nil {
			*lines = append(*lines, e.Summary(seq))
		}
	}
	*bp = b
	if len(b) == 0 || newline && len(b) == 1 {
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
		w.cfg.Hooks.Appended(&ledger.Appended{Path: rs.path, From: from, To: rs.size, Lines: *lines})
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
	w.files.Get(rs)
	w.states.Get(rs)
	return rs, nil
}

// release drops a reference from acquire, forgets a state that never got
// established and puts back into the LRUs a run pushed out of them while it
// was in use (which evicts another one).
func (w *Writer) release(rs *runState) {
	w.mu.Lock()
	rs.refs--
	if rs.refs == 0 {
		switch {
		case !rs.warm && rs.f == nil:
			w.dropLocked(rs)
		default:
			if rs.f != nil && !w.files.Contains(rs) {
				w.files.Add(rs, struct{}{})
			}
			if rs.warm && !w.states.Contains(rs) {
				w.states.Add(rs, struct{}{})
			}
		}
	}
	closing := w.takeClosingLocked()
	w.mu.Unlock()
	w.closeFiles(closing)
}

func (w *Writer) hook(fn func()) {
	if fn != nil {
		fn()
	}
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
	defer w.unlock() // after the last file is synced and closed
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
			w.files.Remove(rs)
			w.open--
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

// lockName is the directory's lock file; readers skip it (not a date folder).
const lockName = ".runledger.lock"

// unlock releases the directory's lock.
func (w *Writer) unlock() {
	if w.lock != nil {
		_ = w.lock.Close()
		w.lock = nil
	}
}
