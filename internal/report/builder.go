package report

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/stepschema"
)

// Builder builds a report from lines fed one at a time, in file order. It
// keeps aggregates, the failed steps and only the timeline page that was
// asked for, so memory stays small for big runs. A Builder is not safe for
// concurrent use.
type Builder struct {
	opts    Options
	runID   string
	tracker Tracker
	foreign int

	kinds    map[string]*kindAgg
	stageRes map[string]map[string]*valueSet
	services map[string]struct{}
	traces   map[string]struct{}

	failures []failure
	// openFail holds, per stage, the indexes in failures not yet recovered.
	openFail map[string][]int
	cancel   *failure
	end      *failure

	lastSeq  uint64
	lastTSN  int64
	lastKind string

	page     []pageEntry // max-heap on (tsn, seq), at most pageKeep entries
	pageKeep int
}

type kindAgg struct {
	kind, stage string
	firstTSN    int64
	firstSeq    uint64
	count       int
	failed      int
	durs        []float64
	total       float64
	max         float64
	sizes       map[string]float64
	res         map[string]*valueSet
	clamped     int // values capped at their bound
	dropped     int // negative, NaN and infinite values ignored
}

// number checks one duration or size against its bound: negative, NaN and
// infinite values are dropped (ok false, counted in dropped), values above
// limit are capped at it (counted in clamped).
func (ka *kindAgg) number(f, limit float64) (float64, bool) {
	v, ok, capped := sanitize(f, limit)
	if !ok {
		ka.dropped++
	} else if capped {
		ka.clamped++
	}
	return v, ok
}

// sanitize returns f capped at limit, whether f is usable at all (finite and
// not negative) and whether it was capped.
func sanitize(f, limit float64) (v float64, ok, capped bool) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0) || f < 0:
		return 0, false, false
	case f > limit:
		return limit, true, true
	}
	return f, true, false
}

type valueSet struct {
	vals    map[string]struct{}
	dropped int
}

func (v *valueSet) add(s string, limit int) {
	if _, ok := v.vals[s]; ok {
		return
	}
	if len(v.vals) >= limit {
		v.dropped++
		return
	}
	v.vals[strings.Clone(s)] = struct{}{}
}

func (v *valueSet) sorted() []string {
	out := slices.Sorted(maps.Keys(v.vals))
	return out
}

type failure struct {
	seq       uint64
	ts        time.Time
	tsn       int64
	kind      string
	stage     string
	status    string
	code      string
	detail    string
	resources map[string]string
	recovered bool
	recBy     uint64
}

func copyFailure(l *ledger.Line) failure {
	return failure{
		seq:       l.Seq,
		ts:        l.TS,
		tsn:       nanos(l.TS),
		kind:      strings.Clone(l.Kind),
		stage:     strings.Clone(Stage(l.Kind)),
		status:    strings.Clone(l.Status),
		code:      strings.Clone(l.ErrorCode),
		detail:    strings.Clone(l.Detail),
		resources: cloneStrMap(l.Resources),
	}
}

type pageEntry struct {
	tsn int64
	ev  TimelineEvent
}

// NewBuilder returns a Builder for one run.
func NewBuilder(opts Options) *Builder {
	opts.normalise()
	return &Builder{
		opts:     opts,
		runID:    opts.RunID,
		kinds:    make(map[string]*kindAgg),
		stageRes: make(map[string]map[string]*valueSet),
		services: make(map[string]struct{}),
		traces:   make(map[string]struct{}),
		openFail: make(map[string][]int),
		pageKeep: opts.TimelineOffset + opts.TimelineLimit,
	}
}

// Events returns the number of lines accepted so far.
func (b *Builder) Events() int { return b.tracker.Events() }

