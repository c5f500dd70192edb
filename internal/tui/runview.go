package tui

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/stepschema"
)

// selectedLine returns the ledger line under the cursor.
func (m *model) selectedLine() (*ledger.Line, int, bool) {
	if m.data == nil || m.tlCursor < 0 || m.tlCursor >= len(m.tl.rows) {
		return nil, 0, false
	}
	r := m.tl.rows[m.tlCursor]
	if r.kind != rowStep {
		return nil, 0, false
	}
	return &m.data.Lines[r.line], r.line, true
}

func (m *model) selectedSeq() (uint64, bool) {
	l, _, ok := m.selectedLine()
	if !ok {
		return 0, false
	}
	return l.Seq, true
}

func (m *model) selectSeq(seq uint64) {
	for i := range m.data.Lines {
		if m.data.Lines[i].Seq == seq {
			m.tlCursor = m.tl.rowOf[i]
			return
		}
	}
	m.tlCursor = m.tl.firstStepRow()
}

func (m *model) selectLine(i int) {
	m.tlCursor = m.tl.rowOf[i]
	m.pane = paneTimeline
	m.stepOffset = 0
	m.clampRun()
}

func (m *model) cursorToNewest() {
	if len(m.tl.order) > 0 {
		m.tlCursor = m.tl.rowOf[m.tl.order[len(m.tl.order)-1]]
	}
}

func (m *model) jumpFirstError() {
	if m.data == nil {
		m.jumpError = true
		return
	}
	if len(m.tl.errs) == 0 {
		m.setFlash("no failed steps in this run", false)
		return
	}
	m.follow = false
	m.selectLine(m.tl.errs[0])
	m.setFlash(fmt.Sprintf("error 1 of %d", len(m.tl.errs)), false)
}

// jumpError moves to the next (dir 1) or previous (dir -1) failed step in
// time order from the selected step.
func (m *model) nextError(dir int) {
	if m.data == nil || len(m.tl.errs) == 0 {
		m.setFlash("no failed steps in this run", false)
		return
	}
	cur := -1
	if _, i, ok := m.selectedLine(); ok {
		cur = m.tl.pos[i]
	}
	idx := -1
	if dir > 0 {
		idx = slices.IndexFunc(m.tl.errs, func(i int) bool { return m.tl.pos[i] > cur })
	} else {
		for k := len(m.tl.errs) - 1; k >= 0; k-- {
			if m.tl.pos[m.tl.errs[k]] < cur {
				idx = k
				break
			}
		}
	}
	if idx < 0 {
		m.setFlash("no more failed steps", false)
		return
	}
	m.follow = false
	m.selectLine(m.tl.errs[idx])
	m.setFlash(fmt.Sprintf("error %d of %d", idx+1, len(m.tl.errs)), false)
}

// moveStep moves the cursor n step rows, skipping headers.
func (m *model) moveStep(n int) {
	rows := m.tl.rows
	if len(rows) == 0 {
		return
	}
	dir := 1
	if n < 0 {
		dir, n = -1, -n
	}
	cur := m.tlCursor
	for i := cur + dir; i >= 0 && i < len(rows) && n > 0; i += dir {
		if rows[i].kind == rowStep {
			cur = i
			n--
		}
	}
	m.tlCursor = cur
	if dir < 0 {
		m.follow = false
	}
}

func (m *model) lastStepRow() int {
	for i := len(m.tl.rows) - 1; i >= 0; i-- {
		if m.tl.rows[i].kind == rowStep {
			return i
		}
	}
	return 0
}

