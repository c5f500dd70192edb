package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/runledger/runledger/internal/stepschema"
)

// The span screen: what the waterfall knows of the selected span (ids,
// parent, timing, status, trace URL) and the list of its steps; enter
// opens a step in the step pane.

// spanInfo returns the span screen's lines above the step list.
func (m *model) spanInfo(i int) []string {
	w := m.wf.w
	s := &w.spans[i]
	var out []string
	field := func(name, val string) {
		out = append(out, m.st.key.Render(fit(name, 10))+" "+cut(val, max(m.width-11, 1)))
	}
	field("span", spanName(s)+" "+safe(s.SpanID))
	field("trace id", safe(s.TraceID))
	parent := "none (a root span)"
	if s.ParentSpanID != "" {
		parent = safe(s.ParentSpanID)
		if r, ok := w.rowOf[spanKey(s.TraceID, s.ParentSpanID)]; ok {
			parent += " " + spanName(&w.spans[w.rows[r].span])
		} else {
			parent += " (not among the run's spans)"
		}
	}
	field("parent", parent)
	if s.Service != "" {
		field("service", safe(s.Service))
	}
	if a, b, ok := timing(s); ok {
		field("time", a.UTC().Format(time.RFC3339Nano)+" ("+w.offset(a)+")")
		field("duration", fmtMS(s.DurationMS)+" · ends "+w.offset(b))
	} else {
		field("time", "not known yet (the span record has not arrived)")
	}
	status := safe(s.Status)
	switch s.Status {
	case "":
		status = "not known yet"
	case spanStatusError:
		status = m.st.failed.Render("! error")
	}
	if s.StatusMessage != "" {
		status += ": " + oneLine(s.StatusMessage)
	}
	field("status", status)
	if w.crit[i] {
		field("critical", "* on the critical path of its trace")
	}
	if u := m.data.Report.TraceURLs[s.TraceID]; u != "" {
		// Whole, so that it can be copied.
		for k, l := range wrap(u, max(m.width-11, 10), 4) {
			if k == 0 {
				out = append(out, m.st.key.Render(fit("trace url", 10))+" "+m.st.info.Render(l))
			} else {
				out = append(out, strings.Repeat(" ", 11)+m.st.info.Render(l))
			}
		}
	}
	held, total := w.stepsOf(i)
	head := fmt.Sprintf("steps (%d", total)
	if w.failed[i] > 0 {
		head += fmt.Sprintf(", %d failed", w.failed[i])
	}
	head += ")"
	out = append(out, m.st.header.Render(head))
	if len(held) < total {
		why := "the rest are beyond the lines loaded"
		if m.data.LinesFromTimeline {
			why = "the report's timeline page does not hold them all"
		}
		out = append(out, m.st.warn.Render(cut(fmt.Sprintf("  showing %d of %d: %s", len(held), total, why), m.width)))
	}
	if total == 0 {
		out = append(out, m.st.dim.Render("  no step events on this span (an ancestor of spans that have some)"))
	}
	return out
}

// spanStepRow renders step k of the span's list.
func (m *model) spanStepRow(li int, selected bool) string {
	l := &m.data.Lines[li]
	w := m.wf.w
	code := safe(l.ErrorCode)
	if code == "" {
		code = safe(l.Status)
	}
	dur := ""
	if l.DurationMS != nil {
		dur = fmtMS(*l.DurationMS)
	}
	text := stepMark(l, li == w.root) + " " + padLeft("#"+strconv.FormatUint(l.Seq, 10), 6) + " " + fit(safe(l.Kind), wfKind) +
		" " + fit(code, wfCode) + " " + padLeft(dur, wfDur) + " " + padLeft(w.offset(l.TS), 9)
	switch {
	case selected:
		return m.st.selected.Render(fit("› "+text, m.width))
	case l.Status == stepschema.StatusFailed || li == w.root:
		return "  " + m.st.failed.Render(text)
	}
	return "  " + text
}

func (m *model) spanBodyHeight() int { return max(m.height-2, 1) }

