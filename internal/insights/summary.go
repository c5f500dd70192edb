// Package insights answers across runs: which stop reasons dominate a
// window, which stages fail, what failing runs have in common that the
// others do not, and what got worse against the previous window. It works
// from the run index (status, stop reason, services) and a compact summary
// of each run (per-kind durations and failures, resource and attribute
// values) read once from the run's ledger and kept while the run is
// unchanged, so a call does not re-read ledgers.
package insights

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/runindex"
	"github.com/runledger/runledger/internal/stepschema"
)

// Feature bounds: a run keeps at most maxFeatures values, each at most
// maxValueBytes long; longer values (ids, texts) are not low-cardinality.
const (
	maxFeatures   = 64
	maxValueBytes = 64
)

// kindSum is one kind's part of a run.
type kindSum struct {
	kind   uint32 // interned
	failed bool
	timed  bool
	ms     float64 // summed durations
}

// runSummary is what insights keep of one run besides its index entry.
type runSummary struct {
	events   int // the entry's event count it was read at
	kinds    []kindSum
	features []uint32 // interned "key=value", sorted, unique
	rootKind uint32   // first failed step's kind (0: none)
}

// Engine keeps the run summaries between calls. Safe for concurrent use.
type Engine struct {
	mu     sync.Mutex
	byPath map[string]*runSummary
	strs   []string
	strIdx map[string]uint32
}

// NewEngine returns an empty engine.
func NewEngine() *Engine {
	return &Engine{byPath: map[string]*runSummary{}, strs: []string{""}, strIdx: map[string]uint32{"": 0}}
}

func (e *Engine) intern(s string) uint32 {
	if id, ok := e.strIdx[s]; ok {
		return id
	}
	id := uint32(len(e.strs))
	e.strs = append(e.strs, s)
	e.strIdx[s] = id
	return id
}

// summary returns the summary of the run of en, reading its ledger when
// the run changed since it was last read. Called with e.mu held.
func (e *Engine) summary(en *runindex.Entry) (*runSummary, error) {
	if s, ok := e.byPath[en.Path]; ok && s.events == en.EventCount {
		return s, nil
	}
	s := &runSummary{events: en.EventCount}
	byKind := map[uint32]int{}
	feats := map[uint32]struct{}{}
	addFeat := func(key, val string) {
		if len(feats) >= maxFeatures || val == "" || len(val) > maxValueBytes {
			return
		}
		feats[e.intern(key+"="+val)] = struct{}{}
	}
	for _, svc := range en.Services {
		addFeat("service", svc)
	}
	_, err := ledger.ReadFile(en.Path, func(l *ledger.Line) error {
		if l.RunID != en.RunID {
			return nil
		}
		k := e.intern(l.Kind)
		i, ok := byKind[k]
		if !ok {
			i = len(s.kinds)
			byKind[k] = i
			s.kinds = append(s.kinds, kindSum{kind: k})
		}
		ks := &s.kinds[i]
		if l.Status == stepschema.StatusFailed && !report.IsErrorKind(l.Kind) && report.Stage(l.Kind) != "run" {
			ks.failed = true
			if s.rootKind == 0 {
				s.rootKind = k
			}
		}
		if l.DurationMS != nil && *l.DurationMS >= 0 && *l.DurationMS <= report.MaxDurationMS {
			ks.ms += *l.DurationMS
			ks.timed = true
		}
		for name, v := range l.Resources {
			addFeat("resource."+name, v)
		}
		for name, v := range l.Attrs {
			switch x := v.(type) {
			case string:
				addFeat("attrs."+name, x)
			case bool:
				addFeat("attrs."+name, strconv.FormatBool(x))
			case float64:
				if x == float64(int64(x)) && x > -1e6 && x < 1e6 {
					addFeat("attrs."+name, strconv.FormatInt(int64(x), 10))
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("summary of run %q: %w", en.RunID, err)
	}
	for id := range feats {
		s.features = append(s.features, id)
	}
	e.byPath[en.Path] = s
	return s, nil
}
