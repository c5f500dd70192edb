package tui

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/runledger/runledger/internal/insights"
)

// insightsWindows are the windows `t` cycles through on the insights
// screen; the first is the default (the route's own default).
var insightsWindows = []string{"24h", "7d", "30d", "1h"}

// Messages of the insights and diff screens.
type (
	insightsMsg struct {
		gen    int
		window string
		data   *insights.Insights
		err    error
	}
	diffMsg struct {
		gen   int
		runID string
		data  *insights.RunDiff
		err   error
	}
)

// pageState is a read-only, scrolled screen: the insights across runs or
// the diff of the open run against its baseline.
type pageState struct {
	back    screen // where esc returns to
	gen     int    // request generation; answers of an older one are dropped
	offset  int
	loading bool
	err     error

	window int // index into insightsWindows
	in     *insights.Insights
	diff   *insights.RunDiff
}

func (m *model) openInsights() tea.Cmd {
	m.page.back, m.screen = m.screen, screenInsights
	m.page.offset, m.page.in, m.page.err = 0, nil, nil
	return m.loadInsights()
}

func (m *model) loadInsights() tea.Cmd {
	m.page.gen++
	m.page.loading = true
	ctx, src, gen, window := m.ctx, m.src, m.page.gen, insightsWindows[m.page.window]
	return func() tea.Msg {
		in, err := src.Insights(ctx, window)
		return insightsMsg{gen: gen, window: window, data: in, err: err}
	}
}

func (m *model) openDiff() tea.Cmd {
	m.page.back, m.screen = m.screen, screenDiff
	m.page.offset, m.page.diff, m.page.err = 0, nil, nil
	return m.loadDiff()
}

func (m *model) loadDiff() tea.Cmd {
	m.page.gen++
	m.page.loading = true
	ctx, src, gen, id := m.ctx, m.src, m.page.gen, m.runID
	return func() tea.Msg {
		d, err := src.Diff(ctx, id)
		return diffMsg{gen: gen, runID: id, data: d, err: err}
	}
}

func (m *model) onInsights(msg insightsMsg) {
	if msg.gen != m.page.gen {
		return
	}
	m.page.loading, m.page.err = false, msg.err
	if msg.err == nil {
		m.page.in = msg.data
	}
	m.clampPage()
}

func (m *model) onDiff(msg diffMsg) {
	if msg.gen != m.page.gen || msg.runID != m.runID {
		return
	}
	m.page.loading, m.page.err = false, msg.err
	if msg.err == nil {
		m.page.diff = msg.data
	}
	m.clampPage()
}

func (m *model) onPageKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	h := m.pageBodyHeight()
	switch {
	case key.Matches(msg, k.Quit), key.Matches(msg, k.Back):
		m.screen = m.page.back
		m.page.gen++ // an answer still on its way is not wanted any more
		m.clampAll()
		return nil
	case k.scroll(msg, &m.page.offset, h):
	case m.screen == screenInsights && key.Matches(msg, k.Window):
		m.page.window = (m.page.window + 1) % len(insightsWindows)
		m.page.offset = 0
		return m.loadInsights()
	case key.Matches(msg, k.Refresh):
		if m.screen == screenInsights {
			return m.loadInsights()
		}
		return m.loadDiff()
	}
	m.clampPage()
	return nil
}

func (m *model) pageBodyHeight() int { return max(m.height-2, 1) }

func (m *model) clampPage() {
	if m.screen != screenInsights && m.screen != screenDiff {
		return
	}
	m.page.offset = clamp(m.page.offset, 0, len(m.pageLines())-m.pageBodyHeight())
}

// pageLines is the body of the insights or diff screen.
func (m *model) pageLines() []string {
	switch {
	case m.page.err != nil:
		return wrap(oneLine(errText(m.page.err)), m.width, 6)
	case m.screen == screenInsights && m.page.in != nil:
		return m.insightsLines(m.page.in)
	case m.screen == screenDiff && m.page.diff != nil:
		return m.diffLines(m.page.diff)
	}
	return []string{m.st.dim.Render("  loading…")}
}

