package ledgerstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/runledger/runledger/internal/ledger"
)

// expired reports whether the whole day of date folder name is older than
// the retention at now.
func (w *Writer) expired(name string, now time.Time) bool {
	if w.cfg.Retention <= 0 {
		return false
	}
	d, err := time.Parse(ledger.DateLayout, name)
	if err != nil {
		return false
	}
	return !d.Add(24 * time.Hour).After(now.Add(-w.cfg.Retention))
}

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
				stem := ledger.FileName(rs.id)
				h := w.hashStem(stem)
				if d, ok := w.index[h]; ok && hasID && d == id {
					keep[stem+ledger.FileExt], keepHash[h] = true, true
				}
				continue
			}
			// Idle: nobody holds rs.mu, its fields are stable.
			if !rs.warm || rs.dir != dir {
				continue
			}
			if rs.f != nil {
				stem := ledger.FileNameStem(rs.path)
				keep[stem+ledger.FileExt], keepHash[w.hashStem(stem)] = true, true
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
