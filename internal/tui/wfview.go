package tui

import (
	"fmt"
	"net/url"
	"os/exec"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// wfKeyMap are the keys of the span waterfall (the run view's third pane)
// and its span screen.
type wfKeyMap struct {
	Toggle, URL, OpenURL key.Binding
}

func newWaterfallKeys() wfKeyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return wfKeyMap{
		Toggle:  b("v", "span waterfall ⇄ step timeline", "v"),
		URL:     b("u", "print the span's trace URL", "u"),
		OpenURL: b("o", "after u: open it in the browser", "o"),
	}
}

// wfState is the waterfall's part of the model: the laid-out spans and
// where the user is in them.
type wfState struct {
	w              *waterfall
	cursor, offset int    // rows of w
	key            string // the selected span's trace/span key, kept across reloads
	// The span screen: the selected span's steps.
	stepCursor, stepOffset int
	// fromSpan is set while the step pane shows a step opened from the
	// span screen (back returns there).
	fromSpan bool
	// url is the trace URL the last key (u) printed, shown whole above
	// the footer; armed is set too when o may open it.
	url, armed string
	// findOpener finds the program that opens URLs (xdg-open, open); nil
	// means systemOpener.
	findOpener func() (open func(string) error, name string)
}

// wfOpenMsg reports the start of the URL opener.
type wfOpenMsg struct {
	url, tool string
	err       error
}

// systemOpener returns a function that starts xdg-open (or macOS open) on
// a URL without waiting for it, and the program's name; nil when neither
// is on PATH.
func systemOpener() (func(string) error, string) {
	for _, name := range []string{"xdg-open", "open"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		return func(u string) error {
			// No shell, no terminal: the opener must not draw over the UI
			// or read its keys.
			cmd := exec.Command(p, u)
			if err := cmd.Start(); err != nil {
				return fmt.Errorf("start %s: %w", name, err)
			}
			go func() { _ = cmd.Wait() }()
			return nil
		}, name
	}
	return nil, ""
}

func (s *wfState) opener() (func(string) error, string) {
	if s.findOpener != nil {
		return s.findOpener()
	}
	return systemOpener()
}

// reset forgets the waterfall of the previous run.
func (s *wfState) reset() { *s = wfState{findOpener: s.findOpener} }

// wfEnsure builds the waterfall of the loaded run when it is not built yet
// (or the run was reloaded), keeping the selected span.
func (m *model) wfEnsure() *waterfall {
	if m.data == nil {
		return nil
	}
	if m.wf.w == nil || m.wf.w.data != m.data {
		m.wf.w = buildWaterfall(m.data, &m.tl)
		if r, ok := m.wf.w.rowOf[m.wf.key]; ok {
			m.wf.cursor = r
		}
	}
	return m.wf.w
}

// wfSelected returns the span row under the cursor.
func (m *model) wfSelected() (int, bool) {
	w := m.wfEnsure()
	if w == nil || m.wf.cursor < 0 || m.wf.cursor >= len(w.rows) || w.rows[m.wf.cursor].header {
		return 0, false
	}
	return w.rows[m.wf.cursor].span, true
}

// toggleWaterfall switches between the step timeline and the span
// waterfall; entering the waterfall selects the span of the selected step.
func (m *model) toggleWaterfall() {
	if m.pane == paneWaterfall {
		m.pane = paneTimeline
		return
	}
	m.pane, m.follow = paneWaterfall, false
	w := m.wfEnsure()
	if l, _, ok := m.selectedLine(); ok && w != nil {
		if r, ok := w.rowOf[spanKey(l.TraceID, l.SpanID)]; ok {
			m.wf.cursor = r
		}
	}
}

// wfMove moves the cursor n span rows, skipping trace headers.
func (m *model) wfMove(n int) {
	w := m.wfEnsure()
	if w == nil || len(w.rows) == 0 {
		return
	}
	dir := 1
	if n < 0 {
		dir, n = -1, -n
	}
	cur := m.wf.cursor
	for i := cur + dir; i >= 0 && i < len(w.rows) && n > 0; i += dir {
		if !w.rows[i].header {
			cur = i
			n--
		}
	}
	m.wf.cursor = cur
}

// clampWaterfall keeps the cursor on a span row and on screen (h rows for
// the waterfall, its axis line included).
func (m *model) clampWaterfall(h int) {
	w := m.wfEnsure()
	if w == nil {
		return
	}
	h = max(h-1-len(m.wfURLLines()), 1) // the axis line, a printed URL
	n := len(w.rows)
	m.wf.cursor = clamp(m.wf.cursor, 0, n-1)
	if n > 0 && w.rows[m.wf.cursor].header {
		m.wfMove(1)
		if w.rows[m.wf.cursor].header {
			m.wfMove(-1)
		}
	}
	if m.wf.cursor < m.wf.offset {
		m.wf.offset = m.wf.cursor
		if m.wf.offset > 0 && w.rows[m.wf.offset-1].header && h > 1 {
			m.wf.offset-- // the trace header right above its first span
		}
	}
	if m.wf.cursor >= m.wf.offset+h {
		m.wf.offset = m.wf.cursor - h + 1
	}
	m.wf.offset = clamp(m.wf.offset, 0, n-h)
	if i, ok := m.wfSelected(); ok {
		m.wf.key = spanKey(w.spans[i].TraceID, w.spans[i].SpanID)
	}
}

