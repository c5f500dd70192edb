package tui

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/runledger/runledger/internal/ledger"
)

// base is the start time of generated runs.
var base = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func ms(f float64) *float64 { return &f }

// ln makes a ledger line; mods fill the optional fields.
func ln(run string, seq uint64, ts time.Time, kind, status string, mods ...func(*ledger.Line)) ledger.Line {
	l := ledger.Line{V: ledger.Version, RunID: run, Seq: seq, TS: ts, Kind: kind, Status: status,
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7", SpanName: "retrieve", Service: "retriever"}
	for _, m := range mods {
		m(&l)
	}
	return l
}

func span(trace, spanID, name string) func(*ledger.Line) {
	return func(l *ledger.Line) { l.TraceID, l.SpanID, l.SpanName = trace, spanID, name }
}

func fail(code, detail string) func(*ledger.Line) {
	return func(l *ledger.Line) { l.ErrorCode, l.Detail = code, detail }
}

func dur(d float64) func(*ledger.Line) { return func(l *ledger.Line) { l.DurationMS = ms(d) } }

func service(s string) func(*ledger.Line) { return func(l *ledger.Line) { l.Service = s } }

// writeRun appends lines (one run) to their ledger file under dir with the
// reference encoder, as the exporter lays them out.
func writeRun(t *testing.T, dir string, lines ...ledger.Line) string {
	t.Helper()
	p, err := ledger.FindRun(dir, lines[0].RunID)
	if err != nil {
		t.Fatal(err)
	}
	if p == "" {
		p = ledger.RunPath(dir, lines[0].TS, lines[0].RunID)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	for i := range lines {
		w.Write(ledger.Encode(&lines[i]))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return p
}

// copyFixture copies a ledger from internal/report/testdata into dir.
func copyFixture(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "report", "testdata", name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	var l ledger.Line
	if err := ledger.DecodeLine([]byte(first), &l); err != nil {
		t.Fatal(err)
	}
	p := ledger.RunPath(dir, l.TS, l.RunID)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return l.RunID
}

// harness drives a model with messages, running the commands it returns
// synchronously (there is no refresh tick: ticks are sent by the test).
type harness struct {
	t    *testing.T
	m    *model
	quit bool
}

func newHarness(t *testing.T, src Source, opts Options) *harness {
	t.Helper()
	if opts.ReportsDir == "" {
		opts.ReportsDir = filepath.Join(t.TempDir(), "out", "run_reports")
	}
	opts.RefreshInterval = -1
	r := lipgloss.NewRenderer(io.Discard)
	if !opts.NoColor {
		r.SetColorProfile(termenv.ANSI)
	}
	h := &harness{t: t, m: newModel(context.Background(), src, r, opts)}
	h.run(h.m.Init())
	return h
}

func (h *harness) run(cmd tea.Cmd) {
	h.t.Helper()
	if cmd == nil {
		return
	}
	msg := cmd()
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			h.run(c)
		}
	case tea.QuitMsg:
		h.quit = true
	default:
		h.send(msg)
	}
}

func (h *harness) send(msg tea.Msg) {
	h.t.Helper()
	_, cmd := h.m.Update(msg)
	h.run(cmd)
}

// keys sends key presses: "enter", "esc", "up", "down", "tab", "pgdown",
// "ctrl+c" by name, anything else as typed runes, one key per rune.
func (h *harness) keys(ks ...string) {
	h.t.Helper()
	for _, k := range ks {
		var msg tea.KeyMsg
		switch k {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEsc}
		case "up":
			msg = tea.KeyMsg{Type: tea.KeyUp}
		case "down":
			msg = tea.KeyMsg{Type: tea.KeyDown}
		case "tab":
			msg = tea.KeyMsg{Type: tea.KeyTab}
		case "pgdown":
			msg = tea.KeyMsg{Type: tea.KeyPgDown}
		case "ctrl+c":
			msg = tea.KeyMsg{Type: tea.KeyCtrlC}
		default:
			for _, r := range k {
				h.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
			}
			continue
		}
		h.send(msg)
	}
}

// screen returns the rendered view without escape sequences.
func (h *harness) screen() string { return ansi.Strip(h.m.View()) }

// lines returns the screen lines.
func (h *harness) lines() []string { return strings.Split(h.screen(), "\n") }

// selectedRow returns the screen line with the cursor marker.
func (h *harness) selectedRow() string {
	for _, l := range h.lines() {
		if strings.HasPrefix(l, "›") {
			return l
		}
	}
	return ""
}

func (h *harness) mustContain(subs ...string) {
	h.t.Helper()
	s := h.screen()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			h.t.Fatalf("screen lacks %q:\n%s", sub, s)
		}
	}
}

func (h *harness) mustNotContain(subs ...string) {
	h.t.Helper()
	s := h.screen()
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			h.t.Fatalf("screen has %q:\n%s", sub, s)
		}
	}
}

// checkGeometry asserts the view is exactly the terminal size.
func (h *harness) checkGeometry() {
	h.t.Helper()
	ls := strings.Split(h.m.View(), "\n")
	if len(ls) != h.m.height {
		h.t.Fatalf("view has %d lines, want %d:\n%s", len(ls), h.m.height, h.screen())
	}
	for i, l := range ls {
		if w := ansi.StringWidth(l); w != h.m.width {
			h.t.Fatalf("line %d is %d cells wide, want %d: %q", i, w, h.m.width, ansi.Strip(l))
		}
	}
}
