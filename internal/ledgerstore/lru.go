package ledgerstore

import (
	"fmt"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"go.uber.org/zap"
)

// runLRU orders runs by last use. The writer keeps two: files (runs with an
// open file, at most MaxOpenFiles) and states (runs whose seq and dedupe
// window are known, at most MaxRunStates). All calls are under Writer.mu,
// eviction callbacks included.
type runLRU = simplelru.LRU[*runState, struct{}]

// newLRUs creates the files and states LRUs with their eviction callbacks.
//
// A file in use is never closed: when the run an LRU evicts is in use
// (refs > 0), the callback leaves it alone and release puts it back, which
// evicts another run. So the bounds are exceeded by the runs in use that
// were pushed out, and hold again once those writes end. The callbacks also
// run for explicit removals (simplelru calls them from Remove), which they
// recognise as such: a removed file is taken first, a dropped state is
// forgotten anyway.
func (w *Writer) newLRUs() error {
	var err error
	w.files, err = simplelru.NewLRU(w.cfg.MaxOpenFiles, func(rs *runState, _ struct{}) {
		if rs.refs == 0 {
			w.closing = w.takeFileLocked(rs, w.closing)
		}
	})
	if err != nil {
		return fmt.Errorf("open-file LRU: %w", err)
	}
	w.states, err = simplelru.NewLRU(w.cfg.MaxRunStates, func(rs *runState, _ struct{}) {
		if rs.refs == 0 {
			w.closing = w.takeFileLocked(rs, w.closing)
			w.forgetLocked(rs)
		}
	})
	if err != nil {
		return fmt.Errorf("run-state LRU: %w", err)
	}
	return nil
}

// closingFile is a file taken off an evicted run, closed outside Writer.mu.
type closingFile struct {
	f    File
	path string
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
	w.open--
	w.files.Remove(rs) // when not evicted from files: rs.f is nil, the callback does nothing
	return closing
}

// takeClosingLocked returns the files evictions took, for closeFiles once
// w.mu is released.
func (w *Writer) takeClosingLocked() []closingFile {
	c := w.closing
	w.closing = nil
	return c
}

// dropLocked forgets rs (idle, file closed).
func (w *Writer) dropLocked(rs *runState) {
	w.states.Remove(rs)
	w.forgetLocked(rs) // again when the callback did: it is idempotent
}

// forgetLocked removes rs from runs and returns its dedupe window to the
// pool.
func (w *Writer) forgetLocked(rs *runState) {
	if w.runs[rs.id] == rs {
		delete(w.runs, rs.id)
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
