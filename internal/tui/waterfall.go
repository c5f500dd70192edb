package tui

import (
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/stepschema"
)

// The span waterfall (issue 15): the run's spans (report.Report.Spans) on a
// time axis scaled to the run, nested by parent, with the run's step events
// as markers on their span. It is built once per loaded report; a key press
// renders only the rows on screen, and each row's bar is drawn once per
// terminal width.

// Span status values of report.Span.Status.
const (
	spanStatusError = "error"
)

// wfRow is a row of the waterfall: a trace header or a span.
type wfRow struct {
	header bool
	trace  int // index into waterfall.traces
	span   int // span rows: index into Report.Spans
	depth  int // span rows: 0 at the top level of the trace
}

// wfTrace sums up one trace for its header row.
type wfTrace struct {
	id, service    string
	spans, flagged int
}

// waterfall is the laid-out span tree of one RunData.
type waterfall struct {
	data  *RunData // what it was built from
	spans []report.Span
	rows  []wfRow
	// traces are in order of their first span (spans are ordered by start).
	traces []wfTrace
	// rowOf maps a span's trace/span key to its row, to keep the
	// selection across reloads.
	rowOf map[string]int
	// steps holds each span's step lines (indexes into RunData.Lines) in
	// time order; failed counts the failed ones.
	steps  [][]int
	failed []int
	// flagged spans have an error status or failed steps; crit ones are on
	// their trace's critical path.
	flagged, crit []bool
	// flaggedRows are the rows of flagged spans, top to bottom.
	flaggedRows []int
	// unplaced counts step lines whose span is not among the spans.
	unplaced int
	// start and end are the time axis: the run's steps and spans.
	start, end time.Time
	root       int // line index of the stop reason's step, -1 if none

	// bars caches each row's drawn bar for barW cells (plain and styled).
	barW             int
	bars, styledBars []string
}

func spanKey(trace, span string) string { return trace + "/" + span }

// timing returns a span's start and end when both are known and in order.
func timing(s *report.Span) (time.Time, time.Time, bool) {
	if s.Start == nil || s.End == nil || s.End.Before(*s.Start) {
		return time.Time{}, time.Time{}, false
	}
	return *s.Start, *s.End, true
}

