package ledgerstore

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

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

// syncDirty fsyncs files with lines written since their last sync,
// including files closed since.
func (w *Writer) syncDirty() {
	w.mu.Lock()
	var busy []*runState
	// All runs, not only those of the files LRU: a file in use may be
	// pushed out of it.
	for _, rs := range w.runs {
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
