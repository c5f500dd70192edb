package insights

import (
	"cmp"
	"slices"
	"time"

	"github.com/runledger/runledger/internal/runindex"
)

// FactsPage is what a node tells its peers about its runs for insights
// (GET /reports/insights/runs): each run's index entry and summary, so the
// node asked for insights computes them over every node's runs.
type FactsPage struct {
	Runs []RunFacts `json:"runs"`
	// Unreadable counts runs whose ledger could not be read (left out).
	Unreadable int `json:"unreadable,omitempty"`
}

// RunFacts is one run's part of a FactsPage: about 0.5 KB of JSON.
type RunFacts struct {
	Entry    runindex.Entry `json:"entry"`
	Kinds    []KindFacts    `json:"kinds"`
	Features []string       `json:"features"`            // "key=value"
	RootKind string         `json:"root_kind,omitempty"` // the first failed step's kind
}

// KindFacts is one kind's part of a run.
type KindFacts struct {
	Kind   string  `json:"kind"`
	Failed bool    `json:"failed,omitempty"`
	Timed  bool    `json:"timed,omitempty"`
	MS     float64 `json:"ms,omitempty"` // summed durations
}

// Facts returns the runs of ix that started in [since, until) and match q
// (service, kind) with their summaries, for a peer's ComputeWith. The
// entries' paths are left out: they mean nothing on another node.
func (e *Engine) Facts(ix *runindex.Index, q Query, since, until time.Time) *FactsPage {
	e.mu.Lock()
	defer e.mu.Unlock()
	runs, unreadable := e.window(ix, q, since, until)
	out := &FactsPage{Runs: make([]RunFacts, 0, len(runs)), Unreadable: unreadable}
	for _, r := range runs {
		f := RunFacts{Entry: r.e, Kinds: make([]KindFacts, 0, len(r.s.kinds)), Features: make([]string, 0, len(r.s.features)),
			RootKind: e.strs[r.s.rootKind]}
		f.Entry.Path = ""
		for _, k := range r.s.kinds {
			f.Kinds = append(f.Kinds, KindFacts{Kind: e.strs[k.kind], Failed: k.failed, Timed: k.timed, MS: k.ms})
		}
		for _, id := range r.s.features {
			f.Features = append(f.Features, e.strs[id])
		}
		out.Runs = append(out.Runs, f)
	}
	return out
}

// withRemote merges local runs (of both windows) with peers' facts and
// splits them again into the window [since, until) and the one before it,
// each newest first. Called with e.mu held.
func (e *Engine) withRemote(local []run, remote []RunFacts, since, until time.Time) (cur, prev []run) {
	byID := make(map[string]int, len(local)+len(remote))
	all := make([]run, 0, len(local)+len(remote))
	add := func(r run) {
		if i, ok := byID[r.e.RunID]; ok {
			all[i] = e.mergeRuns(all[i], r)
			return
		}
		byID[r.e.RunID] = len(all)
		all = append(all, r)
	}
	for _, r := range local {
		add(r)
	}
	for i := range remote {
		add(e.fromFacts(&remote[i]))
	}
	prevSince := since.Add(-until.Sub(since))
	for _, r := range all {
		switch t := r.e.StartedAt; {
		case !t.Before(since) && t.Before(until):
			cur = append(cur, r)
		case !t.Before(prevSince) && t.Before(since):
			prev = append(prev, r)
		}
	}
	newestFirst(cur)
	newestFirst(prev)
	return cur, prev
}

// fromFacts interns a peer's run. Called with e.mu held.
func (e *Engine) fromFacts(f *RunFacts) run {
	s := &runSummary{events: f.Entry.EventCount, rootKind: e.intern(f.RootKind)}
	for _, k := range f.Kinds {
		s.kinds = append(s.kinds, kindSum{kind: e.intern(k.Kind), failed: k.Failed, timed: k.Timed, ms: k.MS})
	}
	for _, v := range f.Features {
		s.features = append(s.features, e.intern(v))
	}
	slices.Sort(s.features)
	s.features = slices.Compact(s.features)
	return run{e: f.Entry, s: s, bad: isBad(&f.Entry)}
}

// mergeRuns joins two parts of one run written on different nodes: it
// started with the earlier part and stands where the later one (by its
// last event) left it; its kinds, durations and values are both parts'.
// Durations of events both nodes wrote (Kafka redelivery after a crash)
// are summed twice: the merge has no event ids to tell them apart.
func (e *Engine) mergeRuns(a, b run) run {
	first, last := a, b
	if b.e.StartedAt.Before(a.e.StartedAt) {
		first = b
	}
	if a.e.LastEventAt.After(b.e.LastEventAt) {
		last = a
	}
	en := last.e
	en.StartedAt = first.e.StartedAt
	en.EventCount = a.e.EventCount + b.e.EventCount
	en.Services = joinSorted(a.e.Services, b.e.Services)
	en.Kinds = joinSorted(a.e.Kinds, b.e.Kinds)
	s := &runSummary{events: en.EventCount, rootKind: cmp.Or(first.s.rootKind, last.s.rootKind)}
	s.kinds = append(s.kinds, a.s.kinds...)
	for _, k := range b.s.kinds {
		i := slices.IndexFunc(s.kinds, func(x kindSum) bool { return x.kind == k.kind })
		if i < 0 {
			s.kinds = append(s.kinds, k)
			continue
		}
		s.kinds[i].failed = s.kinds[i].failed || k.failed
		s.kinds[i].timed = s.kinds[i].timed || k.timed
		s.kinds[i].ms += k.ms
	}
	s.features = append(slices.Clone(a.s.features), b.s.features...)
	slices.Sort(s.features)
	s.features = slices.Compact(s.features)
	return run{e: en, s: s, bad: isBad(&en)}
}

// joinSorted returns the sorted union of two string lists.
func joinSorted(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}