// buildWaterfall lays out d's spans. tl is d's step timeline (time order,
// root cause step).
func buildWaterfall(d *RunData, tl *timeline) *waterfall {
	w := &waterfall{data: d, root: tl.root, rowOf: map[string]int{}}
	if d == nil || d.Report == nil {
		return w
	}
	spans := d.Report.Spans
	w.spans = spans
	n := len(spans)
	w.steps, w.failed = make([][]int, n), make([]int, n)
	w.flagged, w.crit = make([]bool, n), make([]bool, n)

	// Index the spans; a repeated trace/span pair keeps its first entry and
	// the repeat becomes a top-level span of its own.
	index := make(map[string]int, n)
	for i := range spans {
		k := spanKey(spans[i].TraceID, spans[i].SpanID)
		if _, dup := index[k]; !dup {
			index[k] = i
		}
	}

	// Steps on their spans, in time order; the axis covers them all.
	w.start, w.end = tl.start, tl.end
	axisSet := len(tl.order) > 0
	for _, li := range tl.order {
		l := &d.Lines[li]
		si, ok := index[spanKey(l.TraceID, l.SpanID)]
		if !ok || l.SpanID == "" {
			w.unplaced++
			continue
		}
		w.steps[si] = append(w.steps[si], li)
		if l.Status == stepschema.StatusFailed {
			w.failed[si]++
		}
	}
	for i := range spans {
		s := &spans[i]
		// The report counts every step of the span; the lines held may be
		// fewer (a timeline page, MaxLines).
		w.failed[i] = max(w.failed[i], s.FailedSteps)
		w.flagged[i] = s.Status == spanStatusError || w.failed[i] > 0
		if a, b, ok := timing(s); ok {
			if !axisSet || a.Before(w.start) {
				w.start = a
			}
			if !axisSet || b.After(w.end) {
				w.end = b
			}
			axisSet = true
		}
	}
	if !w.end.After(w.start) {
		w.end = w.start.Add(time.Millisecond)
	}

	// The tree: a span without a parent among the spans
	// (report.SpanParents) sits at the top level of its trace.
	children := make([][]int, n)
	var top [][]int // per trace, in order of first span
	traceOf := map[string]int{}
	parents := report.SpanParents(spans)
	for i := range spans {
		s := &spans[i]
		t, ok := traceOf[s.TraceID]
		if !ok {
			t = len(w.traces)
			traceOf[s.TraceID] = t
			w.traces = append(w.traces, wfTrace{id: s.TraceID})
			top = append(top, nil)
		}
		tr := &w.traces[t]
		tr.spans++
		if w.flagged[i] {
			tr.flagged++
		}
		if tr.service == "" {
			tr.service = s.Service
		}
		if p := parents[i]; p >= 0 {
			children[p] = append(children[p], i)
		} else {
			top[t] = append(top[t], i)
		}
	}

	// Rows: each trace's header, then its spans depth first. A parent
	// cycle (hostile ids) is never reached from the top level: its spans
	// are laid out afterwards as top-level spans of their trace.
	seen := make([]bool, n)
	w.rows = make([]wfRow, 0, n+len(w.traces))
	type item struct{ span, depth int }
	var stack []item
	place := func(t, root int) {
		stack = append(stack[:0], item{root, 0})
		for len(stack) > 0 {
			it := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[it.span] {
				continue
			}
			seen[it.span] = true
			w.rowOf[spanKey(spans[it.span].TraceID, spans[it.span].SpanID)] = len(w.rows)
			w.rows = append(w.rows, wfRow{trace: t, span: it.span, depth: it.depth})
			c := children[it.span]
			for k := len(c) - 1; k >= 0; k-- {
				stack = append(stack, item{c[k], it.depth + 1})
			}
		}
	}
	for t := range w.traces {
		w.rows = append(w.rows, wfRow{header: true, trace: t})
		for _, i := range top[t] {
			place(t, i)
		}
		for i := range spans {
			if !seen[i] && traceOf[spans[i].TraceID] == t {
				place(t, i)
			}
		}
		w.markCritical(top[t], children)
	}
	for r, row := range w.rows {
		if !row.header && w.flagged[row.span] {
			w.flaggedRows = append(w.flaggedRows, r)
		}
	}
	return w
}

// markCritical marks the critical path of a trace whose top-level spans are
// tops: walking back from the latest end, the child that finished last
// before the current point is on the path, then the point moves to that
// child's start (the parent waited for it), and so on down the tree.
// Spans without timing are never on it.
func (w *waterfall) markCritical(tops []int, children [][]int) {
	type item struct {
		kids []int
		till time.Time
	}
	var stack []item
	var until time.Time
	for _, i := range tops {
		if _, b, ok := timing(&w.spans[i]); ok && b.After(until) {
			until = b
		}
	}
	stack = append(stack, item{tops, until})
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		kids := slices.Clone(it.kids)
		slices.SortStableFunc(kids, func(a, b int) int {
			_, ea, _ := timing(&w.spans[a])
			_, eb, _ := timing(&w.spans[b])
			return eb.Compare(ea)
		})
		t, picked := it.till, false
		for _, c := range kids {
			a, b, ok := timing(&w.spans[c])
			if !ok || w.crit[c] || picked && !a.Before(t) {
				continue
			}
			w.crit[c], picked = true, true
			stack = append(stack, item{children[c], b})
			t = a
		}
	}
}

// Widths of the waterfall's columns.
const (
	wfDurW      = 7
	wfMinBar    = 8
	wfMaxIndent = 12
)

