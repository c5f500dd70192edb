package runindex

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/stepschema"
)

// Stop is why a run stopped, as its report's stop_reason says it: the
// category and the root cause's stage and error code.
//
// The index sees summary lines only (no detail, no attrs), so it follows
// the report's rules (internal/report/stopreason.go) on what a summary
// has. Where the report also reads detail text it differs:
//   - timeout is decided from the error code alone (report.IsTimeout with
//     no detail): a failure whose code is generic but whose detail says
//     "timed out" is an error in the list and a timeout in the report;
//   - an error handler's step ("<stage>.error") defers to the failure it
//     repeats when the codes match; one without a code defers to the
//     earliest other failure, as the report does when its detail is empty
//     too. Matches by detail text are not seen;
//   - stalled and in_progress runs have no stage: the report names the
//     first declared stage that never reported (run.start attrs.stages).
type Stop struct {
	Category  string
	Stage     string
	ErrorCode string
}

// Bounds of the per-run state: runs with more distinct failed stages or
// error codes than this are rare (a pipeline has a handful of stages), and
// the state of a hostile run must not grow with it. Stages and codes past
// the bound are not tracked; the verdict then may differ from the report's.
const (
	maxStopStages = 32
	maxStopCodes  = 32
)

// failRef is a failed (or cancelled) step as the stop rules need it.
type failRef struct {
	tsn  int64  // ts in Unix nanoseconds, as the report orders the timeline
	seq  uint64 // ties broken by seq
	kind string // interned
	code string // interned
}

// before orders failures in timeline order, as the report does.
func (a *failRef) before(b *failRef) bool {
	return a.tsn < b.tsn || a.tsn == b.tsn && a.seq < b.seq
}

func (a *failRef) same(b *failRef) bool { return a.tsn == b.tsn && a.seq == b.seq }

// stageFail is the earliest (timeline order) failure of a stage that no
// later ok step of the stage recovered.
type stageFail struct {
	stage string
	first failRef
	open  bool
	// exc: the stage's recorded exceptions (report.IsExceptionKind), kept
	// apart because the report looks at them only after failed steps.
	exc bool
}

// codeFirst holds the earliest failures with an error code (compared
// case-insensitively, as the report does): the earliest real step and the
// earliest error handler's step.
type codeFirst struct {
	code              string // lower-cased
	step, handler     failRef
	hasStep, hasHandl bool
}

// stopState is what a live run keeps for its stop reason: a bounded
// digest of its failures, enough to find the report's root cause. A run
// without failure, cancellation or run.end error code has none (nil).
type stopState struct {
	stages []stageFail
	codes  []codeFirst
	// first and last are the earliest and latest failures overall, and
	// firstStep the earliest that is not an error handler's step.
	first, last, firstStep failRef
	failures               int
	hasFirstStep           bool
	// cancel is the first cancelled step seen while no failure was open.
	cancel    failRef
	hasCancel bool
	// endCode is the error code of the last run.end.
	endCode string
}

func (s *stopState) clone() *stopState {
	if s == nil {
		return nil
	}
	c := *s
	c.stages = slices.Clone(s.stages)
	c.codes = slices.Clone(s.codes)
	return &c
}

// observeStop adds line l to f's stop state.
func (ix *Index) observeStop(f *fileState, l *ledger.Line) {
	f.stop = observeStop(f.stop, l, ix.intern)
}

// observeStop adds line l to stop state s and returns it, or a new state
// when l is the first line that needs one (s is nil until then). It
// follows the report builder's switch: run.start never counts, run.end is
// the end, otherwise the step's status. intern copies the strings kept.
func observeStop(s *stopState, l *ledger.Line, intern func(string) string) *stopState {
	switch {
	case l.Kind == stepschema.KindRunStart:
	case l.Kind == stepschema.KindRunEnd:
		if s == nil && l.ErrorCode == "" {
			return nil
		}
		s = orNew(s)
		s.endCode = intern(l.ErrorCode)
	case l.Status == stepschema.StatusFailed:
		s = orNew(s)
		s.fail(newFailRef(l, intern))
	case l.Status == stepschema.StatusOK:
		if s != nil {
			st := report.Stage(l.Kind)
			for i := range s.stages {
				if s.stages[i].stage == st {
					s.stages[i].open = false
				}
			}
		}
	case l.Status == stepschema.StatusCancelled:
		if s == nil || !s.hasCancel && !s.anyOpen() {
			s = orNew(s)
			s.cancel, s.hasCancel = newFailRef(l, intern), true
		}
	}
	return s
}