// Add feeds one line. It never fails; its signature fits ledger.ReadFile.
// The line is not retained: what the report needs is copied.
func (b *Builder) Add(l *ledger.Line) error {
	if b.runID == "" {
		b.runID = strings.Clone(l.RunID)
	} else if l.RunID != b.runID {
		b.foreign++
		return nil
	}
	b.tracker.Observe(l)
	tsn := nanos(l.TS)
	if b.tracker.Events() == 1 || tsn > b.lastTSN || tsn == b.lastTSN && l.Seq > b.lastSeq {
		b.lastTSN, b.lastSeq = tsn, l.Seq
		if l.Kind != b.lastKind {
			b.lastKind = strings.Clone(l.Kind)
		}
	}

	ka := b.kinds[l.Kind]
	if ka == nil {
		k := strings.Clone(l.Kind)
		ka = &kindAgg{kind: k, stage: Stage(k), firstTSN: tsn, firstSeq: l.Seq}
		b.kinds[k] = ka
	} else if tsn < ka.firstTSN || tsn == ka.firstTSN && l.Seq < ka.firstSeq {
		ka.firstTSN, ka.firstSeq = tsn, l.Seq
	}
	ka.count++
	if l.DurationMS != nil {
		if d, ok := ka.number(*l.DurationMS, MaxDurationMS); ok {
			ka.durs = append(ka.durs, d)
			ka.total += d
			if len(ka.durs) == 1 || d > ka.max {
				ka.max = d
			}
		}
	}
	if len(l.Sizes) > 0 {
		if ka.sizes == nil {
			ka.sizes = make(map[string]float64, len(l.Sizes))
		}
		for k, v := range l.Sizes {
			v, ok := ka.number(v, MaxSize)
			if !ok {
				continue
			}
			if old, ok := ka.sizes[k]; ok {
				ka.sizes[k] = old + v
			} else {
				ka.sizes[strings.Clone(k)] = v
			}
		}
	}
	if len(l.Resources) > 0 {
		b.addResources(ka, l.Resources)
	}
	if l.Service != "" {
		if _, ok := b.services[l.Service]; !ok {
			b.services[strings.Clone(l.Service)] = struct{}{}
		}
	}
	if l.TraceID != "" {
		if _, ok := b.traces[l.TraceID]; !ok {
			b.traces[strings.Clone(l.TraceID)] = struct{}{}
		}
	}

	switch {
	case l.Kind == stepschema.KindRunEnd:
		f := copyFailure(l)
		b.end = &f
		if l.Status == stepschema.StatusFailed {
			ka.failed++
		}
	case l.Status == stepschema.StatusFailed:
		ka.failed++
		f := copyFailure(l)
		b.failures = append(b.failures, f)
		b.openFail[f.stage] = append(b.openFail[f.stage], len(b.failures)-1)
	case l.Status == stepschema.StatusOK:
		if open := b.openFail[ka.stage]; len(open) > 0 {
			for _, i := range open {
				b.failures[i].recovered = true
				b.failures[i].recBy = l.Seq
			}
			b.openFail[ka.stage] = open[:0]
		}
	case l.Status == stepschema.StatusCancelled:
		if b.cancel == nil && b.openCount() == 0 {
			f := copyFailure(l)
			b.cancel = &f
		}
	}

	b.addToPage(l, tsn)
	return nil
}

func (b *Builder) openCount() int {
	n := 0
	for _, v := range b.openFail {
		n += len(v)
	}
	return n
}

func (b *Builder) addResources(ka *kindAgg, res map[string]string) {
	limit := b.opts.MaxResourceValues
	if ka.res == nil {
		ka.res = make(map[string]*valueSet, len(res))
	}
	sr := b.stageRes[ka.stage]
	if sr == nil {
		sr = make(map[string]*valueSet, len(res))
		b.stageRes[ka.stage] = sr
	}
	for k, v := range res {
		vs := ka.res[k]
		if vs == nil {
			vs = &valueSet{vals: make(map[string]struct{}, 1)}
			ka.res[strings.Clone(k)] = vs
		}
		vs.add(v, limit)
		ss := sr[k]
		if ss == nil {
			ss = &valueSet{vals: make(map[string]struct{}, 1)}
			sr[strings.Clone(k)] = ss
		}
		ss.add(v, limit)
	}
}