// nameWidth is the width of the name column (indent and span name).
func (m *model) wfNameWidth() int { return clamp(m.width*3/10, 16, 48) }

// wfBarWidth is the width of the bars, 0 when there is no room.
func (m *model) wfBarWidth() int {
	bw := m.width - (2 + 2 + 1 + m.wfNameWidth() + 1 + wfDurW + 1)
	if bw < wfMinBar {
		return 0
	}
	return bw
}

// bar returns the plain and styled bar of row r at width bw: the span's
// interval on the run's time axis (█, ▓ for an error status), nothing when
// its timing is unknown, and its steps as markers: ◆ the stop reason's
// step, ✗ a failed step, • any other.
func (w *waterfall) bar(m *model, r, bw int) (string, string) {
	if w.barW != bw || len(w.bars) != len(w.rows) {
		w.barW = bw
		w.bars, w.styledBars = make([]string, len(w.rows)), make([]string, len(w.rows))
	}
	if w.bars[r] != "" {
		return w.bars[r], w.styledBars[r]
	}
	s := &w.spans[w.rows[r].span]
	cells := []rune(strings.Repeat(" ", bw))
	kind := make([]uint8, bw) // 0 blank, 1 bar, 2 error bar, 3 crit bar, 4 marker, 5 failed marker
	total := float64(w.end.Sub(w.start))
	pos := func(t time.Time) int { return clamp(int(float64(t.Sub(w.start))/total*float64(bw)), 0, bw-1) }
	if a, b, ok := timing(s); ok {
		ch, k := '█', uint8(1)
		switch {
		case s.Status == spanStatusError:
			ch, k = '▓', 2
		case w.crit[w.rows[r].span]:
			k = 3
		}
		for x := pos(a); x <= pos(b); x++ {
			cells[x], kind[x] = ch, k
		}
	}
	for _, li := range w.steps[w.rows[r].span] {
		l := &w.data.Lines[li]
		x := pos(l.TS)
		mark, k := '•', uint8(4)
		switch {
		case li == w.root:
			mark, k = '◆', 5
		case l.Status == stepschema.StatusFailed:
			mark, k = '✗', 5
		}
		if kind[x] == 5 && cells[x] == '◆' || kind[x] == 5 && k == 4 {
			continue // a stronger marker is already there
		}
		cells[x], kind[x] = mark, k
	}
	style := func(k uint8) lipgloss.Style {
		switch k {
		case 1:
			return m.st.bar
		case 2, 5:
			return m.st.barFail
		case 3:
			return m.st.warn
		}
		return m.st.r.NewStyle()
	}
	var b strings.Builder
	for x := 0; x < bw; {
		y := x
		for y < bw && kind[y] == kind[x] {
			y++
		}
		seg := string(cells[x:y])
		if kind[x] == 0 {
			b.WriteString(seg)
		} else {
			b.WriteString(style(kind[x]).Render(seg))
		}
		x = y
	}
	w.bars[r], w.styledBars[r] = string(cells), b.String()
	return w.bars[r], w.styledBars[r]
}

// stepsOf returns the step lines of span i held in RunData.Lines and how
// many the report counts on it.
func (w *waterfall) stepsOf(i int) ([]int, int) {
	return w.steps[i], max(w.spans[i].StepCount, len(w.steps[i]))
}

// offset is a time relative to the axis start, "+1.20s".
func (w *waterfall) offset(t time.Time) string {
	return "+" + fmtMS(float64(t.Sub(w.start))/float64(time.Millisecond))
}

// spanName is a span's name for the screen.
func spanName(s *report.Span) string {
	if s.Name == "" {
		return "(unnamed)"
	}
	return safe(s.Name)
}

// spanDuration is a span's duration for the screen, "?" when unknown.
func spanDuration(s *report.Span) string {
	if _, _, ok := timing(s); !ok {
		return "?"
	}
	return fmtMS(s.DurationMS)
}
