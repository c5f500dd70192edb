package tui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/runindex"
	"github.com/runledger/runledger/internal/termsafe"
)

// listHeaderLines is the number of lines above the first run row: title,
// filter line, column header.
const listHeaderLines = 3

// runFilter is a parsed filter expression: "status:failed,stalled
// stop:timeout code:http_503 service:retriever kind:ann free text". Every
// part must match; words without a prefix match the run id, status, stop
// reason, services or kinds.
type runFilter struct {
	statuses, stops, codes, services, kinds, terms []string
}

func parseFilter(s string) runFilter {
	var f runFilter
	for tok := range strings.FieldsSeq(strings.ToLower(s)) {
		name, val, ok := strings.Cut(tok, ":")
		if !ok || val == "" {
			f.terms = append(f.terms, tok)
			continue
		}
		vals := strings.FieldsFunc(val, func(r rune) bool { return r == ',' })
		switch name {
		case "status", "st":
			f.statuses = append(f.statuses, vals...)
		case "stop":
			f.stops = append(f.stops, vals...)
		case "code", "error_code":
			f.codes = append(f.codes, vals...)
		case "service", "svc":
			f.services = append(f.services, vals...)
		case "kind", "stage":
			f.kinds = append(f.kinds, vals...)
		default:
			f.terms = append(f.terms, tok)
		}
	}
	return f
}

func (f runFilter) empty() bool {
	return len(f.statuses)+len(f.stops)+len(f.codes)+len(f.services)+len(f.kinds)+len(f.terms) == 0
}

func anyMatch(vals []string, pred func(string) bool) bool {
	for _, v := range vals {
		if pred(v) {
			return true
		}
	}
	return false
}

// match reports whether a run passes the filter. Status and stop category
// values match by prefix ("fail" matches failed, "time" timeout), error
// codes, services and free text by substring, kinds by stage, prefix or
// whole kind. Stop words sift the loaded runs only (the newest
// MaxListRuns), unlike status words, which the index is asked for.
func (f runFilter) match(e *runindex.Entry) bool {
	status := strings.ToLower(e.Status)
	if len(f.statuses) > 0 && !anyMatch(f.statuses, func(s string) bool { return strings.HasPrefix(status, s) }) {
		return false
	}
	stop := strings.ToLower(e.StopCategory)
	if len(f.stops) > 0 && !anyMatch(f.stops, func(s string) bool { return strings.HasPrefix(stop, s) }) {
		return false
	}
	code := strings.ToLower(e.StopErrorCode)
	if len(f.codes) > 0 && !anyMatch(f.codes, func(s string) bool { return strings.Contains(code, s) }) {
		return false
	}
	for _, svc := range f.services {
		if !anyMatch(e.Services, func(s string) bool { return strings.Contains(strings.ToLower(s), svc) }) {
			return false
		}
	}
	for _, k := range f.kinds {
		if !anyMatch(e.Kinds, func(s string) bool {
			s = strings.ToLower(s)
			return s == k || report.Stage(s) == k || strings.HasPrefix(s, k)
		}) {
			return false
		}
	}
	if len(f.terms) > 0 {
		hay := strings.ToLower(e.RunID + " " + e.Status + " " + e.StopText() + " " + strings.Join(e.Services, " ") + " " +
			strings.Join(e.Kinds, " "))
		for _, t := range f.terms {
			if !strings.Contains(hay, t) {
				return false
			}
		}
	}
	return true
}

// applyFilter recomputes the visible runs and keeps the selected run
// selected when it is still visible.
func (m *model) applyFilter() {
	sel := ""
	if m.listCursor >= 0 && m.listCursor < len(m.visible) {
		sel = m.visible[m.listCursor].RunID
	}
	f := parseFilter(m.filterInput.Value())
	quick := statusCycleValues[m.statusCycle]
	m.visible = m.visible[:0:0]
	for i := range m.runs {
		e := &m.runs[i]
		if quick != "" && e.Status != quick {
			continue
		}
		if f.match(e) {
			m.visible = append(m.visible, *e)
		}
	}
	if sel != "" {
		for i := range m.visible {
			if m.visible[i].RunID == sel {
				m.listCursor = i
				break
			}
		}
	}
	m.clampList()
}

// refilter applies a changed filter and, when it changed the statuses the
// index is asked for, reloads the list: the list may hold only the newest
// MaxListRuns runs, so status filters must not only sift those.
func (m *model) refilter() tea.Cmd {
	m.applyFilter()
	if m.listLoading || slices.Equal(m.listQuery().Statuses, m.loadedStatuses) {
		return nil // a load in flight for other statuses is redone by onRuns
	}
	return m.loadRuns()
}

