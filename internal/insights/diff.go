package insights

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/runindex"
)

// Divergence is where two runs first differ.
type Divergence struct {
	Kind string `json:"kind"`
	SeqA uint64 `json:"seq_a"`
	SeqB uint64 `json:"seq_b"`
	Note string `json:"note"`
}

// StageSide is one run's side of a stage in a diff.
type StageSide struct {
	Count      int     `json:"count"`
	Status     string  `json:"status"`
	DurationMS float64 `json:"duration_ms"`
}

// StageDiff is a kind whose count, last status or duration differ.
type StageDiff struct {
	Kind            string    `json:"kind"`
	A               StageSide `json:"a"`
	B               StageSide `json:"b"`
	DurationDeltaMS float64   `json:"duration_delta_ms"`
}

// ValueChange is a resource (per stage) or size (per kind) that differs.
type ValueChange struct {
	Stage string `json:"stage,omitempty"`
	Kind  string `json:"kind,omitempty"`
	Key   string `json:"key"`
	A     string `json:"a"`
	B     string `json:"b"`
}

// RunDiff is what differs between run A and run B.
type RunDiff struct {
	A               string        `json:"a"`
	B               string        `json:"b"`
	FirstDivergence *Divergence   `json:"first_divergence"`
	Stages          []StageDiff   `json:"stages"`
	ResourceChanges []ValueChange `json:"resource_changes"`
	SizeChanges     []ValueChange `json:"size_changes"`
}

// runSide is one run's steps as a diff reads them.
type runSide struct {
	steps  []ledger.Line
	stages map[string]*StageSide
	order  []string
	res    map[string]map[string]string // stage -> key -> last value
	sizes  map[string]map[string]float64
}

func side(lines []ledger.Line) runSide {
	s := runSide{stages: map[string]*StageSide{}, res: map[string]map[string]string{}, sizes: map[string]map[string]float64{}}
	s.steps = slices.Clone(lines)
	slices.SortStableFunc(s.steps, func(a, b ledger.Line) int { return cmp.Or(a.TS.Compare(b.TS), cmp.Compare(a.Seq, b.Seq)) })
	for _, l := range s.steps {
		st := s.stages[l.Kind]
		if st == nil {
			st = &StageSide{}
			s.stages[l.Kind] = st
			s.order = append(s.order, l.Kind)
		}
		st.Count++
		st.Status = l.Status
		if l.DurationMS != nil && *l.DurationMS >= 0 && *l.DurationMS <= report.MaxDurationMS {
			st.DurationMS += *l.DurationMS
		}
		stage := report.Stage(l.Kind)
		for k, v := range l.Resources {
			if s.res[stage] == nil {
				s.res[stage] = map[string]string{}
			}
			s.res[stage][k] = v
		}
		for k, v := range l.Sizes {
			if s.sizes[l.Kind] == nil {
				s.sizes[l.Kind] = map[string]float64{}
			}
			s.sizes[l.Kind][k] += v
		}
	}
	return s
}

// Diff compares the step lines of run a with those of run b. A run diffed
// with itself gives no divergence and empty lists.
func Diff(aID string, a []ledger.Line, bID string, b []ledger.Line) *RunDiff {
	sa, sb := side(a), side(b)
	d := &RunDiff{A: aID, B: bID, Stages: []StageDiff{}, ResourceChanges: []ValueChange{}, SizeChanges: []ValueChange{}}
	for i := 0; i < max(len(sa.steps), len(sb.steps)); i++ {
		switch {
		case i >= len(sa.steps):
			l := sb.steps[i]
			d.FirstDivergence = &Divergence{Kind: l.Kind, SeqB: l.Seq, Note: fmt.Sprintf("%s continues with %s after %s ended", bID, l.Kind, aID)}
		case i >= len(sb.steps):
			l := sa.steps[i]
			d.FirstDivergence = &Divergence{Kind: l.Kind, SeqA: l.Seq, Note: fmt.Sprintf("%s continues with %s after %s ended", aID, l.Kind, bID)}
		case sa.steps[i].Kind != sb.steps[i].Kind:
			x, y := sa.steps[i], sb.steps[i]
			d.FirstDivergence = &Divergence{Kind: x.Kind, SeqA: x.Seq, SeqB: y.Seq, Note: fmt.Sprintf("%s ran %s where %s ran %s", aID, x.Kind, bID, y.Kind)}
		case sa.steps[i].Status != sb.steps[i].Status:
			x, y := sa.steps[i], sb.steps[i]
			d.FirstDivergence = &Divergence{Kind: x.Kind, SeqA: x.Seq, SeqB: y.Seq, Note: fmt.Sprintf("%s: %s in %s, %s in %s", x.Kind, x.Status, aID, y.Status, bID)}
		default:
			continue
		}
		break
	}
	kinds := slices.Clone(sa.order)
	for _, k := range sb.order {
		if sa.stages[k] == nil {
			kinds = append(kinds, k)
		}
	}
	for _, k := range kinds {
		var x, y StageSide
		if p := sa.stages[k]; p != nil {
			x = *p
		}
		if p := sb.stages[k]; p != nil {
			y = *p
		}
		if x != y {
			d.Stages = append(d.Stages, StageDiff{Kind: k, A: x, B: y, DurationDeltaMS: round(y.DurationMS - x.DurationMS)})
		}
	}
	for _, stage := range slices.Sorted(maps.Keys(sa.res)) {
		rb, ok := sb.res[stage]
		if !ok {
			continue // only stages both runs have
		}
		ra := sa.res[stage]
		for _, k := range union(ra, rb) {
			if ra[k] != rb[k] {
				d.ResourceChanges = append(d.ResourceChanges, ValueChange{Stage: stage, Key: k, A: ra[k], B: rb[k]})
			}
		}
	}
	for _, kind := range slices.Sorted(maps.Keys(sa.sizes)) {
		zb, ok := sb.sizes[kind]
		if !ok {
			continue
		}
		za := sa.sizes[kind]
		for _, k := range union(za, zb) {
			if za[k] != zb[k] {
				d.SizeChanges = append(d.SizeChanges, ValueChange{Kind: kind, Key: k, A: num(za, k), B: num(zb, k)})
			}
		}
	}
	return d
}