func pageLess(a, b *pageEntry) bool {
	return a.tsn < b.tsn || a.tsn == b.tsn && a.ev.Seq < b.ev.Seq
}

// addToPage keeps the pageKeep smallest events by (ts, seq) in a max-heap.
// Events arriving in order are rejected by one comparison once it is full.
func (b *Builder) addToPage(l *ledger.Line, tsn int64) {
	if len(b.page) == b.pageKeep {
		top := &b.page[0]
		if !(tsn < top.tsn || tsn == top.tsn && l.Seq < top.ev.Seq) {
			return
		}
		b.page[0] = pageEntry{tsn: tsn, ev: timelineEvent(l)}
		b.siftDown(0)
		return
	}
	b.page = append(b.page, pageEntry{tsn: tsn, ev: timelineEvent(l)})
	// sift up
	i := len(b.page) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !pageLess(&b.page[p], &b.page[i]) {
			break
		}
		b.page[p], b.page[i] = b.page[i], b.page[p]
		i = p
	}
}

func (b *Builder) siftDown(i int) {
	n := len(b.page)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && pageLess(&b.page[l], &b.page[r]) {
			m = r
		}
		if !pageLess(&b.page[i], &b.page[m]) {
			return
		}
		b.page[i], b.page[m] = b.page[m], b.page[i]
		i = m
	}
}

func timelineEvent(l *ledger.Line) TimelineEvent {
	ev := TimelineEvent{
		Seq:       l.Seq,
		TS:        l.TS,
		Kind:      strings.Clone(l.Kind),
		Status:    strings.Clone(l.Status),
		ErrorCode: strings.Clone(l.ErrorCode),
		Detail:    strings.Clone(l.Detail),
		Sizes:     cleanSizes(l.Sizes),
		Resources: cloneStrMap(l.Resources),
		Attrs:     maps.Clone(l.Attrs),
		Service:   strings.Clone(l.Service),
		SpanName:  strings.Clone(l.SpanName),
		TraceID:   strings.Clone(l.TraceID),
	}
	if l.DurationMS != nil {
		if d, ok, _ := sanitize(*l.DurationMS, MaxDurationMS); ok {
			ev.DurationMS = &d
		}
	}
	return ev
}

// cleanSizes copies sizes for the timeline with the bounds of the stage
// statistics: values capped at MaxSize, unusable values left out.
func cleanSizes(m map[string]float64) map[string]float64 {
	if m == nil {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		if v, ok, _ := sanitize(v, MaxSize); ok {
			out[strings.Clone(k)] = v
		}
	}
	return out
}

func cloneStrMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.Clone(k)] = strings.Clone(v)
	}
	return out
}

// Report finishes the report. st is what the ledger read returned (skipped
// lines, trailing fragment); pass a zero value when lines did not come from a
// file. Report may be called more than once.
func (b *Builder) Report(st ledger.ReadStats) *Report {
	now := b.opts.Now()
	r := &Report{
		RunID:        b.runID,
		LedgerPath:   b.opts.LedgerPath,
		EventCount:   b.tracker.Events(),
		SkippedLines: st.Skipped + b.foreign,
		PartialBytes: st.Partial,
		GeneratedAt:  now.UTC(),
		Services:     slices.Sorted(maps.Keys(b.services)),
		Resources:    map[string]map[string][]string{},
	}
	r.Status = b.tracker.Status(now, b.opts.StallAfter)
	r.InvalidTimestamps = r.EventCount - b.tracker.Timed()
	if b.tracker.Timed() > 0 {
		first, last := b.tracker.First().UTC(), b.tracker.Last().UTC()
		r.StartedAt, r.LastEventAt = &first, &last
		stop := last
		if end, ok := b.tracker.EndTime(r.Status); ok {
			end = end.UTC()
			r.EndedAt = &end
			stop = end
		}
		r.DurationMS = float64(stop.Sub(first)) / float64(time.Millisecond)
		if r.DurationMS < 0 {
			r.DurationMS = 0
		}
		if r.DurationMS > MaxDurationMS {
			r.DurationMS = MaxDurationMS
			r.Clamped = true
		}
	}
	r.TraceIDCount = len(b.traces)
	r.TraceIDs = slices.Sorted(maps.Keys(b.traces))
	if len(r.TraceIDs) > DefaultMaxTraceIDs {
		r.TraceIDs = r.TraceIDs[:DefaultMaxTraceIDs]
	}
	r.Stages = b.stages()
	for i := range r.Stages {
		if r.Stages[i].Clamped > 0 {
			r.Clamped = true
		}
	}
	r.ErrorCount = len(b.failures)
	r.Errors = b.errors()
	for stage, names := range b.stageRes {
		m := make(map[string][]string, len(names))
		for name, vs := range names {
			m[name] = vs.sorted()
		}
		r.Resources[stage] = m
	}
	r.Timeline = b.timeline()
	r.StopReason = b.stopReason(r.Status, now)
	return r
}

