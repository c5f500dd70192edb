package tui

import (
	"cmp"
	"slices"
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/stepschema"
)

type rowKind uint8

const (
	rowTrace rowKind = iota
	rowSpan
	rowStep
)

// tlRow is one row of the waterfall: a trace header, a span header or a
// step.
type tlRow struct {
	kind rowKind
	line int // rowStep: index into RunData.Lines
	// underSpan is true for a step listed under a span header.
	underSpan bool
	// Headers.
	traceID, spanID, name, service string
	steps, failed                  int
}

// timeline is the waterfall of a run: steps grouped by trace, then span,
// each group in order of its first step, steps in time order.
type timeline struct {
	rows  []tlRow
	order []int // line indexes in time order (ts, then seq)
	pos   []int // line index -> position in order
	rowOf []int // line index -> row index
	errs  []int // line indexes of failed steps (not run.end), in time order
	// start and end bound the waterfall: earliest step start (ts minus
	// duration) and latest event time.
	start, end time.Time
	root       int // line index of the stop reason's event, -1 if none
}

type spanGroup struct {
	id, name string
	lines    []int
	failed   int
}

type traceGroup struct {
	id, service string
	spans       []*spanGroup
	byKey       map[string]*spanGroup
	steps       int
	failed      int
}

func lineStart(l *ledger.Line) time.Time {
	if l.DurationMS != nil && *l.DurationMS > 0 {
		return l.TS.Add(-time.Duration(*l.DurationMS * float64(time.Millisecond)))
	}
	return l.TS
}

func buildTimeline(d *RunData) timeline {
	t := timeline{root: -1}
	if d == nil || len(d.Lines) == 0 {
		return t
	}
	lines := d.Lines
	n := len(lines)
	t.order = make([]int, n)
	for i := range t.order {
		t.order[i] = i
	}
	slices.SortStableFunc(t.order, func(a, b int) int {
		return cmp.Or(lines[a].TS.Compare(lines[b].TS), cmp.Compare(lines[a].Seq, lines[b].Seq))
	})
	t.pos = make([]int, n)
	t.rowOf = make([]int, n)
	var rootSeq uint64
	hasRoot := false
	if d.Report != nil && d.Report.StopReason.EventSeq != nil {
		rootSeq, hasRoot = *d.Report.StopReason.EventSeq, true
	}

	var traces []*traceGroup
	byTrace := map[string]*traceGroup{}
	for p, i := range t.order {
		l := &lines[i]
		t.pos[i] = p
		if s := lineStart(l); p == 0 || s.Before(t.start) {
			t.start = s
		}
		if p == 0 || l.TS.After(t.end) {
			t.end = l.TS
		}
		failed := l.Status == stepschema.StatusFailed
		if failed && l.Kind != stepschema.KindRunEnd {
			t.errs = append(t.errs, i)
		}
		if hasRoot && l.Seq == rootSeq && t.root < 0 {
			t.root = i
		}
		tg := byTrace[l.TraceID]
		if tg == nil {
			tg = &traceGroup{id: l.TraceID, byKey: map[string]*spanGroup{}}
			byTrace[l.TraceID] = tg
			traces = append(traces, tg)
		}
		if tg.service == "" {
			tg.service = l.Service
		}
		key := l.SpanID
		if key == "" && l.SpanName != "" {
			key = "name:" + l.SpanName
		}
		sg := tg.byKey[key]
		if sg == nil {
			sg = &spanGroup{id: l.SpanID}
			tg.byKey[key] = sg
			tg.spans = append(tg.spans, sg)
		}
		if sg.name == "" {
			sg.name = l.SpanName
		}
		sg.lines = append(sg.lines, i)
		tg.steps++
		if failed {
			sg.failed++
			tg.failed++
		}
	}
	if !t.end.After(t.start) {
		t.end = t.start.Add(time.Millisecond)
	}

	t.rows = make([]tlRow, 0, n+2*len(traces))
	for _, tg := range traces {
		t.rows = append(t.rows, tlRow{kind: rowTrace, traceID: tg.id, service: tg.service, steps: tg.steps, failed: tg.failed})
		for _, sg := range tg.spans {
			// A span of one step needs no header: the step row sits
			// under its trace and the step pane names the span.
			header := (sg.id != "" || sg.name != "") && len(sg.lines) > 1
			if header {
				t.rows = append(t.rows, tlRow{kind: rowSpan, traceID: tg.id, spanID: sg.id, name: sg.name,
					steps: len(sg.lines), failed: sg.failed})
			}
			for _, i := range sg.lines {
				t.rowOf[i] = len(t.rows)
				t.rows = append(t.rows, tlRow{kind: rowStep, line: i, underSpan: header})
			}
		}
	}
	return t
}

// firstStepRow returns the first step row, or 0.
func (t *timeline) firstStepRow() int {
	for i, r := range t.rows {
		if r.kind == rowStep {
			return i
		}
	}
	return 0
}

// isLive reports whether a run may still grow: its status is open, or no
// run.end was written yet (a failed step without run.end may be retried).
func isLive(d *RunData) bool {
	if d == nil || d.Report == nil {
		return true
	}
	if isOpenStatus(d.Report.Status) {
		return true
	}
	for i := range d.Lines {
		if d.Lines[i].Kind == stepschema.KindRunEnd {
			return false
		}
	}
	return true
}