// listQuery is what the run list asks the index for: the statuses that the
// quick status filter and the filter's status: words allow. Everything else
// is matched on the loaded runs.
func (m *model) listQuery() runindex.Query {
	f := parseFilter(m.filterInput.Value())
	quick := statusCycleValues[m.statusCycle]
	var statuses []string
	for _, st := range statusCycleValues[1:] {
		if quick != "" && st != quick {
			continue
		}
		if len(f.statuses) > 0 && !anyMatch(f.statuses, func(p string) bool { return strings.HasPrefix(st, p) }) {
			continue
		}
		statuses = append(statuses, st)
	}
	if len(statuses) == len(statusCycleValues)-1 || len(statuses) == 0 {
		// Every status, or none (the filter matches nothing anyway).
		return runindex.Query{}
	}
	return runindex.Query{Statuses: statuses}
}

func (m *model) filterActive() bool {
	return m.statusCycle != 0 || strings.TrimSpace(m.filterInput.Value()) != ""
}

func (m *model) listBodyHeight() int { return max(m.height-listHeaderLines-1, 1) }

func (m *model) clampList() {
	m.listCursor = clamp(m.listCursor, 0, len(m.visible)-1)
	h := m.listBodyHeight()
	if m.listCursor < m.listOffset {
		m.listOffset = m.listCursor
	}
	if m.listCursor >= m.listOffset+h {
		m.listOffset = m.listCursor - h + 1
	}
	m.listOffset = clamp(m.listOffset, 0, len(m.visible)-h)
}

func (m *model) selectedRun() (runindex.Entry, bool) {
	if m.listCursor < 0 || m.listCursor >= len(m.visible) {
		return runindex.Entry{}, false
	}
	return m.visible[m.listCursor], true
}

func (m *model) onFilterKey(msg tea.KeyMsg) tea.Cmd {
	switch msg.Type {
	case tea.KeyEnter:
		m.filtering = false
		m.filterInput.Blur()
		return nil
	case tea.KeyEsc:
		m.filtering = false
		m.filterInput.Blur()
		m.filterInput.SetValue("")
		return m.refilter()
	case tea.KeyUp, tea.KeyDown:
		m.filtering = false
		m.filterInput.Blur()
		return m.onListKey(msg)
	}
	var cmd tea.Cmd
	m.filterInput, cmd = m.filterInput.Update(msg)
	return tea.Batch(cmd, m.refilter())
}

func (m *model) onListKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit
	case msg.Type == tea.KeyEsc:
		if m.filterActive() {
			m.filterInput.SetValue("")
			m.statusCycle = 0
			return m.refilter()
		}
		return tea.Quit
	case key.Matches(msg, k.Up):
		m.listCursor--
	case key.Matches(msg, k.Down):
		m.listCursor++
	case key.Matches(msg, k.PageUp):
		m.listCursor -= m.listBodyHeight()
	case key.Matches(msg, k.PageDown):
		m.listCursor += m.listBodyHeight()
	case key.Matches(msg, k.Top):
		m.listCursor = 0
	case key.Matches(msg, k.Bottom):
		m.listCursor = len(m.visible) - 1
	case key.Matches(msg, k.Open), key.Matches(msg, k.FirstError):
		if e, ok := m.selectedRun(); ok {
			return m.openRun(e.RunID, key.Matches(msg, k.FirstError))
		}
	case key.Matches(msg, k.Filter):
		m.filtering = true
		return m.filterInput.Focus()
	case key.Matches(msg, k.Status):
		m.statusCycle = (m.statusCycle + 1) % len(statusCycleValues)
		return m.refilter()
	case key.Matches(msg, k.Insights):
		return m.openInsights()
	case key.Matches(msg, k.Export):
		if e, ok := m.selectedRun(); ok {
			return m.export(e.RunID, nil)
		}
	case key.Matches(msg, k.Refresh):
		if !m.listLoading {
			return m.loadRuns()
		}
	}
	m.clampList()
	return nil
}

// Column widths of the run list.
const (
	colStatus  = 11
	colStarted = 14
	colDur     = 8
	colEvents  = 6
	// maxStopCol bounds the stop column: "timeout retrieval/deadline_exceeded"
	// fits, longer producer codes keep their start and end.
	maxStopCol = 36
	// minStopCol is the narrowest stop column shown: "error embed/oom".
	minStopCol = 16
)