func (m *model) pageView() []string {
	var title, right, hints string
	if m.screen == screenInsights {
		title = " insights · last " + insightsWindows[m.page.window]
		if in := m.page.in; in != nil {
			right = fmt.Sprintf("%d runs · %d failing ", in.Runs, failing(in))
		}
		hints = "↑↓ scroll · t window 24h/7d/30d/1h · r reload · ? help · q back"
	} else {
		title = " diff · run " + m.runID
		if d := m.page.diff; d != nil {
			title = " diff · " + d.A + " → baseline " + d.B
		}
		hints = "↑↓ scroll · r reload · ? help · q back"
	}
	if m.page.loading {
		right = "loading… " + right
	}
	lines := []string{m.titleBar(title, right)}
	body := m.pageLines()
	h := m.pageBodyHeight()
	end := min(m.page.offset+h, len(body))
	lines = append(lines, body[min(m.page.offset, end):end]...)
	for len(lines) < m.height-1 {
		lines = append(lines, "")
	}
	return append(lines, m.footer(hints))
}

// failing counts the runs that did not complete or are still going.
func failing(in *insights.Insights) int {
	n := 0
	for st, c := range in.ByStatus {
		if st == "failed" || st == "stalled" || st == "cancelled" {
			n += c
		}
	}
	return n
}

// counts renders {"failed": 3, "completed": 9} as "completed 9 · failed 3",
// largest first.
func counts(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int { return m[b] - m[a] })
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, safe(k)+" "+strconv.Itoa(m[k]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " · ")
}

