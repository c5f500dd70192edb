package runindex

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

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
	seenDays := make(map[string]struct{}, len(days)) // by name
	for _, day := range days {
		if !day.IsDir() || !ledger.IsDateDir(day.Name()) {
			continue
		}
		dayPath := filepath.Join(ix.dir, day.Name())
		seenDays[day.Name()] = struct{}{}
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
			st.Removed += ix.dropGoneIn(day.Name(), names)
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
			if !full && ix.quiet(p, now) {
				continue
			}
			if err := ix.statAndRefresh(p, now, &st); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for dayPath := range ix.days {
		if _, ok := seenDays[filepath.Base(dayPath)]; !ok {
			delete(ix.days, dayPath)
		}
	}
	st.Removed += ix.dropGoneDays(seenDays)
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

// dropGoneIn drops the runs of date folder day whose file names are not in
// names and returns how many.
func (ix *Index) dropGoneIn(day string, names map[string]struct{}) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := 0
	for p, f := range ix.files {
		d, name := splitRel(p)
		if _, ok := names[name]; d == day && !ok {
			ix.dropLocked(f)
			n++
		}
	}
	if n > 0 {
		ix.sorted = nil
	}
	var buf []byte
	for _, s := range slices.Clone(ix.settled.segs(day)) {
		next := s.without(func(i int) bool {
			buf = append(append(buf[:0], s.id(i)...), ledger.FileExt...)
			_, ok := names[string(buf)]
			return !ok
		})
		n += s.len() - next.len()
		ix.settled.replace(s, next)
	}
	return n
}

// dropGoneDays drops the runs of date folders not in days (by name) and
// returns how many.
func (ix *Index) dropGoneDays(days map[string]struct{}) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := 0
	for p, f := range ix.files {
		d, _ := splitRel(p)
		if _, ok := days[d]; !ok {
			ix.dropLocked(f)
			n++
		}
	}
	if n > 0 {
		ix.sorted = nil
	}
	for day := range ix.settled.folders {
		if _, ok := days[day]; !ok {
			n += ix.settled.dropFolder(day)
		}
	}
	return n
}

// quiet reports whether a quick refresh may skip the file at path: its
// run ended a while ago, or settled.
func (ix *Index) quiet(path string, now time.Time) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	rel := ix.rel(path)
	f := ix.files[rel]
	if f == nil {
		_, _, settled := ix.settled.findPath(rel)
		return settled
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
		if ix.settled.removePath(rel) {
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
	if f.runID != "" && ix.byRun[f.runID] == f {
		delete(ix.byRun, f.runID)
	}
}

// refreshFile brings one file up to date. Reading happens on a private copy
// of the state, published under the write lock, so readers never wait for I/O.
func (ix *Index) refreshFile(path string, size int64, now time.Time, st *RefreshStats) error {
	ix.mu.RLock()
	rel := ix.rel(path)
	old := ix.files[rel]
	var settledSize int64 = -1
	if old == nil {
		if s, i, ok := ix.settled.findPath(rel); ok {
			settledSize = s.runs[i].size
		}
	}
	ix.mu.RUnlock()
	var work *fileState
	switch {
	case old == nil && size == settledSize:
		return nil
	case old == nil:
		// New, or settled and grown: a settled run keeps too little to go
		// on from, so its file is read again (publishLocked drops the
		// summary).
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
