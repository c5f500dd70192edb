package report

import (
	"cmp"
	"fmt"
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
	// spans are the run's spans (span records and spans of step lines).
	spans        map[spanKey]*spanAgg
	lastSpan     *spanAgg // the span of the previous step line
	spansOmitted int

	failures []failure
	// openFail holds, per stage, the indexes in failures not yet recovered.
	openFail map[string][]int
	cancel   *failure
	end      *failure

	lastSeq  uint64
	lastTSN  int64
	lastKind string
	// declared lists the stages the producer declared on run.start
	// (attrs.stages), in order.
	declared []string
	// previous is the first attrs.previous_run seen.
	previous string
	// firstEnd and lastStart are the earliest run.end and the latest
	// run.start by (ts, seq): a start after an end means a reused run id.
	firstEnd, lastStart *pageKey

	// The timeline page. With offset 0 page keeps the limit first events
	// by (ts, seq) as the lines go by. With an offset, holding offset+limit
	// events would make memory grow with the offset, so the first pass
	// keeps only the keys of the offset+limit first events (16 bytes each)
	// and a second pass over the lines (AddPage) collects the page's events.
	page pageHeap[pageEntry, *pageEntry]
	keys pageHeap[pageKey, *pageKey]
	// pageFrom is the first key of the page, known after the first pass.
	pageFrom  pageKey
	pagePass  bool
	pageEmpty bool
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

// pageKey orders the timeline: by time, then seq.
type pageKey struct {
	tsn int64
	seq uint64
}

func (a pageKey) less(b pageKey) bool { return a.tsn < b.tsn || a.tsn == b.tsn && a.seq < b.seq }

func (e *pageEntry) key() pageKey { return pageKey{e.tsn, e.ev.Seq} }

func (k *pageKey) key() pageKey { return *k }

// pageHeap keeps the k smallest items by key in a max-heap: items arriving
// in order are rejected by one comparison once it is full.
type pageHeap[T any, P interface {
	*T
	key() pageKey
}] struct {
	items []T
	k     int
}

// admits reports whether an item with key k would be kept.
func (h *pageHeap[T, P]) admits(k pageKey) bool {
	return h.k > 0 && (len(h.items) < h.k || k.less(P(&h.items[0]).key()))
}

// push adds x, which admits accepted.
func (h *pageHeap[T, P]) push(x T) {
	if len(h.items) == h.k {
		h.items[0] = x
		h.siftDown(0)
		return
	}
	h.items = append(h.items, x)
	for i := len(h.items) - 1; i > 0; {
		p := (i - 1) / 2
		if !P(&h.items[p]).key().less(P(&h.items[i]).key()) {
			break
		}
		h.items[p], h.items[i] = h.items[i], h.items[p]
		i = p
	}
}

func (h *pageHeap[T, P]) siftDown(i int) {
	n := len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && P(&h.items[l]).key().less(P(&h.items[r]).key()) {
			m = r
		}
		if !P(&h.items[i]).key().less(P(&h.items[m]).key()) {
			return
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
}

// sorted returns the items in key order.
func (h *pageHeap[T, P]) sorted() []T {
	out := slices.Clone(h.items)
	slices.SortFunc(out, func(x, y T) int {
		a, b := P(&x).key(), P(&y).key()
		return cmp.Or(cmp.Compare(a.tsn, b.tsn), cmp.Compare(a.seq, b.seq))
	})
	return out
}

// NewBuilder returns a Builder for one run.
func NewBuilder(opts Options) *Builder {
	opts.normalise()
	b := &Builder{
		opts:     opts,
		runID:    opts.RunID,
		kinds:    make(map[string]*kindAgg),
		stageRes: make(map[string]map[string]*valueSet),
		services: make(map[string]struct{}),
		traces:   make(map[string]struct{}),
		openFail: make(map[string][]int),
	}
	if opts.TimelineOffset == 0 {
		b.page.k = opts.TimelineLimit
	} else {
		b.keys.k = opts.TimelineOffset + opts.TimelineLimit
	}
	return b
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
	b.addStepSpan(l)

	if b.previous == "" && l.Attrs != nil {
		if p, ok := l.Attrs[stepschema.AttrPreviousRun].(string); ok {
			b.previous = strings.Clone(p)
		}
	}
	switch {
	case l.Kind == stepschema.KindRunStart:
		if b.declared == nil {
			b.declared = declaredStages(l.Attrs["stages"])
		}
		if k := (pageKey{tsn, l.Seq}); b.lastStart == nil || b.lastStart.less(k) {
			b.lastStart = &k
		}
	case l.Kind == stepschema.KindRunEnd:
		if k := (pageKey{tsn, l.Seq}); b.firstEnd == nil || k.less(*b.firstEnd) {
			b.firstEnd = &k
		}
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

// addToPage feeds the first pass's page heap or key heap.
func (b *Builder) addToPage(l *ledger.Line, tsn int64) {
	k := pageKey{tsn, l.Seq}
	if b.keys.k > 0 {
		if b.keys.admits(k) {
			b.keys.push(k)
		}
		return
	}
	if b.page.admits(k) {
		b.page.push(pageEntry{tsn: tsn, ev: timelineEvent(l)})
	}
}

// NeedsPagePass reports whether the timeline page is collected by a second
// pass over the same lines, each given to AddPage, before Report: true when
// the page starts at an offset and has events.
func (b *Builder) NeedsPagePass() bool {
	if b.keys.k == 0 || b.pagePass {
		return false
	}
	b.pagePass = true
	keys := b.keys.sorted()
	b.keys = pageHeap[pageKey, *pageKey]{}
	if len(keys) <= b.opts.TimelineOffset {
		b.pageEmpty = true
		return false
	}
	b.pageFrom = keys[b.opts.TimelineOffset]
	b.page.k = b.opts.TimelineLimit
	return true
}

// AddPage is the second pass (see NeedsPagePass): it keeps the line when it
// is on the timeline page. Its signature fits ledger.ReadFile.
func (b *Builder) AddPage(l *ledger.Line) error {
	if l.RunID != b.runID {
		return nil
	}
	k := pageKey{nanos(l.TS), l.Seq}
	if k.less(b.pageFrom) || !b.page.admits(k) {
		return nil
	}
	b.page.push(pageEntry{tsn: k.tsn, ev: timelineEvent(l)})
	return nil
}

func timelineEvent(l *ledger.Line) TimelineEvent {
	ev := TimelineEvent{
		V:         l.V,
		RunID:     strings.Clone(l.RunID),
		Seq:       l.Seq,
		TS:        l.TS,
		Kind:      strings.Clone(l.Kind),
		Status:    strings.Clone(l.Status),
		ErrorCode: strings.Clone(l.ErrorCode),
		Detail:    strings.Clone(l.Detail),
		Sizes:     cleanSizes(l.Sizes),
		Resources: cloneStrMap(l.Resources),
		Attrs:     maps.Clone(l.Attrs),
		TraceID:   strings.Clone(l.TraceID),
		SpanID:    strings.Clone(l.SpanID),
		SpanName:  strings.Clone(l.SpanName),
		Service:   strings.Clone(l.Service),
		EventID:   strings.Clone(l.EventID),
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
	r.PreviousRun = b.previous
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
	r.Spans = b.spanList()
	r.SpansOmitted = b.spansOmitted
	r.TraceURLs = TraceURLs(b.opts.TraceURL, r.TraceIDs)
	r.Timeline = b.timeline()
	r.StopReason = b.stopReason(r.Status, now)
	r.Warnings = b.warnings()
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
		tax := b.opts.Remediations.Lookup(f.kind, f.code, f.detail).Taxonomy
		out = append(out, ErrorEvent{
			Seq: f.seq, TS: f.ts.UTC(), Kind: f.kind, Stage: f.stage,
			ErrorCode: f.code, Detail: f.detail, Recovered: f.recovered,
			ErrorCategory: tax.Category, Retryable: tax.Retryable, Owner: tax.Owner,
		})
	}
	return out
}

func (b *Builder) timeline() Timeline {
	t := Timeline{Total: b.tracker.Events(), Offset: b.opts.TimelineOffset, Limit: b.opts.TimelineLimit}
	t.Events = []TimelineEvent{}
	if !b.pageEmpty {
		// The heap holds the page itself: from the first event with offset
		// 0, from the second pass's first key otherwise.
		for _, e := range b.page.sorted() {
			e.ev.TS = e.ev.TS.UTC()
			t.Events = append(t.Events, e.ev)
		}
	}
	if next := t.Offset + t.Limit; next < t.Total {
		t.NextOffset = &next
	}
	return t
}

// maxDeclaredStages bounds attrs.stages: it names a plan, not data.
const maxDeclaredStages = 64

// declaredStages reads a run.start's attrs.stages: a list of stage names or
// one comma-separated string.
func declaredStages(v any) []string {
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" && len(out) < maxDeclaredStages {
			out = append(out, Stage(s))
		}
	}
	switch x := v.(type) {
	case string:
		for _, s := range strings.Split(x, ",") {
			add(s)
		}
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				add(s)
			}
		}
	}
	return out
}

// missingStage returns the first stage the producer declared that has no
// step in the run: where a stalled or unfinished run stopped.
func (b *Builder) missingStage() string {
	seen := make(map[string]bool, len(b.kinds))
	for _, ka := range b.kinds {
		seen[ka.stage] = true
	}
	for _, st := range b.declared {
		if !seen[st] {
			return st
		}
	}
	return ""
}

// warnings lists what makes the report doubtful.
func (b *Builder) warnings() []string {
	var out []string
	if b.firstEnd != nil && b.lastStart != nil && b.firstEnd.less(*b.lastStart) {
		out = append(out, fmt.Sprintf("run.start (seq %d) after run.end (seq %d): the run id was reused, "+
			"so this report merges more than one run; give every run its own id", b.lastStart.seq, b.firstEnd.seq))
	}
	return out
}
