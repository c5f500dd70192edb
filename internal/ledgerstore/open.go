package ledgerstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/runledger/runledger/internal/ledger"
)

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
	return ledger.DateDir(t)
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
		stem = ledger.FileName(rs.id)
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
		path = filepath.Join(dir, stem+ledger.FileExt)
	}
	// A file known to exist is opened without O_CREATE: Linux takes the
	// folder's lock exclusively for every O_CREATE open, and with thousands
	// of runs in one date folder reopening files (open-file LRU) would
	// serialise on it. A new run's file is created with O_EXCL, which proves
	// it empty, so its tail need not be read.
	var f File
	err := fs.ErrNotExist
	if rs.warm || known {
		f, err = w.fs.OpenFile(path, os.O_RDWR|os.O_APPEND|noFollow, 0o644)
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
		path = filepath.Join(dir, stem+ledger.FileExt)
	}
	if !dirKnown {
		if err := w.fs.MkdirAll(dir, 0o755); err != nil {
			return w.failure(dir, "create folder", dir, err)
		}
	}
	// A date folder replaced by a symlink would put new files outside the
	// directory (and readers skip it): refuse it.
	if derr := w.checkFolder(dir); derr != nil {
		if f != nil {
			_ = f.Close()
		}
		return w.failure(dir, "open folder", dir, derr)
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
	var fi fs.FileInfo
	if !created {
		// A FIFO would block writes (and shutdown), a device would swallow
		// them: only regular files are ledgers. A created file is one.
		fi, err = f.Stat()
		if err == nil && !fi.Mode().IsRegular() {
			err = fmt.Errorf("%w: it is a %s", ErrNotRegular, describeType(fi.Mode()))
		}
		if err != nil {
			_ = f.Close()
			rs.warm = false
			return w.failure(dir, "open", path, err)
		}
	}
	switch {
	case created:
		w.resetRun(rs)
	case rs.warm && fi.Size() == rs.size:
		// The warm state matches the file: reuse it.
	default:
		if err := w.loadTail(rs, f, path); err != nil {
			_ = f.Close()
			rs.warm = false
			return w.failure(dir, "recover tail of", path, err)
		}
	}
	rs.f, rs.dir, rs.path, rs.warm = f, dir, path, true

	w.mu.Lock()
	w.remember(ledger.FileNameStem(path), filepath.Base(dir))
	w.open++
	w.files.Add(rs, struct{}{})
	if !w.states.Contains(rs) {
		w.states.Add(rs, struct{}{})
	}
	closing := w.takeClosingLocked()
	w.mu.Unlock()
	w.hook(w.cfg.Hooks.FileOpened)
	w.closeFiles(closing)
	return nil
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
	// O_EXCL fails on an existing symlink too, and the fallback open does
	// not follow one.
	f, err := w.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err == nil {
		return f, true, nil
	}
	if errors.Is(err, fs.ErrExist) {
		f, err = w.fs.OpenFile(path, os.O_RDWR|os.O_APPEND|noFollow, 0o644)
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
	tp := getBuf(&w.tailPool, ledger.TailChunk)
	st, buf, err := ledger.RecoverTail(f, w.cfg.DedupeWindow, (*tp)[:0])
	if cap(buf) <= 2*ledger.TailChunk {
		*tp = buf[:0]
	}
	w.tailPool.Put(tp)
	if err != nil {
		return err
	}
	if st.Torn > 0 {
		w.logger.Warn("cut torn last line off ledger file",
			zap.String("path", path), zap.Int64("bytes", st.Torn))
		if w.cfg.Hooks.TornLine != nil {
			w.cfg.Hooks.TornLine(path, st.Torn)
		}
	}
	rs.size, rs.seq = st.Size, st.Seq
	rs.dirty.Store(st.Torn > 0)
	w.ensureDedupe(rs)
	rs.dd.reset(w.cfg.DedupeWindow)
	for i := len(st.IDs) - 1; i >= 0; i-- {
		if k := dedupeKey(st.IDs[i]); !rs.dd.contains(k) {
			rs.dd.add(k)
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
	w.files.Remove(rs)
	w.open--
	w.mu.Unlock()
	w.hook(w.cfg.Hooks.FileClosed)
}

// checkFolder returns an error unless dir is a directory itself, not a
// symlink to one.
func (w *Writer) checkFolder(dir string) error {
	fi, err := w.fs.Lstat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // created next, or reported by the open
		}
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: the date folder is a %s", ErrNotRegular, describeType(fi.Mode()))
	}
	return nil
}

// checkOpen looks at the file of rs, opened by an earlier call, before more
// lines go into it. A file deleted (or renamed away) by someone else would
// take acknowledged lines into an inode nobody can read: it is opened again
// at its path. Bytes appended by someone else without a final newline
// would glue onto our first line: the next append starts on a fresh line.
// It returns whether to start the append with a newline. Called with rs.mu
// held.
func (w *Writer) checkOpen(rs *runState, first time.Time) (newline bool, err error) {
	fi, err := rs.f.Stat()
	if err != nil {
		w.closeRun(rs)
		return false, w.failure(rs.dir, "stat", rs.path, err)
	}
	var gone bool
	if n, ok := linkCount(fi); ok {
		gone = n == 0 // deleted, or replaced by a rename over it
	} else {
		// No link count here: compare with what the path names now.
		pfi, perr := w.fs.Lstat(rs.path)
		gone = errors.Is(perr, fs.ErrNotExist) || perr == nil && !os.SameFile(fi, pfi)
	}
	if gone {
		path := rs.path
		w.closeRun(rs)
		w.logger.Warn("ledger file was deleted or replaced while open; writing to a new file at its path",
			zap.String("path", path))
		if w.cfg.Hooks.Recreated != nil {
			w.cfg.Hooks.Recreated(path)
		}
		return false, w.openRun(rs, first)
	}
	if size := fi.Size(); size != rs.size {
		if size > 0 {
			var last [1]byte
			if _, err := rs.f.ReadAt(last[:], size-1); err == nil && last[0] != '\n' {
				newline = true
			}
		}
		rs.size = size
	}
	return newline, nil
}

// describeType names the kind of file m is, for error messages.
func describeType(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "regular file"
	}
	return "special file"
}
