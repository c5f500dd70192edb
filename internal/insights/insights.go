package insights

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/runindex"
)

// DefaultWindow is the window of a query without since.
const DefaultWindow = 24 * time.Hour

// minRuns is how many runs a value must be seen in to be a difference.
const minRuns = 3

// maxDistinct is the most distinct values an attrs.<name> key may have
// across the window's runs to count as low-cardinality.
const maxDistinct = 20

// Query selects the runs of an insights answer. Zero fields do not filter.
type Query struct {
	Since, Until time.Time
	Service      string
	Kind         string
}

// ErrBadQuery wraps an invalid window.
var ErrBadQuery = errors.New("invalid insights query")

// Window is the time window of an answer.
type Window struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
}

// Cause is one (stage, kind, error code) root cause of failing runs.
type Cause struct {
	Stage       string    `json:"stage"`
	Kind        string    `json:"kind"`
	ErrorCode   string    `json:"error_code"`
	Runs        int       `json:"runs"`
	Share       float64   `json:"share"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	ExampleRuns []string  `json:"example_runs"`
	Remediation string    `json:"remediation"`
}

// Stage is one kind's figures over the window.
type Stage struct {
	Kind        string  `json:"kind"`
	Runs        int     `json:"runs"`
	FailedRuns  int     `json:"failed_runs"`
	FailureRate float64 `json:"failure_rate"`
	P50MS       float64 `json:"p50_ms"`
	P95MS       float64 `json:"p95_ms"`
}

// Difference is a value failing runs have more often than the others.
type Difference struct {
	Key                 string  `json:"key"`
	Value               string  `json:"value"`
	Runs                int     `json:"runs"`
	FailingRuns         int     `json:"failing_runs"`
	FailureRate         float64 `json:"failure_rate"`
	BaselineFailureRate float64 `json:"baseline_failure_rate"`
	Lift                float64 `json:"lift"`
}

// Regression is a stage that got worse than in the previous window.
type Regression struct {
	Kind                string  `json:"kind"`
	FailureRate         float64 `json:"failure_rate"`
	PreviousFailureRate float64 `json:"previous_failure_rate"`
	P95MS               float64 `json:"p95_ms"`
	PreviousP95MS       float64 `json:"previous_p95_ms"`
	Note                string  `json:"note"`
}

// Insights is the answer, its fields in the order of the contract.
type Insights struct {
	Window      Window         `json:"window"`
	Runs        int            `json:"runs"`
	ByStatus    map[string]int `json:"by_status"`
	ByCategory  map[string]int `json:"by_category"`
	TopCauses   []Cause        `json:"top_causes"`
	Stages      []Stage        `json:"stages"`
	Differences []Difference   `json:"differences"`
	Regressions []Regression   `json:"regressions"`
	// Unreadable counts runs whose ledger could not be read (left out).
	Unreadable int `json:"unreadable,omitempty"`
	// Partial is set when some reportapi peers did not answer: their runs
	// are left out, and MissingPeers names them.
	Partial      bool     `json:"partial,omitempty"`
	MissingPeers []string `json:"missing_peers,omitempty"`
}

// run is one run of the window with its summary.
type run struct {
	e   runindex.Entry
	s   *runSummary
	bad bool // failed, cancelled by error, or stopped on an error/timeout
}

// Compute answers q over the runs of ix at time now, with remediation
// texts from rem (nil: the built-in table).
func (e *Engine) Compute(ix *runindex.Index, q Query, now time.Time, rem *report.RemediationTable) (*Insights, error) {
	return e.ComputeWith(ix, q, now, rem, nil)
}

// Bounds returns the window of q at time now and the start of the previous
// window of the same length (regressions compare with it).
func (q Query) Bounds(now time.Time) (prevSince, since, until time.Time, err error) {
	until = q.Until
	if until.IsZero() {
		until = now
	}
	since = q.Since
	if since.IsZero() {
		since = until.Add(-DefaultWindow)
	}
	if !since.Before(until) {
		return time.Time{}, time.Time{}, time.Time{},
			fmt.Errorf("%w: since %s is not before until %s", ErrBadQuery, since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	return since.Add(-until.Sub(since)), since, until, nil
}

// ComputeWith is Compute over the runs of ix and other nodes' runs
// (reportapi peers): remote holds their RunFacts of both windows (Bounds).
// A run on several nodes (its Kafka partition moved) counts once, its
// parts merged (mergeRuns).
func (e *Engine) ComputeWith(ix *runindex.Index, q Query, now time.Time, rem *report.RemediationTable, remote *FactsPage) (*Insights, error) {
	if rem == nil {
		rem = report.DefaultRemediations()
	}
	prevSince, since, until, err := q.Bounds(now)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur, unreadable := e.window(ix, q, since, until)
	prev, _ := e.window(ix, q, prevSince, since)
	if remote != nil {
		unreadable += remote.Unreadable
		cur, prev = e.withRemote(append(cur, prev...), remote.Runs, since, until)
	}
	out := &Insights{Window: Window{Since: since.UTC(), Until: until.UTC()}, Runs: len(cur),
		ByStatus: map[string]int{}, ByCategory: map[string]int{}, Unreadable: unreadable,
		TopCauses: []Cause{}, Differences: []Difference{}, Regressions: []Regression{}}
	for _, r := range cur {
		out.ByStatus[r.e.Status]++
		out.ByCategory[r.e.StopCategory]++
	}
	out.TopCauses = e.causes(cur, rem)
	out.Stages = e.stages(cur)
	out.Differences = e.differences(cur)
	out.Regressions = regressions(out.Stages, e.stages(prev))
	return out, nil
}

// window lists the runs that started in [since, until) and match q, newest
// first, with their summaries.
func (e *Engine) window(ix *runindex.Index, q Query, since, until time.Time) ([]run, int) {
	var out []run
	unreadable := 0
	ix.Each(runindex.Query{Service: q.Service, Kind: q.Kind, Since: since, Until: until}, func(en *runindex.Entry) bool {
		s, err := e.summary(en)
		if err != nil {
			unreadable++
			return true
		}
		out = append(out, run{e: *en, s: s, bad: isBad(en)})
		return true
	})
	newestFirst(out)
	return out, unreadable
}

// newestFirst sorts runs as the run list does: example runs are the newest.
func newestFirst(runs []run) {
	slices.SortFunc(runs, func(a, b run) int {
		return cmp.Or(b.e.StartedAt.Compare(a.e.StartedAt), cmp.Compare(a.e.RunID, b.e.RunID))
	})
}

// isBad reports whether a run counts as failing: failed, or stopped on an
// error or a timeout.
func isBad(en *runindex.Entry) bool {
	return en.Status == report.StatusFailed || en.StopCategory == report.CategoryError || en.StopCategory == report.CategoryTimeout
}

func (e *Engine) causes(runs []run, rem *report.RemediationTable) []Cause {
	type key struct{ stage, kind, code string }
	byKey := map[key]*Cause{}
	failing := 0
	for _, r := range runs {
		if !r.bad {
			continue
		}
		failing++
		k := key{stage: r.e.StopStage, code: r.e.StopErrorCode}
		if r.s.rootKind != 0 && report.Stage(e.strs[r.s.rootKind]) == k.stage {
			k.kind = e.strs[r.s.rootKind]
		}
		c := byKey[k]
		if c == nil {
			c = &Cause{Stage: k.stage, Kind: k.kind, ErrorCode: k.code, FirstSeen: r.e.StartedAt, LastSeen: r.e.StartedAt}
			byKey[k] = c
		}
		c.Runs++
		if r.e.StartedAt.Before(c.FirstSeen) {
			c.FirstSeen = r.e.StartedAt
		}
		if r.e.StartedAt.After(c.LastSeen) {
			c.LastSeen = r.e.StartedAt
		}
		if len(c.ExampleRuns) < 5 { // runs come newest first
			c.ExampleRuns = append(c.ExampleRuns, r.e.RunID)
		}
	}
	out := make([]Cause, 0, len(byKey))
	for _, c := range byKey {
		c.Share = round(float64(c.Runs) / float64(failing))
		kind := cmp.Or(c.Kind, c.Stage)
		c.Remediation = rem.Lookup(kind, c.ErrorCode, "").Text
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Cause) int {
		return cmp.Or(cmp.Compare(b.Runs, a.Runs), cmp.Compare(a.Stage, b.Stage), cmp.Compare(a.ErrorCode, b.ErrorCode), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}

func (e *Engine) stages(runs []run) []Stage {
	type agg struct {
		runs, failed int
		ms           []float64
	}
	byKind := map[uint32]*agg{}
	for _, r := range runs {
		for _, k := range r.s.kinds {
			a := byKind[k.kind]
			if a == nil {
				a = &agg{}
				byKind[k.kind] = a
			}
			a.runs++
			if k.failed {
				a.failed++
			}
			if k.timed {
				a.ms = append(a.ms, k.ms)
			}
		}
	}
	out := make([]Stage, 0, len(byKind))
	for id, a := range byKind {
		sort.Float64s(a.ms)
		out = append(out, Stage{Kind: e.strs[id], Runs: a.runs, FailedRuns: a.failed,
			FailureRate: round(float64(a.failed) / float64(a.runs)), P50MS: pct(a.ms, 0.50), P95MS: pct(a.ms, 0.95)})
	}
	slices.SortFunc(out, func(a, b Stage) int { return cmp.Compare(a.Kind, b.Kind) })
	return out
}

func (e *Engine) differences(runs []run) []Difference {
	type agg struct{ runs, failing int }
	byFeat := map[uint32]*agg{}
	failing := 0
	for _, r := range runs {
		if r.bad {
			failing++
		}
		for _, f := range r.s.features {
			a := byFeat[f]
			if a == nil {
				a = &agg{}
				byFeat[f] = a
			}
			a.runs++
			if r.bad {
				a.failing++
			}
		}
	}
	// attrs.<name> keys with many distinct values (ids, queries) are not
	// differences a team can act on.
	distinct := map[string]int{}
	for f := range byFeat {
		k, _, _ := strings.Cut(e.strs[f], "=")
		distinct[k]++
	}
	out := []Difference{}
	for f, a := range byFeat {
		key, val, _ := strings.Cut(e.strs[f], "=")
		if a.runs < minRuns || strings.HasPrefix(key, "attrs.") && distinct[key] > maxDistinct {
			continue
		}
		rate := float64(a.failing) / float64(a.runs)
		others := len(runs) - a.runs
		if others == 0 || a.failing == 0 {
			continue // every run has it: nothing to compare with
		}
		base := float64(failing-a.failing) / float64(others)
		if rate < 1.1*base || rate-base < 0.01 {
			continue // not meaningfully more often in failing runs
		}
		// A baseline of 0 would make the lift infinite: count it as half a
		// failing run among the others.
		lift := rate / math.Max(base, 0.5/float64(others))
		out = append(out, Difference{Key: key, Value: val, Runs: a.runs, FailingRuns: a.failing,
			FailureRate: round(rate), BaselineFailureRate: round(base), Lift: round(lift)})
	}
	slices.SortFunc(out, func(a, b Difference) int {
		return cmp.Or(cmp.Compare(b.Lift, a.Lift), cmp.Compare(b.FailingRuns, a.FailingRuns), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Value, b.Value))
	})
	return out
}

// regressions compares each stage of cur with the same kind in prev: a
// failure rate up by at least 5 points and by half, or a p95 up by half and
// at least 50 ms, is a regression.
func regressions(cur, prev []Stage) []Regression {
	before := map[string]Stage{}
	for _, s := range prev {
		before[s.Kind] = s
	}
	out := []Regression{}
	for _, s := range cur {
		p, ok := before[s.Kind]
		if !ok || s.Runs < minRuns || p.Runs < minRuns {
			continue
		}
		var notes []string
		if s.FailureRate-p.FailureRate >= 0.05 && s.FailureRate >= 1.5*p.FailureRate {
			notes = append(notes, fmt.Sprintf("failure rate %.0f%% from %.0f%%", 100*s.FailureRate, 100*p.FailureRate))
		}
		if s.P95MS-p.P95MS >= 50 && s.P95MS >= 1.5*p.P95MS {
			notes = append(notes, fmt.Sprintf("p95 %.0f ms from %.0f ms", s.P95MS, p.P95MS))
		}
		if len(notes) > 0 {
			out = append(out, Regression{Kind: s.Kind, FailureRate: s.FailureRate, PreviousFailureRate: p.FailureRate,
				P95MS: s.P95MS, PreviousP95MS: p.P95MS, Note: strings.Join(notes, "; ")})
		}
	}
	return out
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return round(sorted[max(0, min(i, len(sorted)-1))])
}

// round keeps four decimals: shares and rates, not float noise.
func round(f float64) float64 { return math.Round(f*1e4) / 1e4 }

// ParseQuery reads since, until, service and kind from URL parameters (the
// /reports/insights route and the CLI's flags) by the run list's rules
// (runindex.ParseQuery): times as RFC 3339, a date, or a duration back from
// now (24h, 7d); kind a stage, kind or glob.
func ParseQuery(v map[string][]string, now time.Time) (Query, error) {
	iq, err := runindex.ParseQuery(v, now)
	if err != nil {
		return Query{}, err
	}
	return Query{Since: iq.Since, Until: iq.Until, Service: iq.Service, Kind: iq.Kind}, nil
}