func pctText(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" }

// insightsLines lays out an insights answer: top causes, stage failure
// rates, differences and regressions, each a short table in 80 columns.
func (m *model) insightsLines(in *insights.Insights) []string {
	w := m.width
	out := []string{
		m.st.key.Render("runs  ") + counts(in.ByStatus),
		m.st.key.Render("stops ") + counts(in.ByCategory),
	}
	if in.Runs == 0 {
		return append(out, "", m.st.dim.Render("  no runs in this window; t widens it"))
	}
	section := func(title string, empty string) bool {
		out = append(out, "", m.st.header.Render(title))
		if empty != "" {
			out = append(out, m.st.dim.Render("  "+empty))
			return false
		}
		return true
	}
	if section("top causes", emptyIf(len(in.TopCauses) == 0, "no failing runs")) {
		nameW := max(w-33, 16)
		out = append(out, m.st.dim.Render(fit("  stage / kind / code", nameW+2)+fmt.Sprintf("  %4s %6s  %s", "runs", "share", "last seen")))
		for _, c := range in.TopCauses {
			name := c.Stage
			if c.Kind != "" && c.Kind != c.Stage {
				name += " / " + c.Kind
			}
			name += " / " + orDash(c.ErrorCode)
			out = append(out, "  "+m.st.failed.Render(fit(safe(name), nameW))+
				fmt.Sprintf("  %4d %6s  %s", c.Runs, pctText(c.Share), fmtTime(c.LastSeen)))
			if len(c.ExampleRuns) > 0 {
				out = append(out, m.st.dim.Render("    e.g. "+safe(strings.Join(c.ExampleRuns, ", "))))
			}
			for i, l := range wrap(oneLine(c.Remediation), max(w-6, 10), 2) {
				lead := "      "
				if i == 0 {
					lead = "    → "
				}
				out = append(out, lead+l)
			}
		}
	}
	if section("stages", emptyIf(len(in.Stages) == 0, "no steps")) {
		kindW := max(w-44, 12)
		out = append(out, m.st.dim.Render(fit("  kind", kindW+2)+"    runs  failed    rate     p50     p95"))
		for _, s := range in.Stages {
			rate := fmt.Sprintf("%7s", pctText(s.FailureRate))
			if s.FailedRuns > 0 {
				rate = m.st.failed.Render(rate)
			}
			out = append(out, "  "+fit(safe(s.Kind), kindW)+fmt.Sprintf("  %6d  %6d ", s.Runs, s.FailedRuns)+rate+
				fmt.Sprintf(" %7s %7s", msOrDash(s.P50MS), msOrDash(s.P95MS)))
		}
	}
	if section("what failing runs have in common", emptyIf(len(in.Differences) == 0, "nothing stands out (values need 3+ runs)")) {
		kvW := max(w-38, 16)
		out = append(out, m.st.dim.Render(fit("  key = value", kvW+2)+" failing   rate  others   lift"))
		for _, d := range in.Differences {
			out = append(out, "  "+fit(safe(d.Key+" = "+d.Value), kvW)+
				fmt.Sprintf(" %3d/%-4d %6s  %6s %5.1fx", d.FailingRuns, d.Runs, pctText(d.FailureRate), pctText(d.BaselineFailureRate), d.Lift))
		}
	}
	if len(in.Regressions) > 0 {
		section("regressions against the previous window", "")
		for _, r := range in.Regressions {
			line := fmt.Sprintf("  %s failure %s (was %s), p95 %s (was %s)", safe(r.Kind), pctText(r.FailureRate),
				pctText(r.PreviousFailureRate), fmtMS(r.P95MS), fmtMS(r.PreviousP95MS))
			out = append(out, m.st.warn.Render(line))
			if r.Note != "" {
				out = append(out, m.st.dim.Render("    "+safe(oneLine(r.Note))))
			}
		}
	}
	if in.Unreadable > 0 {
		out = append(out, "", m.st.warn.Render(fmt.Sprintf("  %d runs could not be read and are left out", in.Unreadable)))
	}
	return out
}

// diffLines lays out a run diff: the first divergence, then the stages,
// resources and sizes that differ.
func (m *model) diffLines(d *insights.RunDiff) []string {
	w := m.width
	out := []string{m.st.key.Render("a ") + safe(d.A) + m.st.dim.Render("  (this run)"),
		m.st.key.Render("b ") + safe(d.B) + m.st.dim.Render("  (baseline: newest completed run of its service most alike)")}
	if d.FirstDivergence == nil && len(d.Stages) == 0 && len(d.ResourceChanges) == 0 && len(d.SizeChanges) == 0 {
		return append(out, "", m.st.ok.Render("  no differences"))
	}
	if fd := d.FirstDivergence; fd != nil {
		out = append(out, "", m.st.header.Render("first divergence"))
		for _, l := range wrap(oneLine(fmt.Sprintf("seq %d / %d: %s", fd.SeqA, fd.SeqB, fd.Note)), max(w-2, 10), 3) {
			out = append(out, "  "+m.st.failed.Render(l))
		}
	}
	if len(d.Stages) > 0 {
		// "  kind  " + two sides of 23 cells + a delta of 8.
		kindW := max(w-62, 10)
		sideHead := func(name string) string { return fmt.Sprintf("%5s %-9s %7s", name+" n", "status", "ms") }
		out = append(out, "", m.st.header.Render("stages"),
			m.st.dim.Render(fit("  kind", kindW+2)+"  "+sideHead("a:")+"  "+sideHead("b:")+fmt.Sprintf(" %7s", "Δ ms")))
		for _, s := range d.Stages {
			side := func(v insights.StageSide) string {
				return fmt.Sprintf("%5d ", v.Count) + m.st.forStatus(v.Status).Render(fit(safe(orDash(v.Status)), 9)) +
					fmt.Sprintf(" %7s", msOrDash(v.DurationMS))
			}
			out = append(out, "  "+fit(safe(s.Kind), kindW)+"  "+side(s.A)+"  "+side(s.B)+fmt.Sprintf(" %+7.0f", s.DurationDeltaMS))
		}
	}
	changes := func(title string, cs []insights.ValueChange) {
		if len(cs) == 0 {
			return
		}
		out = append(out, "", m.st.header.Render(title))
		for _, c := range cs {
			where := c.Stage + c.Kind
			out = append(out, "  "+safe(where+" "+c.Key+": "+orDash(c.A)+" → "+orDash(c.B)))
		}
	}
	changes("resource changes", d.ResourceChanges)
	changes("size changes", d.SizeChanges)
	return out
}

// msOrDash is fmtMS, or "-" for a stage without durations.
func msOrDash(ms float64) string {
	if ms == 0 {
		return "-"
	}
	return fmtMS(ms)
}

func emptyIf(cond bool, msg string) string {
	if cond {
		return msg
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