// runHeader returns the lines above the pane: title, stop reason,
// remediation and the pane tabs.
func (m *model) runHeader() []string {
	w := m.width
	title := " run " + m.runID
	right := ""
	if m.follow {
		right += "FOLLOW "
	}
	if m.data == nil {
		return []string{m.titleBar(title, right), ""}
	}
	r := m.data.Report
	title += " · " + r.Status + " · " + fmtMS(r.DurationMS) + " · " + strconv.Itoa(r.EventCount) + " events"
	if len(r.Services) > 0 {
		title += " · " + strings.Join(r.Services, ",")
	}
	if m.live {
		right += "LIVE "
	}
	lines := []string{m.titleBar(title, right)}

	sr := r.StopReason
	lines = append(lines, m.stopLines(sr)...)
	if sr.Detail != "" {
		lines = append(lines, "     "+m.st.dim.Render(cut(oneLine(sr.Detail), w-5)))
	}
	if sr.Remediation != "" {
		fix := wrap(oneLine(sr.Remediation), w-5, 0)
		if len(fix) > maxFixLines {
			// Cut deliberately at a word, and say where the whole text is.
			const more = " … (w: all)"
			rest := strings.Join(fix[maxFixLines-1:], " ")
			last := wrap(rest, max(w-5-lipglossWidth(more), 1), 0)
			fix = append(fix[:maxFixLines-1:maxFixLines-1], last[0]+more)
		}
		for i, l := range fix {
			if i == 0 {
				lines = append(lines, m.st.key.Render("fix  ")+m.st.ok.Render(l))
			} else {
				lines = append(lines, "     "+m.st.ok.Render(l))
			}
		}
	}
	for i, wn := range r.Warnings {
		if i == maxHeaderWarnings-1 && len(r.Warnings) > maxHeaderWarnings {
			lines = append(lines, m.st.key.Render("warn ")+m.st.warn.Render(cut(fmt.Sprintf("%d more warnings (tab shows them)",
				len(r.Warnings)-i), w-5)))
			break
		}
		lines = append(lines, m.st.key.Render("warn ")+m.st.warn.Render(cut(oneLine(wn), w-5)))
	}
	tab := func(name string, p pane) string {
		if m.pane == p {
			return m.st.selected.Render("[" + name + "]")
		}
		return " " + name + " "
	}
	info := fmt.Sprintf("errors %d · traces %d", r.ErrorCount, r.TraceIDCount)
	if r.SkippedLines > 0 {
		info += fmt.Sprintf(" · skipped %d", r.SkippedLines)
	}
	if m.data.LinesFromTimeline {
		info += " · timeline page only"
	}
	if m.data.Truncated > 0 {
		info += fmt.Sprintf(" · %d lines not shown", m.data.Truncated)
	}
	info += " · started " + fmtPtrTime(r.StartedAt)
	lines = append(lines, tab("timeline", paneTimeline)+" "+tab("stages", paneStages)+" "+tab("spans", paneWaterfall)+" "+m.st.dim.Render(info))
	return lines
}

// maxFixLines bounds the remediation lines above the pane; w shows it
// whole.
const maxFixLines = 2

// stopReasonRow is the line of the stages pane where the full stop reason
// starts.
func (m *model) stopReasonRow() int {
	for i, l := range m.summaryLines() {
		if ansi.Strip(l) == stopReasonTitle {
			return i
		}
	}
	return 0
}

const stopReasonTitle = "stop reason"

// maxHeaderWarnings bounds the warning lines above the pane; the stages
// pane lists them all.
const maxHeaderWarnings = 2

// stopWhere says where the run stopped: "at <kind>" for a run that ended,
// "after <kind>" for a stalled or in_progress one (its last step reported
// fine; the next never came), and the error code.
func stopWhere(sr report.StopReason) string {
	var parts []string
	switch {
	case sr.AfterKind != "":
		parts = append(parts, "after "+safe(sr.AfterKind))
	case sr.Kind != "":
		parts = append(parts, "at "+safe(sr.Kind))
	case sr.Stage != "":
		parts = append(parts, "at stage "+safe(sr.Stage))
	}
	if sr.ErrorCode != "" {
		parts = append(parts, "code "+safe(sr.ErrorCode))
	}
	return strings.Join(parts, " ")
}

// missingStage is "stage <stage> never reported" for a stalled or
// in_progress run whose producer declared a stage that never came.
func missingStage(sr report.StopReason) string {
	if sr.AfterKind == "" || sr.Stage == "" {
		return ""
	}
	return "stage " + safe(sr.Stage) + " never reported"
}

