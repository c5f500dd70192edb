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

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/stepschema"
)

// stepLines renders every field of a ledger line: ids, timing, sizes,
// resources, attributes and the full detail text.
func (m *model) stepLines(l *ledger.Line, idx int) []string {
	w := m.width
	var out []string
	field := func(name, val string) {
		if val == "" {
			return
		}
		for i, s := range wrap(val, max(w-11, 10), 0) {
			if i == 0 {
				out = append(out, m.st.key.Render(fit(name, 10))+" "+s)
			} else {
				out = append(out, strings.Repeat(" ", 11)+s)
			}
		}
	}
	status := safe(l.Status)
	if l.Status == stepschema.StatusFailed {
		status = m.st.failed.Render("✗ failed")
	}
	if idx == m.tl.root {
		status += m.st.failed.Render("  ◆ stop reason")
	}
	field("kind", l.Kind)
	out = append(out, m.st.key.Render(fit("status", 10))+" "+status)
	field("error code", l.ErrorCode)
	field("seq", fmt.Sprintf("%d  (step %d of %d in time order)", l.Seq, m.tl.pos[idx]+1, len(m.tl.order)))
	rel := ""
	if m.data.Report != nil && m.data.Report.StartedAt != nil {
		rel = "  (+" + fmtMS(float64(l.TS.Sub(*m.data.Report.StartedAt))/float64(time.Millisecond)) + ")"
	}
	field("time", l.TS.UTC().Format(time.RFC3339Nano)+rel)
	if l.DurationMS != nil {
		field("duration", fmtMS(*l.DurationMS)+"  ("+strconv.FormatFloat(*l.DurationMS, 'f', -1, 64)+" ms)")
	}
	field("service", l.Service)
	field("trace id", l.TraceID)
	span := strings.TrimSpace(l.SpanID + " " + l.SpanName)
	field("span", span)
	field("event id", l.EventID)
	section := func(title string, keys []string, val func(string) string) {
		if len(keys) == 0 {
			return
		}
		out = append(out, m.st.header.Render(title))
		kw := 4
		for _, k := range keys {
			kw = max(kw, lipglossWidth(safe(k)))
		}
		kw = min(kw, w/3)
		for _, k := range keys {
			for i, s := range wrap(val(k), max(w-kw-3, 10), 0) {
				if i == 0 {
					out = append(out, "  "+fit(safe(k), kw)+" "+s)
				} else {
					out = append(out, strings.Repeat(" ", kw+3)+s)
				}
			}
		}
	}
	section("sizes", slices.Sorted(maps.Keys(l.Sizes)), func(k string) string {
		return strconv.FormatFloat(l.Sizes[k], 'f', -1, 64)
	})
	section("resources", slices.Sorted(maps.Keys(l.Resources)), func(k string) string { return l.Resources[k] })
	section("attributes", slices.Sorted(maps.Keys(l.Attrs)), func(k string) string { return fmtValue(l.Attrs[k]) })
	if l.Detail != "" {
		out = append(out, m.st.header.Render("detail"))
		for _, s := range wrap(l.Detail, max(w-2, 10), 0) {
			out = append(out, "  "+s)
		}
	}
	return out
}

func (m *model) stepBodyHeight() int { return max(m.height-2, 1) }

func (m *model) clampStep() {
	if m.screen != screenStep {
		return
	}
	l, idx, ok := m.selectedLine()
	if !ok {
		m.stepOffset = 0
		return
	}
	m.stepOffset = clamp(m.stepOffset, 0, len(m.stepLines(l, idx))-m.stepBodyHeight())
}

func (m *model) onStepKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	h := m.stepBodyHeight()
	if m.wf.fromSpan && m.onSpanStepKey(msg) {
		return nil
	}
	switch {
	case key.Matches(msg, k.Quit), key.Matches(msg, k.Back):
		m.screen = screenRun
		m.clampRun()
		return nil
	case k.scroll(msg, &m.stepOffset, h):
	case key.Matches(msg, k.PrevStep):
		m.moveStep(-1)
		m.stepOffset = 0
	case key.Matches(msg, k.NextStep):
		m.moveStep(1)
		m.stepOffset = 0
	case key.Matches(msg, k.FirstError):
		m.jumpFirstError()
	case key.Matches(msg, k.NextError):
		m.nextError(1)
	case key.Matches(msg, k.PrevError):
		m.nextError(-1)
	case key.Matches(msg, k.Export):
		return m.export(m.runID, m.data)
	}
	m.clampRun()
	m.clampStep()
	return nil
}

func (m *model) stepView() []string {
	l, idx, ok := m.selectedLine()
	if !ok {
		return []string{m.titleBar(" step", ""), "  no step selected"}
	}
	title := fmt.Sprintf(" step #%d · %s · %s", l.Seq, l.Kind, l.Status)
	right := fmt.Sprintf("run %s ", m.runID)
	lines := []string{m.titleBar(title, right)}
	body := m.stepLines(l, idx)
	h := m.stepBodyHeight()
	end := min(m.stepOffset+h, len(body))
	lines = append(lines, body[min(m.stepOffset, end):end]...)
	for len(lines) < m.height-1 {
		lines = append(lines, "")
	}
	return append(lines, m.footer("↑↓ scroll · [ ] prev/next step · e/n errors · x export · ? help · q back"))
}
