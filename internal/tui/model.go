package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/runledger/runledger/internal/runindex"
)

// Default terminal size until the first tea.WindowSizeMsg.
const (
	defaultWidth  = 80
	defaultHeight = 24
)

type screen int

const (
	screenList screen = iota
	screenRun
	screenStep
	screenSpan     // a span of the waterfall and its steps (waterfall.go)
	screenInsights // insights across runs (insightsview.go)
	screenDiff     // the open run against its baseline (insightsview.go)
)

type pane int

const (
	paneTimeline pane = iota
	paneStages
	paneWaterfall // the span waterfall (waterfall.go)
)

// Messages.
type (
	tickMsg time.Time
	runsMsg struct {
		statuses []string // of the query the runs answer
		list     RunList
		err      error
	}
	runMsg struct {
		gen   int
		runID string
		data  *RunData
		err   error
	}
	exportMsg struct {
		runID string
		paths []string
		err   error
	}
)

// model is the bubbletea model of the terminal UI. It is used through a
// pointer; commands never touch it, they only carry values back as messages.
type model struct {
	ctx      context.Context
	src      Source
	outDir   string
	interval time.Duration
	st       styles
	keys     keyMap
	now      func() time.Time

	width, height int
	screen        screen
	showHelp      bool
	helpOffset    int
	flash         string // one-shot message in the footer, cleared by the next key
	flashErr      bool

	// run list
	runs           []runindex.Entry
	total          int      // runs in the index
	matched        int      // runs matching loadedStatuses; more than len(runs) when cut
	loadedStatuses []string // the statuses runs were asked for
	visible        []runindex.Entry
	listCursor     int
	listOffset     int
	listErr        error
	listLoading    bool
	listLoaded     bool
	filterInput    textinput.Model
	filtering      bool
	statusCycle    int // index into statusCycleValues

	// run view
	runID      string
	gen        int // request generation of the open run
	data       *RunData
	runErr     error
	runLoading bool
	live       bool
	follow     bool
	jumpError  bool // jump to the first error once the run is loaded
	pane       pane
	tl         timeline
	tlCursor   int // row index in tl.rows (always a step row when there are steps)
	tlOffset   int
	sumOffset  int

	// step pane
	stepOffset int

	// span waterfall pane and span screen
	wf wfState

	// insights and diff screens
	page pageState
}

// statusCycleValues are the quick status filters `s` cycles through.
var statusCycleValues = []string{"", "failed", "in_progress", "stalled", "cancelled", "completed"}

func newModel(ctx context.Context, src Source, r *lipgloss.Renderer, opts Options) *model {
	ti := textinput.New()
	ti.Prompt = "/"
	ti.Placeholder = "status:failed service:retriever kind:ann text"
	ti.CharLimit = 256
	ti.Cursor.SetMode(cursor.CursorStatic)
	ti.PromptStyle = r.NewStyle().Bold(true)
	ti.TextStyle = r.NewStyle()
	ti.PlaceholderStyle = r.NewStyle().Faint(true)
	ti.Cursor.Style = r.NewStyle().Reverse(true)
	ti.Cursor.TextStyle = r.NewStyle()
	return &model{
		ctx:         ctx,
		src:         src,
		outDir:      opts.ReportsDir,
		interval:    opts.RefreshInterval,
		st:          newStyles(r, opts.NoColor),
		keys:        newKeyMap(),
		now:         time.Now,
		width:       defaultWidth,
		height:      defaultHeight,
		filterInput: ti,
		listLoading: true,
	}
}

// Init implements tea.Model: load the run list and start the refresh tick.
func (m *model) Init() tea.Cmd {
	return tea.Batch(m.loadRuns(), m.tick())
}