// stopLines are "stop CATEGORY <where> (confidence, seq N)" and, when it
// does not fit there, the missing stage on a line of its own. Too long a
// <where> is cut in the middle of the line: the category and the confidence
// always stay visible.
func (m *model) stopLines(sr report.StopReason) []string {
	cat := strings.ToUpper(safe(sr.Category))
	meta := ""
	if sr.Confidence != "" {
		meta = safe(sr.Confidence) + " confidence"
	}
	seq := ""
	if sr.EventSeq != nil {
		seq = "seq " + strconv.FormatUint(*sr.EventSeq, 10)
	}
	paren := func(parts ...string) string {
		var keep []string
		for _, p := range parts {
			if p != "" {
				keep = append(keep, p)
			}
		}
		if len(keep) == 0 {
			return ""
		}
		return " (" + strings.Join(keep, ", ") + ")"
	}
	tail := paren(meta, seq)
	where, stage := stopWhere(sr), missingStage(sr)
	room := m.width - lipglossWidth("stop "+cat+" ")
	var extra []string
	if stage != "" {
		joined := where + " · " + stage
		switch {
		case lipglossWidth(joined+tail) <= room:
			where = joined
		case lipglossWidth(joined+paren(meta)) <= room:
			where, tail = joined, paren(meta)
		default:
			extra = append(extra, "     "+m.st.warn.Render(cut(stage, m.width-5)))
		}
	}
	if lipglossWidth(where+tail) > room {
		tail = paren(meta) // the seq is in the timeline too
	}
	where = cut(where, max(room-lipglossWidth(tail), 0))
	first := m.st.key.Render("stop ") + m.st.forStatus(sr.Category).Render(cat) + " " + where + tail
	return append([]string{first}, extra...)
}

func (m *model) runBodyHeight() int {
	return max(m.height-len(m.runHeader())-1, 1)
}

func (m *model) clampRun() {
	if m.data == nil {
		return
	}
	h := m.runBodyHeight()
	if m.pane == paneStages {
		m.sumOffset = clamp(m.sumOffset, 0, len(m.summaryLines())-h)
		return
	}
	if m.pane == paneWaterfall {
		m.clampWaterfall(h)
		return
	}
	n := len(m.tl.rows)
	m.tlCursor = clamp(m.tlCursor, 0, n-1)
	if n > 0 && m.tl.rows[m.tlCursor].kind != rowStep {
		// Land on the nearest step row below, else above.
		m.moveStep(1)
		if m.tl.rows[m.tlCursor].kind != rowStep {
			m.moveStep(-1)
		}
	}
	if m.tlCursor < m.tlOffset {
		m.tlOffset = m.tlCursor
		// Show the headers right above the cursor when they fit.
		for m.tlOffset > 0 && m.tl.rows[m.tlOffset-1].kind != rowStep && m.tlCursor-(m.tlOffset-1) < h {
			m.tlOffset--
		}
	}
	if m.tlCursor >= m.tlOffset+h {
		m.tlOffset = m.tlCursor - h + 1
	}
	m.tlOffset = clamp(m.tlOffset, 0, n-h)
}

