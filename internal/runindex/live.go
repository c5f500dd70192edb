package runindex

import (
	"encoding/binary"
	"path/filepath"
	"slices"
	"strings"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
)

// fileState is the state of a live run's file: what was read of it so far.
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
	// stop is the digest of the run's failures for its stop reason
	// (stop.go); nil for the common run that never failed.
	stop *stopState
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
// appended (the store hands it every append), without reading the file. When the index's
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
	ix.observeStop(work, l)
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
	// A run is live or settled, never both: a live run id is not searched
	// among the settled ones.
	known := work.runID != "" && ix.byRun[work.runID] != nil
	if cur != nil {
		ix.dropLocked(cur)
	} else {
		ix.settled.removePath(work.path) // a settled run read again
	}
	ix.files[work.path] = work
	ix.sorted = nil
	if work.runID != "" {
		// A run id maps to one file; should two exist, keep the one FindRun
		// would pick (the newest date folder).
		if !known {
			if s, i, ok := ix.settled.find(work.runID); ok {
				if s.relPath(i) > work.path {
					return true
				}
				ix.settled.remove(s, i)
			}
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
	c.stop = f.stop.clone()
	return &c
}