func (m *model) tick() tea.Cmd {
	if m.interval <= 0 {
		return nil
	}
	return tea.Tick(m.interval, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// loadRuns reads the run list for the current filter's statuses.
func (m *model) loadRuns() tea.Cmd {
	ctx, src, q := m.ctx, m.src, m.listQuery()
	m.listLoading = true
	return func() tea.Msg {
		list, err := src.Runs(ctx, q)
		return runsMsg{statuses: q.Statuses, list: list, err: err}
	}
}

func (m *model) loadRun() tea.Cmd {
	ctx, src, id, gen := m.ctx, m.src, m.runID, m.gen
	m.runLoading = true
	return func() tea.Msg {
		data, err := src.Run(ctx, id)
		return runMsg{gen: gen, runID: id, data: data, err: err}
	}
}

// Update implements tea.Model.
func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = max(msg.Width, 20), max(msg.Height, 5)
		m.filterInput.Width = max(m.width-12, 10)
		m.clampAll()
	case tickMsg:
		return m, m.onTick()
	case runsMsg:
		return m, m.onRuns(msg)
	case runMsg:
		m.onRun(msg)
	case exportMsg:
		if msg.err != nil {
			m.setFlash(fmt.Sprintf("export %s failed: %v", msg.runID, msg.err), true)
		} else {
			m.setFlash("exported "+strings.Join(msg.paths, " and "), false)
		}
	case wfOpenMsg:
		m.onWaterfallOpened(msg)
	case insightsMsg:
		m.onInsights(msg)
	case diffMsg:
		m.onDiff(msg)
	case tea.KeyMsg:
		return m, m.onKey(msg)
	case tea.MouseMsg:
		m.onMouse(msg)
	}
	return m, nil
}

func (m *model) setFlash(s string, isErr bool) { m.flash, m.flashErr = s, isErr }

// onTick refreshes the run list, and the open run while it is live or
// followed, then schedules the next tick.
func (m *model) onTick() tea.Cmd {
	var cmds []tea.Cmd
	if !m.listLoading {
		cmds = append(cmds, m.loadRuns())
	}
	if m.screen != screenList && m.runID != "" && !m.runLoading && (m.live || m.follow || m.data == nil) {
		cmds = append(cmds, m.loadRun())
	}
	cmds = append(cmds, m.tick())
	return tea.Batch(cmds...)
}

// onRuns takes a loaded run list, and asks again when the filter's
// statuses changed while it was loading.
func (m *model) onRuns(msg runsMsg) tea.Cmd {
	m.listLoading = false
	if !slices.Equal(msg.statuses, m.listQuery().Statuses) {
		return m.loadRuns()
	}
	m.listErr = msg.err
	if msg.list.Runs == nil && msg.err != nil {
		return nil
	}
	m.listLoaded = true
	m.runs, m.total, m.matched, m.loadedStatuses = msg.list.Runs, msg.list.Total, msg.list.Matched, msg.statuses
	m.applyFilter()
	return nil
}

func (m *model) onRun(msg runMsg) {
	if msg.gen != m.gen || msg.runID != m.runID {
		return // a run that is no longer open
	}
	m.runLoading = false
	if msg.err != nil {
		m.runErr = msg.err
		if m.data != nil {
			m.setFlash("reload failed: "+msg.err.Error(), true)
		}
		return
	}
	first := m.data == nil
	keepSeq, hadSel := m.selectedSeq()
	m.runErr = nil
	m.data = msg.data
	m.live = isLive(msg.data)
	m.tl = buildTimeline(msg.data)
	switch {
	case first && m.jumpError:
		m.jumpError = false
		m.jumpFirstError()
	case m.follow && m.screen == screenRun:
		m.cursorToNewest()
	case hadSel:
		m.selectSeq(keepSeq)
	default:
		m.tlCursor = m.tl.firstStepRow()
	}
	m.clampAll()
}

// onKey handles a key press.
func (m *model) onKey(msg tea.KeyMsg) tea.Cmd {
	if key.Matches(msg, m.keys.ForceQuit) {
		return tea.Quit
	}
	m.flash = ""
	if m.showHelp {
		switch {
		case key.Matches(msg, m.keys.Down):
			m.helpOffset++
		case key.Matches(msg, m.keys.Up):
			m.helpOffset = max(m.helpOffset-1, 0)
		default:
			m.showHelp = false
		}
		return nil
	}
	if m.filtering {
		return m.onFilterKey(msg)
	}
	if key.Matches(msg, m.keys.Help) {
		m.showHelp, m.helpOffset = true, 0
		return nil
	}
	switch m.screen {
	case screenList:
		return m.onListKey(msg)
	case screenRun:
		return m.onRunKey(msg)
	case screenStep:
		return m.onStepKey(msg)
	case screenSpan:
		return m.onSpanKey(msg)
	case screenInsights, screenDiff:
		return m.onPageKey(msg)
	}
	return nil
}