func (m *model) onRunKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	h := m.runBodyHeight()
	if m.pane == paneWaterfall {
		if cmd, done := m.onWaterfallKey(msg); done {
			m.clampRun()
			return cmd
		}
	}
	switch {
	case key.Matches(msg, k.Waterfall.Toggle):
		if m.data != nil {
			m.toggleWaterfall()
		}
	case key.Matches(msg, k.Quit), key.Matches(msg, k.Back):
		m.closeRun()
		return nil
	case key.Matches(msg, k.Up):
		m.moveBy(-1)
	case key.Matches(msg, k.Down):
		m.moveBy(1)
	case key.Matches(msg, k.PageUp):
		m.moveBy(-h)
	case key.Matches(msg, k.PageDown):
		m.moveBy(h)
	case key.Matches(msg, k.Top):
		if m.pane == paneStages {
			m.sumOffset = 0
		} else {
			m.tlCursor, m.tlOffset, m.follow = m.tl.firstStepRow(), 0, false
		}
	case key.Matches(msg, k.Bottom):
		if m.pane == paneStages {
			m.sumOffset = len(m.summaryLines())
		} else {
			m.tlCursor = m.lastStepRow()
		}
	case key.Matches(msg, k.Open):
		if m.pane == paneStages {
			m.pane = paneTimeline
		} else if _, _, ok := m.selectedLine(); ok {
			m.screen, m.stepOffset = screenStep, 0
		}
	case key.Matches(msg, k.Pane):
		if m.pane == paneTimeline {
			m.pane = paneStages
		} else {
			m.pane = paneTimeline
		}
	case key.Matches(msg, k.FirstError):
		m.jumpFirstError()
	case key.Matches(msg, k.NextError):
		m.nextError(1)
	case key.Matches(msg, k.PrevError):
		m.nextError(-1)
	case key.Matches(msg, k.Diff):
		return m.openDiff()
	case key.Matches(msg, k.Why):
		// The stages pane scrolled to the whole stop reason: what the
		// header cuts (detail, remediation, evidence).
		if m.data != nil {
			m.pane, m.follow = paneStages, false
			m.sumOffset = m.stopReasonRow()
		}
	case key.Matches(msg, k.Follow):
		m.follow = !m.follow
		if m.follow {
			m.pane = paneTimeline
			m.cursorToNewest()
			m.setFlash("follow on: the newest step stays selected", false)
			m.clampRun()
			if !m.runLoading {
				return m.loadRun()
			}
			return nil
		}
		m.setFlash("follow off", false)
	case key.Matches(msg, k.Export):
		return m.export(m.runID, m.data)
	case key.Matches(msg, k.Refresh):
		if !m.runLoading {
			return m.loadRun()
		}
	}
	m.clampRun()
	return nil
}

// Widths of the waterfall columns.
const (
	wfKind = 20
	wfCode = 16
	wfDur  = 8
)

func (m *model) runView() []string {
	lines := m.runHeader()
	h := max(m.height-len(lines)-1, 1)
	switch {
	case m.data == nil && m.runErr != nil:
		for _, l := range wrap(oneLine(errText(m.runErr)), m.width, 4) {
			lines = append(lines, m.st.failed.Render(l))
		}
	case m.data == nil:
		lines = append(lines, m.st.dim.Render("  loading "+m.runID+"…"))
	case m.pane == paneWaterfall:
		lines = append(lines, m.waterfallView(h)...)
	case m.pane == paneStages:
		sum := m.summaryLines()
		end := min(m.sumOffset+h, len(sum))
		lines = append(lines, sum[min(m.sumOffset, end):end]...)
	default:
		for i := m.tlOffset; i < len(m.tl.rows) && i < m.tlOffset+h; i++ {
			lines = append(lines, m.rowView(i))
		}
	}
	for len(lines) < m.height-1 {
		lines = append(lines, "")
	}
	// Most useful first: the footer drops hints from the end, keeping
	// "? help" and "q back" (see fitHints).
	hints := "↑↓ move · enter step · e/n errors · tab stages · w why · d diff · f follow · x export · ? help · q back"
	if m.pane == paneStages {
		hints = "↑↓ scroll · tab timeline · w why · e first error · x export · ? help · q back"
	}
	if m.pane == paneWaterfall {
		hints = waterfallHints
	}
	return append(lines, m.footer(hints))
}

// stepMark is the one-cell symbol of a step's status; it carries the
// status without colours.
func stepMark(l *ledger.Line, root bool) string {
	switch {
	case root:
		return "◆"
	case l.Status == stepschema.StatusFailed:
		return "✗"
	case l.Status == stepschema.StatusCancelled:
		return "⊘"
	case l.Status == stepschema.StatusSkipped:
		return "↷"
	case l.Status == stepschema.StatusStarted:
		return "▸"
	}
	return "·"
}

