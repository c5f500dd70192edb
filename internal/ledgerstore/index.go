package ledgerstore

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// dateFolders returns the date folder names under Dir, oldest first.
func (w *Writer) dateFolders() ([]string, error) {
	ents, err := w.fs.ReadDir(w.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("list ledger directory %q: %w", w.cfg.Dir, err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && ledger.IsDateDir(e.Name()) {
			if _, err := time.Parse(ledger.DateLayout, e.Name()); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	slices.Sort(out)
	return out, nil
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
			if !ok || e.IsDir() || !strings.HasSuffix(name, ledger.FileExt) {
				continue
			}
			w.index[w.hashStem(strings.TrimSuffix(name, ledger.FileExt))] = id // newest folder wins
		}
	}
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