func (m *model) listView() []string {
	w := m.width
	count := fmt.Sprintf("%d runs", m.total)
	switch {
	case m.filterActive():
		count = fmt.Sprintf("%d of %d runs", len(m.visible), m.total)
		if m.matched > len(m.runs) {
			count += fmt.Sprintf(" (newest %d read)", len(m.runs))
		}
	case m.matched > len(m.runs):
		count = fmt.Sprintf("newest %d of %d runs", len(m.runs), m.total)
	}
	live := "live"
	if m.interval <= 0 {
		live = "static"
	}
	lines := []string{m.titleBar(" runledger · "+m.src.Name(), count+" · "+live+" ")}

	// Filter line.
	switch {
	case m.filtering:
		lines = append(lines, m.filterInput.View())
	case m.filterActive():
		parts := []string{}
		if q := statusCycleValues[m.statusCycle]; q != "" {
			parts = append(parts, "status="+q)
		}
		if v := strings.TrimSpace(m.filterInput.Value()); v != "" {
			parts = append(parts, "/"+v)
		}
		lines = append(lines, m.st.warn.Render("filter: "+strings.Join(parts, " "))+m.st.dim.Render("  (esc clears)"))
	default:
		lines = append(lines, m.st.dim.Render("/ filter · s status · enter open · e first error · ? help"))
	}

	// Column header.
	// The run column shows the longest id on screen whole when it can,
	// leaving the services at least 6 cells (a ULID fits at 80 columns);
	// longer ids keep their start and end. The services get up to 12 cells
	// first, then the stop reason what it needs when the terminal has
	// room for it (not at 80 columns), and the run column the rest.
	rest := w - 3 - colStatus - colStarted - colDur - colEvents - 5
	longest, longestStop := 0, 0
	for i := m.listOffset; i < len(m.visible) && i < m.listOffset+m.listBodyHeight(); i++ {
		longest = max(longest, lipglossWidth(safe(m.visible[i].RunID)))
		longestStop = max(longestStop, lipglossWidth(safe(m.visible[i].StopText())))
	}
	idW := clamp(longest, 12, max(rest-6, 12))
	svcW := clamp(rest-idW, 0, 12)
	stopW := min(max(longestStop, len("STOP")), maxStopCol, max(rest-idW-svcW-1, 0))
	if stopW < min(longestStop, minStopCol) {
		stopW = 0 // a clipped category is noise: no column
	}
	stopCol := func(s string) string { return "" }
	if stopW > 0 {
		stopCol = func(s string) string { return fit(termsafe.Clip(s, stopW), stopW) + " " }
		idW = max(idW, rest-svcW-stopW-1)
	} else {
		idW = max(idW, rest-svcW)
	}
	hdr := "   " + fit("STATUS", colStatus) + " " + fit("RUN", idW) + " " + stopCol("STOP") +
		fit("STARTED UTC", colStarted) + " " + padLeft("DUR", colDur) + " " + padLeft("EVENTS", colEvents) + " " +
		fit("SERVICES", svcW)
	lines = append(lines, m.st.header.Render(fit(hdr, w)))

	h := m.listBodyHeight()
	switch {
	case !m.listLoaded && m.listErr != nil:
		for _, l := range wrap(oneLine(errText(m.listErr)), w, 4) {
			lines = append(lines, m.st.failed.Render(l))
		}
	case !m.listLoaded:
		lines = append(lines, m.st.dim.Render("  reading runs…"))
	case len(m.visible) == 0 && len(m.runs) == 0:
		lines = append(lines, m.st.dim.Render("  no runs yet in "+safe(m.src.Name())+" (refreshing every second)"))
	case len(m.visible) == 0:
		lines = append(lines, m.st.dim.Render("  no run matches the filter"))
	}
	now := m.now()
	for i := m.listOffset; i < len(m.visible) && i < m.listOffset+h; i++ {
		e := &m.visible[i]
		dur := "-"
		switch {
		case e.EndedAt != nil:
			dur = fmtMS(float64(e.EndedAt.Sub(e.StartedAt)) / 1e6)
		case e.Status == report.StatusInProgress:
			dur = fmtMS(float64(now.Sub(e.StartedAt)) / 1e6)
		case !e.LastEventAt.IsZero():
			dur = fmtMS(float64(e.LastEventAt.Sub(e.StartedAt)) / 1e6)
		}
		mark := " "
		if e.Status == report.StatusFailed {
			mark = "✗"
		}
		cells := func() string {
			return fit(termsafe.Clip(safe(e.RunID), idW), idW) + " " + stopCol(safe(e.StopText())) +
				fit(fmtTime(e.StartedAt), colStarted) + " " +
				padLeft(dur, colDur) + " " + padLeft(fmt.Sprint(e.EventCount), colEvents) + " " +
				fit(safe(strings.Join(e.Services, ",")), svcW)
		}
		if i == m.listCursor {
			lines = append(lines, m.st.selected.Render(fit("›"+mark+" "+fit(safe(e.Status), colStatus)+" "+cells(), w)))
			continue
		}
		lines = append(lines, " "+m.st.failed.Render(mark)+" "+m.st.forStatus(e.Status).Render(fit(safe(e.Status), colStatus))+" "+cells())
	}
	for len(lines) < listHeaderLines+h {
		lines = append(lines, "")
	}
	if m.listErr != nil && m.listLoaded && m.flash == "" {
		lines = append(lines, m.st.failed.Render(cut("refresh: "+oneLine(m.listErr.Error()), w)))
	} else {
		lines = append(lines, m.footer("↑↓ move · enter open · / filter · s status · i insights · x export · ? help · q quit"))
	}
	return lines
}

// padLeft right-aligns s in width cells.
func padLeft(s string, width int) string {
	s = cut(s, width)
	if n := width - lipglossWidth(s); n > 0 {
		return strings.Repeat(" ", n) + s
	}
	return s
}