func (m *model) rowView(i int) string {
	w := m.width
	r := m.tl.rows[i]
	switch r.kind {
	case rowTrace:
		name := "trace " + safe(r.traceID)
		if r.traceID == "" {
			name = "no trace context"
		}
		s := " · " + plural(r.steps, "step")
		if r.service != "" {
			s = " · " + safe(r.service) + s
		}
		if r.failed > 0 {
			s += m.st.failed.Render(fmt.Sprintf(" · %d failed", r.failed))
		}
		return "  " + m.st.header.Render("▾ "+name) + m.st.dim.Render(cut(s, max(w-len(name)-4, 0)))
	case rowSpan:
		name := safe(r.name)
		if name == "" {
			name = "(unnamed)"
		}
		s := fmt.Sprintf("    ▸ span %s · %s", strings.TrimSpace(name+" "+safe(shortID(r.spanID, 8))), plural(r.steps, "step"))
		if r.failed > 0 {
			s += fmt.Sprintf(" · %d failed", r.failed)
		}
		return m.st.dim.Render(cut(s, w))
	}
	l := &m.data.Lines[r.line]
	indent := "  "
	if r.underSpan {
		indent = "    "
	}
	root := r.line == m.tl.root
	failed := l.Status == stepschema.StatusFailed
	code := safe(l.ErrorCode)
	if code == "" {
		code = safe(l.Status)
	}
	kind := safe(l.Kind)
	dur := ""
	if l.DurationMS != nil {
		dur = fmtMS(*l.DurationMS)
	}
	fixed := 2 + len(indent) + 2 + 6 + wfKind + 1 + wfCode + 1 + wfDur + 1
	barW := w - fixed
	bar := ""
	if barW >= 6 {
		bar = m.bar(l, barW)
	}
	selected := i == m.tlCursor
	cursor := "  "
	if selected {
		cursor = "› "
	}
	seq := padLeft("#"+strconv.FormatUint(l.Seq, 10), 5) + " "
	text := indent + stepMark(l, root) + " " + seq + fit(kind, wfKind) + " " + fit(code, wfCode) + " " + padLeft(dur, wfDur) + " "
	if selected {
		return m.st.selected.Render(fit(cursor+text+bar, w))
	}
	if failed || root {
		return cursor + m.st.failed.Render(text) + m.st.barFail.Render(bar)
	}
	return cursor + m.st.forStatus(l.Status).Render(indent+stepMark(l, false)) + " " + seq + fit(kind, wfKind) + " " +
		m.st.dim.Render(fit(code, wfCode)) + " " + padLeft(dur, wfDur) + " " + m.st.bar.Render(bar)
}

// bar draws the step's [start, ts] interval on the run's time axis.
func (m *model) bar(l *ledger.Line, width int) string {
	total := float64(m.tl.end.Sub(m.tl.start))
	if total <= 0 {
		total = 1
	}
	pos := func(t float64) int { return clamp(int(t/total*float64(width)), 0, width-1) }
	a := pos(float64(lineStart(l).Sub(m.tl.start)))
	b := pos(float64(l.TS.Sub(m.tl.start)))
	cells := []rune(strings.Repeat(" ", width))
	ch := '█'
	if l.Status == stepschema.StatusFailed {
		ch = '▓'
	}
	if a == b {
		cells[a] = '│'
		if l.Status == stepschema.StatusFailed {
			cells[a] = '✗'
		}
	}
	for x := a; x <= b && a != b; x++ {
		cells[x] = ch
	}
	return string(cells)
}