func (m *model) onMouse(msg tea.MouseMsg) {
	if msg.Action != tea.MouseActionPress {
		return
	}
	switch msg.Button {
	case tea.MouseButtonWheelUp:
		m.moveBy(-3)
	case tea.MouseButtonWheelDown:
		m.moveBy(3)
	case tea.MouseButtonLeft:
		if m.screen == screenList && !m.showHelp {
			if i := m.listOffset + msg.Y - listHeaderLines; msg.Y >= listHeaderLines && i < len(m.visible) {
				m.listCursor = i
			}
		}
	}
}

// moveBy moves the cursor (or scrolls) on the current screen.
func (m *model) moveBy(n int) {
	switch m.screen {
	case screenList:
		m.listCursor += n
	case screenRun:
		if m.pane == paneStages {
			m.sumOffset += n
		} else if m.pane == paneWaterfall {
			m.wfMove(n)
		} else {
			m.moveStep(n)
		}
	case screenStep:
		m.stepOffset += n
	case screenSpan:
		m.wf.stepCursor += n
	case screenInsights, screenDiff:
		m.page.offset += n
	}
	m.clampAll()
}

// openRun switches to the run view of runID and loads it.
func (m *model) openRun(runID string, jumpError bool) tea.Cmd {
	m.screen = screenRun
	m.runID = runID
	m.gen++
	m.data, m.runErr, m.live = nil, nil, false
	m.tl = timeline{}
	m.tlCursor, m.tlOffset, m.sumOffset, m.stepOffset = 0, 0, 0, 0
	m.follow = false
	m.pane = paneTimeline
	m.jumpError = jumpError
	m.wf.reset()
	return m.loadRun()
}

func (m *model) closeRun() {
	m.screen = screenList
	m.runID = ""
	m.gen++
	m.data, m.runErr = nil, nil
	m.tl = timeline{}
	m.wf.reset()
	m.follow, m.live, m.runLoading = false, false, false
}

// View implements tea.Model. The result is exactly the terminal height,
// every line at most the terminal width.
func (m *model) View() string {
	var lines []string
	switch {
	case m.showHelp:
		lines = m.helpView()
	case m.screen == screenList:
		lines = m.listView()
	case m.screen == screenRun:
		lines = m.runView()
	case m.screen == screenSpan:
		lines = m.spanView()
	case m.screen == screenInsights, m.screen == screenDiff:
		lines = m.pageView()
	default:
		lines = m.stepView()
	}
	if len(lines) > m.height {
		lines = lines[:m.height]
	}
	for len(lines) < m.height {
		lines = append(lines, "")
	}
	for i, l := range lines {
		lines[i] = fit(l, m.width)
	}
	return strings.Join(lines, "\n")
}

// footer is the last line: the flash message, or key hints. Hints are
// " · "-separated, most useful first; the last two (help, back or quit)
// always stay, and when the line is too narrow the ones before them go,
// whole, rather than the line being cut.
func (m *model) footer(hints string) string {
	if m.flash != "" {
		if m.flashErr {
			return m.st.failed.Render(cut(oneLine(m.flash), m.width))
		}
		return m.st.info.Render(cut(oneLine(m.flash), m.width))
	}
	return m.st.dim.Render(cut(fitHints(hints, m.width), m.width))
}

// fitHints drops whole hints before the last two until hints fit width.
func fitHints(hints string, width int) string {
	parts := strings.Split(hints, " · ")
	for lipglossWidth(strings.Join(parts, " · ")) > width && len(parts) > 2 {
		parts = slices.Delete(parts, len(parts)-3, len(parts)-2)
	}
	return strings.Join(parts, " · ")
}

// titleBar renders the reverse-video first line.
func (m *model) titleBar(left, right string) string {
	w := m.width
	// Titles carry run ids, kinds and statuses: escape them all.
	left, right = safe(left), safe(right)
	right = cut(right, w/2)
	left = cut(left, w-lipglossWidth(right)-1)
	pad := w - lipglossWidth(left) - lipglossWidth(right)
	return m.st.title.Render(left + strings.Repeat(" ", max(pad, 1)) + right)
}

func lipglossWidth(s string) int { return lipgloss.Width(s) }

// errText renders an error for the body of a screen.
func errText(err error) string {
	if errors.Is(err, ErrRunNotFound) {
		return "run not found: " + err.Error()
	}
	return "error: " + err.Error()
}

func (m *model) clampAll() {
	m.clampList()
	m.clampRun()
	m.clampStep()
	if m.screen == screenSpan {
		m.clampSpan()
	}
	m.clampPage()
}

func clamp(v, lo, hi int) int {
	if hi < lo {
		return lo
	}
	return min(max(v, lo), hi)
}