// onWaterfallKey handles the keys the waterfall pane gives a meaning of
// its own; done is false for the run view's keys (back, tab, w, x, ...).
func (m *model) onWaterfallKey(msg tea.KeyMsg) (cmd tea.Cmd, done bool) {
	k, wk := m.keys, m.keys.Waterfall
	armed := m.wf.armed
	m.wf.armed, m.wf.url = "", ""
	w := m.wfEnsure()
	if w == nil {
		return nil, false
	}
	switch {
	case key.Matches(msg, k.Top):
		m.wf.cursor, m.wf.offset = 0, 0
	case key.Matches(msg, k.Bottom):
		m.wf.cursor = len(w.rows) - 1
	case key.Matches(msg, k.Pane):
		m.pane = paneStages
	case key.Matches(msg, k.Open):
		if _, ok := m.wfSelected(); ok {
			m.screen, m.wf.stepCursor, m.wf.stepOffset = screenSpan, 0, 0
		}
	case key.Matches(msg, k.FirstError):
		m.wfJumpFlagged(0)
	case key.Matches(msg, k.NextError):
		m.wfJumpFlagged(1)
	case key.Matches(msg, k.PrevError):
		m.wfJumpFlagged(-1)
	case key.Matches(msg, wk.URL):
		m.wfShowURL()
	case key.Matches(msg, wk.OpenURL):
		if armed == "" {
			m.wfShowURL() // o alone only prints: opening takes u, then o
			break
		}
		return m.wfOpen(armed), true
	default:
		return nil, false
	}
	return nil, true
}

// wfJumpFlagged selects the first (dir 0), next (1) or previous (-1)
// failed span: an error status or failed steps.
func (m *model) wfJumpFlagged(dir int) {
	fr := m.wf.w.flaggedRows
	if len(fr) == 0 {
		m.setFlash("no failed spans in this run", false)
		return
	}
	idx := 0
	switch dir {
	case 1:
		idx = -1
		for k, r := range fr {
			if r > m.wf.cursor {
				idx = k
				break
			}
		}
	case -1:
		idx = -1
		for k := len(fr) - 1; k >= 0; k-- {
			if fr[k] < m.wf.cursor {
				idx = k
				break
			}
		}
	}
	if idx < 0 {
		m.setFlash("no more failed spans", false)
		return
	}
	m.wf.cursor = fr[idx]
	m.setFlash(fmt.Sprintf("failed span %d of %d", idx+1, len(fr)), false)
}

// wfTraceURL returns the trace URL of the selected span's trace.
func (m *model) wfTraceURL() (string, string, bool) {
	i, ok := m.wfSelected()
	if !ok || m.data.Report == nil {
		return "", "", false
	}
	id := m.wf.w.spans[i].TraceID
	u, ok := m.data.Report.TraceURLs[id]
	return id, u, ok && u != ""
}

// wfShowURL prints the selected span's trace URL in the status line and
// arms o to open it.
func (m *model) wfShowURL() {
	id, u, ok := m.wfTraceURL()
	switch {
	case id == "" && !ok:
		m.setFlash("no span selected", false)
		return
	case !ok:
		m.setFlash("no trace URL for trace "+safe(shortID(id, 16))+": configure a trace_url template", false)
		return
	}
	m.wf.url = u
	msg := "trace URL of " + safe(shortID(id, 8)) + " above"
	if _, tool := m.wf.opener(); tool != "" && openable(u) {
		msg += " · o opens it (" + tool + ")"
		m.wf.armed = u
	}
	m.setFlash(msg, false)
}

// openable reports whether u is a URL to hand to the opener: http or https
// only (a template or a server could put anything in the report).
func openable(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != "" &&
		!strings.ContainsAny(u, " \t\r\n")
}

// wfOpen starts the opener on u in the background; the UI never waits.
func (m *model) wfOpen(u string) tea.Cmd {
	open, tool := m.wf.opener()
	if open == nil {
		m.wf.url = u
		m.setFlash("no xdg-open or open on PATH: copy the URL above", false)
		return nil
	}
	m.setFlash("opening the trace URL with "+tool+"…", false)
	return func() tea.Msg { return wfOpenMsg{url: u, tool: tool, err: open(u)} }
}

