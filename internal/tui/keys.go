package tui

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// keyMap holds every key binding; the help screen is generated from it.
type keyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
	Open, Back, Quit, ForceQuit, Help       key.Binding
	Filter, Status, Refresh                 key.Binding
	Pane, FirstError, NextError, PrevError  key.Binding
	Follow, Export, PrevStep, NextStep      key.Binding
	Why, Insights, Diff, Window             key.Binding
	Waterfall                               wfKeyMap
}

func newKeyMap() keyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return keyMap{
		Up:         b("↑/k", "move up", "up", "k"),
		Down:       b("↓/j", "move down", "down", "j"),
		PageUp:     b("pgup/ctrl+u", "page up", "pgup", "ctrl+u", "ctrl+b"),
		PageDown:   b("pgdn/ctrl+d", "page down", "pgdown", "ctrl+d", "ctrl+f", " "),
		Top:        b("g/home", "first", "g", "home"),
		Bottom:     b("G/end", "last", "G", "end"),
		Open:       b("enter/→", "open run / step", "enter", "right", "l"),
		Back:       b("esc/←", "back; clears a filter", "esc", "left", "h", "backspace"),
		Quit:       b("q", "back; quit on the list", "q"),
		ForceQuit:  b("ctrl+c", "quit", "ctrl+c"),
		Help:       b("?", "toggle help", "?"),
		Filter:     b("/", "filter the runs", "/"),
		Status:     b("s", "cycle status filter", "s"),
		Refresh:    b("r", "reload now", "r"),
		Pane:       b("tab", "timeline ⇄ stage table", "tab", "t"),
		FirstError: b("e", "jump to the first error", "e"),
		NextError:  b("n/N", "next / previous error", "n"),
		PrevError:  b("N", "previous error", "N"),
		Follow:     b("f", "follow a live run", "f"),
		Export:     b("x", "export JSON+Markdown", "x"),
		PrevStep:   b("[", "previous step", "["),
		NextStep:   b("]", "next step", "]"),
		Why:        b("w", "why: the whole stop reason", "w"),
		Insights:   b("i", "insights across runs", "i"),
		Diff:       b("d", "diff against its baseline run", "d"),
		Window:     b("t", "cycle window 24h/7d/30d/1h", "t"),
		Waterfall:  newWaterfallKeys(),
	}
}

// helpSections groups the bindings for the help screen.
func (k keyMap) helpSections() []struct {
	title string
	keys  []key.Binding
} {
	return []struct {
		title string
		keys  []key.Binding
	}{
		{"everywhere", []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Help, k.Quit, k.Back, k.ForceQuit}},
		{"run list", []key.Binding{k.Open, k.Filter, k.Status, k.FirstError, k.Insights, k.Export, k.Refresh}},
		{"run view", []key.Binding{k.Open, k.Pane, k.Why, k.Diff, k.FirstError, k.NextError, k.Follow, k.Export, k.Refresh}},
		{"step pane", []key.Binding{k.PrevStep, k.NextStep, k.FirstError, k.Export}},
		{"span waterfall", []key.Binding{k.Waterfall.Toggle, k.Open, k.NextError, k.Waterfall.URL, k.Waterfall.OpenURL}},
		{"insights", []key.Binding{k.Window, k.Refresh}},
	}
}

// scroll moves *pos for the movement keys (one row, a page of page rows,
// first, last; callers clamp) and reports whether msg was one of them.
func (k keyMap) scroll(msg tea.KeyMsg, pos *int, page int) bool {
	switch {
	case key.Matches(msg, k.Up):
		*pos--
	case key.Matches(msg, k.Down):
		*pos++
	case key.Matches(msg, k.PageUp):
		*pos -= page
	case key.Matches(msg, k.PageDown):
		*pos += page
	case key.Matches(msg, k.Top):
		*pos = 0
	case key.Matches(msg, k.Bottom):
		*pos = 1 << 30
	default:
		return false
	}
	return true
}