// summaryLines is the stage pane: stage table, errors, resources and the
// stop reason evidence.
func (m *model) summaryLines() []string {
	if m.data == nil {
		return nil
	}
	r := m.data.Report
	w := m.width
	kindW := 22
	sizesW := max(w-2-kindW-1-5-1-5-(1+8)*3-2, 8)
	row := func(kind, n, failed, total, p95, mx, sizes string) string {
		return fit(kind, kindW) + " " + padLeft(n, 5) + " " + padLeft(failed, 5) + " " + padLeft(total, 8) + " " +
			padLeft(p95, 8) + " " + padLeft(mx, 8) + "  " + fit(sizes, sizesW)
	}
	var out []string
	if len(r.Warnings) > 0 {
		out = append(out, m.st.warn.Render(fmt.Sprintf("warnings (%d)", len(r.Warnings))))
		for _, wn := range r.Warnings {
			for i, l := range wrap(oneLine(wn), w-4, 0) {
				lead := "    "
				if i == 0 {
					lead = "  ! "
				}
				out = append(out, lead+m.st.warn.Render(l))
			}
		}
		out = append(out, "")
	}
	out = append(out, m.st.header.Render(fit(row("STAGE KIND", "N", "FAIL", "TOTAL", "P95", "MAX", "SIZES"), w)))
	for _, s := range r.Stages {
		ms := func(v float64) string {
			if s.Timed == 0 {
				return "-"
			}
			return fmtMS(v)
		}
		line := row(safe(s.Kind), strconv.Itoa(s.Count), strconv.Itoa(s.Failed), ms(s.TotalMS), ms(s.P95MS), ms(s.MaxMS), fmtSizes(s.Sizes))
		if s.Failed > 0 {
			line = m.st.failed.Render(fit("✗ "+line, w))
		} else {
			line = fit("  "+line, w)
		}
		out = append(out, line)
	}
	out = append(out, "", m.st.header.Render(fmt.Sprintf("errors (%d)", r.ErrorCount)))
	if len(r.Errors) == 0 {
		out = append(out, "  none")
	}
	for _, e := range r.Errors {
		s := fmt.Sprintf("  #%d %s %s", e.Seq, safe(e.Kind), safe(e.ErrorCode))
		if e.Recovered {
			s += " (recovered)"
		}
		out = append(out, m.st.failed.Render(cut(s, w)))
		if e.Detail != "" {
			out = append(out, m.st.dim.Render("     "+cut(oneLine(e.Detail), w-5)))
		}
	}
	if len(r.Resources) > 0 {
		out = append(out, "", m.st.header.Render("resources"))
		for _, stage := range slices.Sorted(maps.Keys(r.Resources)) {
			for _, name := range slices.Sorted(maps.Keys(r.Resources[stage])) {
				out = append(out, cut(fmt.Sprintf("  %s.%s = %s", safe(stage), safe(name), safe(strings.Join(r.Resources[stage][name], ", "))), w))
			}
		}
	}
	sr := r.StopReason
	out = append(out, "", m.st.header.Render(stopReasonTitle))
	head := "  " + safe(sr.Category)
	if where := stopWhere(sr); where != "" {
		head += " " + where
	}
	if stage := missingStage(sr); stage != "" {
		head += " · " + stage
	}
	if sr.Confidence != "" {
		head += " (" + sr.Confidence + " confidence)"
	}
	out = append(out, m.st.forStatus(sr.Category).Render(cut(head, w)))
	for _, l := range wrap(sr.Detail, w-4, 0) {
		out = append(out, "    "+l)
	}
	if sr.Remediation != "" {
		out = append(out, "  remediation:")
		for _, l := range wrap(oneLine(sr.Remediation), w-4, 0) {
			out = append(out, "    "+m.st.ok.Render(l))
		}
	}
	for _, e := range sr.Evidence {
		out = append(out, cut(fmt.Sprintf("  evidence #%d %s: %s", e.Seq, safe(e.Kind), oneLine(e.Note)), w))
	}
	out = append(out, "", m.st.dim.Render(cut(fmt.Sprintf("started %s · ended %s · ledger %s", fmtPtrTime(r.StartedAt),
		fmtPtrTime(r.EndedAt), safe(r.LedgerPath)), w)))
	return out
}

func fmtPtrTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

// plural formats a count with a noun: "1 step", "3 steps".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