func union[V any](a, b map[string]V) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func num(m map[string]float64, k string) string {
	v, ok := m[k]
	if !ok {
		return ""
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// Baseline picks the run to diff run against: the newest completed run of
// one of its services with the most kinds in common; "" when there is none.
func Baseline(ix *runindex.Index, run runindex.Entry) string {
	mine := map[string]bool{}
	for _, k := range run.Kinds {
		mine[k] = true
	}
	best, bestCommon := runindex.Entry{}, -1
	for _, svc := range run.Services {
		ix.Each(runindex.Query{Service: svc, Statuses: []string{report.StatusCompleted}}, func(e *runindex.Entry) bool {
			if e.RunID == run.RunID {
				return true
			}
			common := 0
			for _, k := range e.Kinds {
				if mine[k] {
					common++
				}
			}
			if common > bestCommon || common == bestCommon && e.StartedAt.After(best.StartedAt) {
				best, bestCommon = *e, common
			}
			return true
		})
	}
	return best.RunID
}

// Markdown renders the diff for a human.
func (d *RunDiff) Markdown() string {
	var b strings.Builder
	cell := report.MarkdownCode
	fmt.Fprintf(&b, "# Diff %s → %s\n\n", cell(d.A), cell(d.B))
	if d.FirstDivergence == nil && len(d.Stages) == 0 && len(d.ResourceChanges) == 0 && len(d.SizeChanges) == 0 {
		b.WriteString("No differences.\n")
		return b.String()
	}
	if fd := d.FirstDivergence; fd != nil {
		fmt.Fprintf(&b, "**First divergence:** %s (seq %d / %d)\n\n", cell(fd.Note), fd.SeqA, fd.SeqB)
	}
	if len(d.Stages) > 0 {
		b.WriteString("| kind | a count | a status | a ms | b count | b status | b ms | Δ ms |\n|---|---:|---|---:|---:|---|---:|---:|\n")
		for _, s := range d.Stages {
			fmt.Fprintf(&b, "| %s | %d | %s | %.1f | %d | %s | %.1f | %+.1f |\n", cell(s.Kind), s.A.Count, cell(s.A.Status), s.A.DurationMS,
				s.B.Count, cell(s.B.Status), s.B.DurationMS, s.DurationDeltaMS)
		}
	}
	if len(d.ResourceChanges) > 0 {
		b.WriteString("\n**Resources:**\n\n")
		for _, c := range d.ResourceChanges {
			fmt.Fprintf(&b, "- %s %s: %s → %s\n", cell(c.Stage), cell(c.Key), cell(c.A), cell(c.B))
		}
	}
	if len(d.SizeChanges) > 0 {
		b.WriteString("\n**Sizes:**\n\n")
		for _, c := range d.SizeChanges {
			fmt.Fprintf(&b, "- %s %s: %s → %s\n", cell(c.Kind), cell(c.Key), cell(c.A), cell(c.B))
		}
	}
	return b.String()
}

// ErrRunNotFound is the error of a diff naming a run the directory does not
// hold (or, for --baseline auto, a run with no completed peer).
var ErrRunNotFound = ledger.ErrRunNotFound

// readRun returns the step lines of run id in ledger directory dir.
func readRun(dir, id string) ([]ledger.Line, error) {
	p, err := ledger.LocateRun(dir, id)
	if errors.Is(err, ErrRunNotFound) {
		// Without the directory: servers answer with this message.
		return nil, fmt.Errorf("run %q: %w", id, ErrRunNotFound)
	}
	if err != nil {
		return nil, err
	}
	var out []ledger.Line
	if _, err := ledger.ReadFile(p, func(l *ledger.Line) error {
		if l.RunID == id {
			out = append(out, *l)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// DiffRuns diffs run a against run b of the ledger directory dir; b "auto"
// (or empty) picks a's Baseline from ix.
func DiffRuns(ix *runindex.Index, dir, a, b string) (*RunDiff, error) {
	la, err := readRun(dir, a)
	if err != nil {
		return nil, err
	}
	if b == "" || b == "auto" {
		e, ok := ix.Get(a)
		if !ok {
			return nil, fmt.Errorf("run %q is not in the index yet: %w", a, ErrRunNotFound)
		}
		if b = Baseline(ix, e); b == "" {
			return nil, fmt.Errorf("no completed run of %s to compare %q with: %w", strings.Join(e.Services, ", "), a, ErrRunNotFound)
		}
	}
	lb, err := readRun(dir, b)
	if err != nil {
		return nil, err
	}
	return Diff(a, la, b, lb), nil
}