// clampSpan keeps the step cursor in the list and on screen.
func (m *model) clampSpan() {
	i, ok := m.wfSelected()
	if !ok {
		return
	}
	held, _ := m.wf.w.stepsOf(i)
	m.wf.stepCursor = clamp(m.wf.stepCursor, 0, len(held)-1)
	info := len(m.spanInfo(i))
	h := m.spanBodyHeight()
	row := info + m.wf.stepCursor // the cursor's body line
	if len(held) == 0 {
		row = 0
	}
	if row < m.wf.stepOffset {
		m.wf.stepOffset = row
	}
	if row >= m.wf.stepOffset+h {
		m.wf.stepOffset = row - h + 1
	}
	m.wf.stepOffset = clamp(m.wf.stepOffset, 0, info+len(held)-h)
}

func (m *model) spanView() []string {
	i, ok := m.wfSelected()
	if !ok || m.data == nil {
		return []string{m.titleBar(" span", ""), "  no span selected"}
	}
	s := &m.wf.w.spans[i]
	status := s.Status
	if status == "" {
		status = "status unknown"
	}
	lines := []string{m.titleBar(" span "+s.Name+" · "+status+" · "+spanDuration(s), "run "+m.runID+" ")}
	info := m.spanInfo(i)
	held, _ := m.wf.w.stepsOf(i)
	h := m.spanBodyHeight()
	for b := m.wf.stepOffset; b < m.wf.stepOffset+h && b < len(info)+len(held); b++ {
		if b < len(info) {
			lines = append(lines, info[b])
			continue
		}
		k := b - len(info)
		lines = append(lines, m.spanStepRow(held[k], k == m.wf.stepCursor))
	}
	for len(lines) < m.height-1 {
		lines = append(lines, "")
	}
	return append(lines, m.footer("↑↓ step · enter open step · u trace URL · x export · ? help · q back"))
}

func (m *model) onSpanKey(msg tea.KeyMsg) tea.Cmd {
	k, wk := m.keys, m.keys.Waterfall
	armed := m.wf.armed
	m.wf.armed, m.wf.url = "", ""
	h := m.spanBodyHeight()
	switch {
	case key.Matches(msg, k.Quit), key.Matches(msg, k.Back):
		m.screen = screenRun
		m.clampRun()
		return nil
	case key.Matches(msg, k.Top):
		m.wf.stepCursor, m.wf.stepOffset = 0, 0
	case k.scroll(msg, &m.wf.stepCursor, h):
	case key.Matches(msg, k.Open):
		m.openSpanStep()
	case key.Matches(msg, wk.URL):
		m.wfShowURL()
	case key.Matches(msg, wk.OpenURL):
		if armed == "" {
			m.wfShowURL()
			break
		}
		return m.wfOpen(armed)
	case key.Matches(msg, k.Export):
		return m.export(m.runID, m.data)
	case key.Matches(msg, k.Refresh):
		if !m.runLoading {
			return m.loadRun()
		}
	}
	m.clampSpan()
	return nil
}

// openSpanStep opens the selected step of the span screen in the step
// pane.
func (m *model) openSpanStep() {
	i, ok := m.wfSelected()
	if !ok {
		return
	}
	held, _ := m.wf.w.stepsOf(i)
	if m.wf.stepCursor < 0 || m.wf.stepCursor >= len(held) {
		return
	}
	m.tlCursor = m.tl.rowOf[held[m.wf.stepCursor]]
	m.screen, m.stepOffset, m.wf.fromSpan = screenStep, 0, true
}

// onSpanStepKey handles the step pane's keys while it shows a step of the
// span screen: back returns to the span, [ and ] walk the span's steps.
// Other keys fall through to the step pane (done false).
func (m *model) onSpanStepKey(msg tea.KeyMsg) (done bool) {
	k := m.keys
	switch {
	case key.Matches(msg, k.Quit), key.Matches(msg, k.Back):
		m.screen, m.wf.fromSpan = screenSpan, false
		m.clampSpan()
	case key.Matches(msg, k.PrevStep), key.Matches(msg, k.NextStep):
		if key.Matches(msg, k.PrevStep) {
			m.wf.stepCursor--
		} else {
			m.wf.stepCursor++
		}
		m.clampSpan()
		m.openSpanStep()
	case key.Matches(msg, k.FirstError), key.Matches(msg, k.NextError), key.Matches(msg, k.PrevError):
		m.wf.fromSpan = false // the error may be on another span
		return false
	default:
		return false
	}
	return true
}