func (b *Builder) stages() []StageStats {
	aggs := slices.Collect(maps.Values(b.kinds))
	slices.SortFunc(aggs, func(x, y *kindAgg) int {
		return cmp.Or(cmp.Compare(x.firstTSN, y.firstTSN), cmp.Compare(x.firstSeq, y.firstSeq), strings.Compare(x.kind, y.kind))
	})
	out := make([]StageStats, 0, len(aggs))
	for _, ka := range aggs {
		s := StageStats{
			Kind:      ka.kind,
			Stage:     ka.stage,
			Count:     ka.count,
			Failed:    ka.failed,
			Timed:     len(ka.durs),
			TotalMS:   round3(ka.total),
			MaxMS:     ka.max,
			Sizes:     ka.sizes,
			Resources: map[string][]string{},
			Clamped:   ka.clamped,
			Dropped:   ka.dropped,
		}
		if s.Sizes == nil {
			s.Sizes = map[string]float64{}
		}
		if len(ka.durs) > 0 {
			d := slices.Clone(ka.durs)
			slices.Sort(d)
			s.P50MS = percentile(d, 0.50)
			s.P95MS = percentile(d, 0.95)
		}
		for name, vs := range ka.res {
			s.Resources[name] = vs.sorted()
		}
		out = append(out, s)
	}
	return out
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// timelineOrder sorts failures by (ts, seq).
func timelineOrder(fs []failure) []failure {
	out := slices.Clone(fs)
	slices.SortStableFunc(out, func(x, y failure) int {
		return cmp.Or(cmp.Compare(x.tsn, y.tsn), cmp.Compare(x.seq, y.seq))
	})
	return out
}

func (b *Builder) errors() []ErrorEvent {
	fs := timelineOrder(b.failures)
	n := min(len(fs), b.opts.MaxErrors)
	out := make([]ErrorEvent, 0, n+1)
	for _, f := range fs[:n] {
		out = append(out, ErrorEvent{
			Seq: f.seq, TS: f.ts.UTC(), Kind: f.kind, Stage: f.stage,
			ErrorCode: f.code, Detail: f.detail, Recovered: f.recovered,
		})
	}
	return out
}

func (b *Builder) timeline() Timeline {
	t := Timeline{Total: b.tracker.Events(), Offset: b.opts.TimelineOffset, Limit: b.opts.TimelineLimit}
	page := slices.Clone(b.page)
	slices.SortFunc(page, func(x, y pageEntry) int {
		return cmp.Or(cmp.Compare(x.tsn, y.tsn), cmp.Compare(x.ev.Seq, y.ev.Seq))
	})
	t.Events = []TimelineEvent{}
	if t.Offset < len(page) {
		for _, e := range page[t.Offset:] {
			e.ev.TS = e.ev.TS.UTC()
			t.Events = append(t.Events, e.ev)
		}
	}
	if next := t.Offset + t.Limit; next < t.Total {
		t.NextOffset = &next
	}
	return t
}