func (m *model) onWaterfallOpened(msg wfOpenMsg) {
	if msg.err != nil {
		m.setFlash(msg.tool+" failed: "+msg.err.Error(), true)
		return
	}
	m.setFlash("opened the trace URL with "+msg.tool, false)
}

// waterfallView renders h lines of the waterfall pane.
func (m *model) waterfallView(h int) []string {
	w := m.wfEnsure()
	if w == nil {
		return nil
	}
	if len(w.rows) == 0 {
		return []string{
			m.st.dim.Render(cut("  no spans in this run's report", m.width)),
			m.st.dim.Render(cut("  (span records come with the steps' spans; older ledgers have none)", m.width)),
			m.st.dim.Render(cut("  v shows the steps grouped by span", m.width)),
		}
	}
	url := m.wfURLLines()
	out := []string{m.wfAxis()}
	for r := m.wf.offset; r < len(w.rows) && len(out) < h-len(url); r++ {
		out = append(out, m.wfRowView(r))
	}
	if len(url) > 0 {
		for len(out) < h-len(url) {
			out = append(out, "")
		}
		out = append(out, url...)
	}
	return out
}

// wfURLLines is the printed trace URL, whole (wrapped, at most 4 lines),
// for the bottom of the waterfall.
func (m *model) wfURLLines() []string {
	if m.wf.url == "" {
		return nil
	}
	var out []string
	for _, l := range wrap(m.wf.url, max(m.width-2, 1), 4) {
		out = append(out, "  "+m.st.info.Render(l))
	}
	return out
}

// wfAxis is the column header with the run's time axis: 0 on the left,
// the middle and the whole run on the right.
func (m *model) wfAxis() string {
	w := m.wf.w
	head := fit("     SPAN", 4+1+m.wfNameWidth()) + " " + padLeft("DUR", wfDurW) + " "
	bw := m.wfBarWidth()
	if bw == 0 {
		return m.st.dim.Render(head)
	}
	total := fmtMS(float64(w.end.Sub(w.start)) / 1e6)
	mid := fmtMS(float64(w.end.Sub(w.start)) / 2e6)
	axis := []rune(strings.Repeat("·", bw))
	put := func(at int, s string) {
		for i, r := range []rune(s) {
			if at+i >= 0 && at+i < bw {
				axis[at+i] = r
			}
		}
	}
	put(0, "0")
	if bw >= 24 {
		put(bw/2-len(mid)/2, mid)
	}
	put(bw-len(total), total)
	return m.st.dim.Render(head + string(axis))
}

// wfRowView renders row r: a trace header, or a span with its marks
// (! failed, * critical path), indented name, duration and bar.
func (m *model) wfRowView(r int) string {
	w := m.wf.w
	row := w.rows[r]
	if row.header {
		tr := &w.traces[row.trace]
		name := "trace " + safe(tr.id)
		if tr.id == "" {
			name = "no trace context"
		}
		s := " · " + plural(tr.spans, "span")
		if tr.service != "" {
			s = " · " + safe(tr.service) + s
		}
		if tr.flagged > 0 {
			s += fmt.Sprintf(" · %d failed", tr.flagged)
		}
		return "  " + m.st.header.Render(cut("▾ "+name, m.width-2)) + m.st.dim.Render(cut(s, max(m.width-2-lipglossWidth("▾ "+name), 0)))
	}
	s := &w.spans[row.span]
	nameW := m.wfNameWidth()
	flag, crit := " ", " "
	if w.flagged[row.span] {
		flag = "!"
	}
	if w.crit[row.span] {
		crit = "*"
	}
	indent := strings.Repeat(" ", min(row.depth, wfMaxIndent, nameW/2))
	name := fit(indent+spanName(s), nameW)
	dur := padLeft(spanDuration(s), wfDurW)
	bar, styled := "", ""
	if bw := m.wfBarWidth(); bw > 0 {
		bar, styled = w.bar(m, r, bw)
		if _, _, ok := timing(s); !ok && len(w.steps[row.span]) == 0 {
			bar = fit("  (timing not known yet)", bw)
			styled = m.st.dim.Render(bar)
		}
	}
	if r == m.wf.cursor {
		return m.st.selected.Render(fit("› "+flag+crit+" "+name+" "+dur+" "+bar, m.width))
	}
	text := name + " " + dur + " "
	switch {
	case w.flagged[row.span]:
		text = m.st.failed.Render(text)
	case s.Status == "":
		text = m.st.dim.Render(text)
	}
	return "  " + m.st.failed.Render(flag) + m.st.warn.Render(crit) + " " + text + styled
}

// waterfallHints are the footer's key hints on the waterfall pane.
const waterfallHints = "↑↓ span · enter steps · n/N failed · u trace URL · v timeline · tab stages · x export · ? help · q back"
