package report

import (
	"cmp"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Waterfall layout of the Markdown report.
const (
	waterfallBar   = 40  // bar width in characters
	waterfallLabel = 30  // label width (indent and name)
	waterfallMax   = 120 // span lines before "... N more spans"
	waterfallDepth = 8   // deepest indent
)

// writeWaterfall writes the "Spans" section: one line per span in tree
// order (children under their parent, by start), indented by depth, with a
// bar on the run's time axis; spans with error status or failed steps are
// marked "!". It writes nothing when no span record is known (ledgers
// written before span records, or spans that never arrived).
func (r *Report) writeWaterfall(b *strings.Builder) {
	t0, t1, ok := r.spanWindow()
	if !ok {
		return
	}
	b.WriteString("\n## Spans\n\n")
	fmt.Fprintf(b, "%d spans; the bars span %s from %s. `!` marks an error status or failed steps.\n\n",
		len(r.Spans)+r.SpansOmitted, fmtMS(float64(t1.Sub(t0))/float64(time.Millisecond)), mdTime(t0))
	b.WriteString("```text\n")
	order := spanTree(r.Spans)
	for i, o := range order {
		if i == waterfallMax {
			fmt.Fprintf(b, "... %d more spans\n", len(order)-i+r.SpansOmitted)
			break
		}
		b.WriteString(waterfallLine(&r.Spans[o.idx], o.depth, t0, t1))
		b.WriteByte('\n')
	}
	if len(order) <= waterfallMax && r.SpansOmitted > 0 {
		fmt.Fprintf(b, "... %d more spans\n", r.SpansOmitted)
	}
	b.WriteString("```\n")
}

// spanWindow is the time axis: from the earliest span start or event to
// the latest span end or event. ok is false when no span has a start.
func (r *Report) spanWindow() (t0, t1 time.Time, ok bool) {
	for _, s := range r.Spans {
		if s.Start == nil {
			continue
		}
		if !ok || s.Start.Before(t0) {
			t0 = *s.Start
		}
		end := *s.Start
		if s.End != nil {
			end = *s.End
		}
		if !ok || end.After(t1) {
			t1 = end
		}
		ok = true
	}
	if !ok {
		return t0, t1, false
	}
	if r.StartedAt != nil && r.StartedAt.Before(t0) {
		t0 = *r.StartedAt
	}
	if r.LastEventAt != nil && r.LastEventAt.After(t1) {
		t1 = *r.LastEventAt
	}
	return t0, t1, true
}

type treeEntry struct{ idx, depth int }

// SpanParents returns, for each of spans, the index of its parent among
// them, or -1 for a span at the top of its tree: no parent, a parent that
// is not among the spans or is itself, or a repeat of an earlier span's
// trace and span ids (hostile data). The Markdown waterfall and the TUI's
// lay out their trees from it; a parent cycle is theirs to break.
func SpanParents(spans []Span) []int {
	first := make(map[spanKey]int, len(spans))
	for i, s := range spans {
		if _, dup := first[spanKey{s.TraceID, s.SpanID}]; !dup {
			first[spanKey{s.TraceID, s.SpanID}] = i
		}
	}
	parents := make([]int, len(spans))
	for i, s := range spans {
		p, ok := first[spanKey{s.TraceID, s.ParentSpanID}]
		if s.ParentSpanID == "" || !ok || p == i || first[spanKey{s.TraceID, s.SpanID}] != i {
			p = -1
		}
		parents[i] = p
	}
	return parents
}

// spanTree orders spans depth first: roots (no parent among the spans) by
// start, each followed by its children by start. Spans in a parent cycle
// (hostile data) are listed as roots once.
func spanTree(spans []Span) []treeEntry {
	children := make(map[int][]int)
	var roots []int
	for i, p := range SpanParents(spans) {
		if p < 0 {
			roots = append(roots, i)
			continue
		}
		children[p] = append(children[p], i) // spans are by start already
	}
	out := make([]treeEntry, 0, len(spans))
	seen := make([]bool, len(spans))
	var walk func(i, depth int)
	walk = func(i, depth int) {
		if seen[i] {
			return
		}
		seen[i] = true
		out = append(out, treeEntry{i, depth})
		for _, c := range children[i] {
			walk(c, depth+1)
		}
	}
	for _, i := range roots {
		walk(i, 0)
	}
	for i := range spans { // cycles: never reached from a root
		if !seen[i] {
			walk(i, 0)
		}
	}
	return out
}

func waterfallLine(s *Span, depth int, t0, t1 time.Time) string {
	label := strings.Repeat("  ", min(depth, waterfallDepth)) + waterfallName(s)
	if n := utf8.RuneCountInString(label); n > waterfallLabel {
		label = string([]rune(label)[:waterfallLabel-1]) + "…"
	} else {
		label += strings.Repeat(" ", waterfallLabel-n)
	}
	mark := " "
	if s.Status == "error" || s.FailedSteps > 0 {
		mark = "!"
	}
	bar := []byte(strings.Repeat(" ", waterfallBar))
	dur := "?"
	if s.Start != nil {
		total := float64(t1.Sub(t0))
		pos := func(t time.Time) float64 {
			if total <= 0 {
				return 0
			}
			return float64(t.Sub(t0)) / total * waterfallBar
		}
		from := int(math.Floor(pos(*s.Start)))
		to := from + 1
		if s.End != nil {
			to = max(to, int(math.Ceil(pos(*s.End))))
			dur = fmtMS(s.DurationMS)
		}
		for i := max(0, from); i < min(to, waterfallBar); i++ {
			bar[i] = '='
		}
	}
	steps := ""
	switch {
	case s.StepCount == 1:
		steps = "1 step"
	case s.StepCount > 1:
		steps = fmt.Sprintf("%d steps", s.StepCount)
	}
	if s.FailedSteps > 0 {
		steps += fmt.Sprintf(", %d failed", s.FailedSteps)
	}
	if s.Status == "error" && s.StatusMessage != "" {
		steps = strings.TrimPrefix(steps+"; "+truncate(s.StatusMessage, 60), "; ")
	}
	return strings.TrimRight(fmt.Sprintf("%s %s|%s| %8s  %s", label, mark, bar, dur, MarkdownCode(steps)), " ")
}

// waterfallName is a span's label: its name, or its id when it has none.
func waterfallName(s *Span) string { return MarkdownCode(cmp.Or(s.Name, s.SpanID)) }