// orNew returns s, or a new stop state when s is nil.
func orNew(s *stopState) *stopState {
	if s == nil {
		return &stopState{}
	}
	return s
}

func newFailRef(l *ledger.Line, intern func(string) string) failRef {
	return failRef{tsn: reportNanos(l), seq: l.Seq, kind: intern(l.Kind), code: intern(l.ErrorCode)}
}

// reportNanos is the line's ts in Unix nanoseconds clamped to what int64
// holds, as the report orders its timeline (report's nanos).
func reportNanos(l *ledger.Line) int64 {
	switch {
	case l.TS.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case l.TS.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return l.TS.UnixNano()
}

func (s *stopState) anyOpen() bool {
	for i := range s.stages {
		if s.stages[i].open {
			return true
		}
	}
	return false
}

// fail records failed step r.
func (s *stopState) fail(r failRef) {
	s.failures++
	if s.failures == 1 || r.before(&s.first) {
		s.first = r
	}
	if s.failures == 1 || !r.before(&s.last) { // the later in file order among equal times, as the report's sort
		s.last = r
	}
	handler := report.IsErrorKind(r.kind)
	if !handler && (!s.hasFirstStep || r.before(&s.firstStep)) {
		s.firstStep, s.hasFirstStep = r, true
	}
	st, exc := report.Stage(r.kind), report.IsExceptionKind(r.kind)
	i := slices.IndexFunc(s.stages, func(x stageFail) bool { return x.stage == st && x.exc == exc })
	switch {
	case i >= 0 && s.stages[i].open:
		if r.before(&s.stages[i].first) {
			s.stages[i].first = r
		}
	case i >= 0:
		s.stages[i].first, s.stages[i].open = r, true
	case len(s.stages) < maxStopStages:
		s.stages = append(s.stages, stageFail{stage: st, first: r, open: true, exc: exc})
	}
	if r.code == "" {
		return
	}
	code := strings.ToLower(r.code)
	j := slices.IndexFunc(s.codes, func(x codeFirst) bool { return x.code == code })
	if j < 0 {
		if len(s.codes) == maxStopCodes {
			return
		}
		s.codes = append(s.codes, codeFirst{code: code})
		j = len(s.codes) - 1
	}
	c := &s.codes[j]
	switch {
	case handler && (!c.hasHandl || r.before(&c.handler)):
		c.handler, c.hasHandl = r, true
	case !handler && (!c.hasStep || r.before(&c.step)):
		c.step, c.hasStep = r, true
	}
}

// stopReason returns the stop reason of live run f with status status.
func (f *fileState) stopReason(status string) Stop {
	_, ended := f.tracker.Ended()
	return stopOf(status, ended, f.stop)
}

// stopOf returns the stop reason of a run with status status (the
// tracker's), whether it has a run.end, and stop state s (nil: none).
func stopOf(status string, ended bool, s *stopState) Stop {
	runStage := report.Stage(stepschema.KindRunEnd)
	switch status {
	case report.StatusCompleted:
		return Stop{Category: report.CategoryCompleted, Stage: runStage}
	case report.StatusCancelled:
		switch {
		case s != nil && s.hasCancel:
			return Stop{Category: report.CategoryCancelled, Stage: report.Stage(s.cancel.kind), ErrorCode: s.cancel.code}
		case s != nil:
			return Stop{Category: report.CategoryCancelled, Stage: runStage, ErrorCode: s.endCode}
		}
		// Cancelled by a run.end without error code (or, with no run.end,
		// by a step not seen: there is always one).
		return Stop{Category: report.CategoryCancelled, Stage: runStage}
	case report.StatusFailed:
		return s.failed(ended)
	case report.StatusStalled:
		return Stop{Category: report.CategoryStalled}
	}
	return Stop{Category: report.CategoryInProgress}
}

// failed is the report's failedReason on the digest: the root cause is the
// earliest failure not recovered, or, when that is an error handler's step,
// the failure it repeats.
func (s *stopState) failed(ended bool) Stop {
	sr := Stop{Category: report.CategoryError}
	if s == nil {
		s = &stopState{} // no failed step (a run.end without error code)
	}
	var w *failRef
	for _, exc := range [2]bool{false, true} { // failed steps, then exceptions
		for i := range s.stages {
			if st := &s.stages[i]; st.open && st.exc == exc && (w == nil || st.first.before(w)) {
				w = &st.first
			}
		}
		if w != nil {
			break
		}
	}
	var root, wrapper *failRef
	switch {
	case w == nil && s.failures > 0:
		// run.end failed and every failure was recovered: the report
		// names the latest.
		root = &s.last
	case w == nil && ended:
		// run.end failed with no failed step: it is the root cause.
		sr.Stage, sr.ErrorCode = report.Stage(stepschema.KindRunEnd), s.endCode
		return s.timeout(sr)
	case w == nil:
		// Failed with neither a failed step nor run.end (a failed
		// run.start, which the report does not count): no root cause.
		return sr
	case !report.IsErrorKind(w.kind):
		root = w
	default:
		root = s.repeated(w)
		if root != w {
			wrapper = w
		}
	}
	sr.Stage, sr.ErrorCode = report.Stage(root.kind), root.code
	if sr.ErrorCode == "" && wrapper != nil {
		sr.ErrorCode = wrapper.code
	}
	return s.timeout(sr)
}

// timeout makes sr a timeout when its code says so; the report also reads
// the detail, which a summary lacks.
func (s *stopState) timeout(sr Stop) Stop {
	if report.IsTimeout(sr.ErrorCode, "") {
		sr.Category = report.CategoryTimeout
	}
	return sr
}

// repeated returns the failure error handler's step w repeats, or w: the
// earliest one with w's code, or, when w has no code, the earliest other
// failure. Like the report, it looks among real steps anywhere and error
// handlers' steps before w.
func (s *stopState) repeated(w *failRef) *failRef {
	eligible := func(f *failRef) bool { return !f.same(w) && (f.before(w) || f.seq < w.seq) }
	if w.code != "" {
		code := strings.ToLower(w.code)
		j := slices.IndexFunc(s.codes, func(x codeFirst) bool { return x.code == code })
		if j < 0 {
			return w
		}
		c := &s.codes[j]
		var root *failRef
		if c.hasStep {
			root = &c.step
		}
		if c.hasHandl && eligible(&c.handler) && (root == nil || c.handler.before(root)) {
			root = &c.handler
		}
		if root == nil {
			return w
		}
		return root
	}
	// No code: the report's weak match, which takes the earliest other
	// failure when the handler's detail is empty too.
	var root *failRef
	if s.hasFirstStep {
		root = &s.firstStep
	}
	if report.IsErrorKind(s.first.kind) && eligible(&s.first) && (root == nil || s.first.before(root)) {
		root = &s.first
	}
	if root == nil {
		return w
	}
	return root
}

// intern returns s from the index's table of shared strings (kinds, codes
// and services repeat across runs), or a copy of it: lines' strings share
// their line's bytes and must not be kept.
func (ix *Index) intern(s string) string {
	if s == "" {
		return ""
	}
	ix.internMu.Lock()
	defer ix.internMu.Unlock()
	v, ok := ix.interned[s]
	if !ok {
		if len(ix.interned) >= maxInterned {
			clear(ix.interned)
		}
		v = strings.Clone(s)
		ix.interned[v] = v
	}
	return v
}

// StopText is the stop reason of e in one short phrase for tables: the
// category, then the root cause as stage/error_code ("error
// ann/index_not_found", "timeout embed", "completed"). A completed run's
// stage (run) says nothing, so it is left out. Producer text is not
// escaped: callers sanitise it for their terminal.
func (e *Entry) StopText() string {
	cause := e.StopStage
	switch {
	case e.StopCategory == report.CategoryCompleted:
		cause = ""
	case cause != "" && e.StopErrorCode != "":
		cause += "/" + e.StopErrorCode
	case e.StopErrorCode != "":
		cause = e.StopErrorCode
	}
	if cause == "" {
		return e.StopCategory
	}
	return e.StopCategory + " " + cause
}
