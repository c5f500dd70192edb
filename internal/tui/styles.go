package tui

import (
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/stepschema"
)

// styles are the lipgloss styles of one renderer. Plain ANSI colours are
// used (no adaptive colours, which would query the terminal), and every
// state a colour shows is also spelled out in text, so the screen reads the
// same with NO_COLOR.
type styles struct {
	r        *lipgloss.Renderer
	title    lipgloss.Style
	header   lipgloss.Style
	dim      lipgloss.Style
	selected lipgloss.Style
	failed   lipgloss.Style
	warn     lipgloss.Style
	ok       lipgloss.Style
	info     lipgloss.Style
	stalled  lipgloss.Style
	key      lipgloss.Style
	bar      lipgloss.Style
	barFail  lipgloss.Style
	status   map[string]lipgloss.Style
}

// newStyles builds the styles on r. noColor forces the ASCII profile (no
// escape sequences at all); otherwise r's profile applies, which termenv
// already sets to ASCII when NO_COLOR is set in the environment.
func newStyles(r *lipgloss.Renderer, noColor bool) styles {
	if noColor {
		r.SetColorProfile(termenv.Ascii)
	}
	c := func(s string) lipgloss.Color { return lipgloss.Color(s) }
	st := styles{
		r:        r,
		title:    r.NewStyle().Bold(true).Reverse(true),
		header:   r.NewStyle().Bold(true).Underline(true),
		dim:      r.NewStyle().Faint(true),
		selected: r.NewStyle().Reverse(true),
		failed:   r.NewStyle().Foreground(c("1")).Bold(true),
		warn:     r.NewStyle().Foreground(c("3")),
		ok:       r.NewStyle().Foreground(c("2")),
		info:     r.NewStyle().Foreground(c("6")),
		stalled:  r.NewStyle().Foreground(c("5")),
		key:      r.NewStyle().Bold(true),
		bar:      r.NewStyle().Foreground(c("4")),
		barFail:  r.NewStyle().Foreground(c("1")),
	}
	st.status = map[string]lipgloss.Style{
		report.StatusCompleted:   st.ok,
		report.StatusFailed:      st.failed,
		report.StatusCancelled:   st.warn,
		report.StatusInProgress:  st.info,
		report.StatusStalled:     st.stalled,
		report.CategoryError:     st.failed,
		report.CategoryTimeout:   st.failed,
		stepschema.StatusOK:      st.ok,
		stepschema.StatusSkipped: st.dim,
		stepschema.StatusStarted: st.info,
	}
	return st
}

// forStatus styles a run status, step status or stop category.
func (s styles) forStatus(status string) lipgloss.Style {
	if st, ok := s.status[status]; ok {
		return st
	}
	return s.r.NewStyle()
}
