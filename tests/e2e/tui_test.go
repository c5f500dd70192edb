package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/creack/pty"

	"github.com/runledger/runledger/internal/ledger"
)

// ptyScreen collects everything the program writes to the pseudo-terminal.
type ptyScreen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *ptyScreen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *ptyScreen) raw() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// text is the output with escape sequences removed.
func (s *ptyScreen) text() string { return ansi.Strip(s.raw()) }

// colourSGR matches an SGR sequence that sets a foreground or background
// colour.
var colourSGR = regexp.MustCompile(`\x1b\[(?:[0-9;]*;)?(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9;]*)?m`)

// TestTUIShowsStopReason runs `runledger tui` in an 80x24 pseudo-terminal
// with NO_COLOR=1 over a ledger holding a failed run, opens the run and
// checks that the screen shows why it stopped, then quits with q.
func TestTUIShowsStopReason(t *testing.T) {
	cli := os.Getenv("RUNLEDGER_CLI")
	if cli == "" {
		t.Skip("RUNLEDGER_CLI not set: run the end-to-end suite with `make test`")
	}
	work := t.TempDir()
	ledgerDir := filepath.Join(work, "ledgers")
	const runID = "r-tui-ann-missing"
	t0 := time.Date(2026, 11, 25, 9, 1, 0, 0, time.UTC)
	trace := "4bf92f3577b34da6a3ce929d0e0e4736"
	ms := func(f float64) *float64 { return &f }
	lines := []ledger.Line{
		{RunID: runID, Seq: 1, TS: t0, Kind: "run.start", Status: "ok", TraceID: trace, SpanID: "2dc670e29aac434b",
			SpanName: "retrieve", Service: "retriever"},
		{RunID: runID, Seq: 2, TS: t0.Add(120 * time.Millisecond), Kind: "embed.vllm", Status: "ok", DurationMS: ms(118.4),
			Sizes: map[string]float64{"vectors": 1}, Resources: map[string]string{"model": "BAAI/bge-large-en-v1.5"},
			TraceID: trace, SpanID: "4e85f9363dc87573", SpanName: "embed", Service: "retriever"},
		{RunID: runID, Seq: 3, TS: t0.Add(time.Second), Kind: "ann.faiss.search", Status: "failed", ErrorCode: "index_not_found",
			Detail: "faiss: could not open /data/index/code.faiss for reading", DurationMS: ms(1000),
			Resources: map[string]string{"index_path": "/data/index/code.faiss"},
			TraceID:   trace, SpanID: "ad43dd9502e3ae90", SpanName: "faiss.search", Service: "retriever"},
		{RunID: runID, Seq: 4, TS: t0.Add(time.Second + 5*time.Millisecond), Kind: "retrieval.error", Status: "failed",
			ErrorCode: "index_not_found", Detail: "retrieval failed", TraceID: trace, SpanID: "2dc670e29aac434b",
			SpanName: "retrieve", Service: "retriever"},
		{RunID: runID, Seq: 5, TS: t0.Add(time.Second + 6*time.Millisecond), Kind: "run.end", Status: "failed",
			TraceID: trace, SpanID: "2dc670e29aac434b", SpanName: "retrieve", Service: "retriever"},
	}
	var b []byte
	for i := range lines {
		b = append(ledger.AppendLine(b, &lines[i]), '\n')
	}
	p := ledger.RunPath(ledgerDir, t0, runID)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}

	cmd, ptmx, screen, copied := startTUIPty(t, cli, work, ledgerDir)
	defer ptmx.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var waited bool
	defer func() {
		if !waited {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for !ok(screen.text()) {
			select {
			case err := <-exited:
				waited = true
				t.Fatalf("runledger tui exited (%v) before the screen showed %s:\n%s", err, what, screen.text())
			case <-deadline:
				t.Fatalf("the screen never showed %s:\n%s", what, screen.text())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	contains := func(subs ...string) func(string) bool {
		return func(s string) bool {
			for _, sub := range subs {
				if !strings.Contains(s, sub) {
					return false
				}
			}
			return true
		}
	}

	// The run list shows the failed run.
	waitFor("the run list", contains(runID, "failed"))
	// Open it: the stop reason category and the error code are on top.
	before := len(screen.text())
	if _, err := ptmx.Write([]byte("\r")); err != nil {
		t.Fatal(err)
	}
	waitFor("the stop reason", func(s string) bool {
		s = s[min(before, len(s)):]
		return strings.Contains(strings.ToLower(s), "stop error") && strings.Contains(s, "index_not_found") &&
			strings.Contains(s, "ann.faiss.search")
	})
	// e jumps to the first error: the failed step is selected.
	if _, err := ptmx.Write([]byte("e")); err != nil {
		t.Fatal(err)
	}
	waitFor("the jump to the first error", contains("error 1 of"))

	if m := colourSGR.FindString(screen.raw()); m != "" {
		t.Fatalf("colour escape %q with NO_COLOR=1", m)
	}

	// q goes back to the list, q again quits with status 0.
	for _, k := range []string{"q", "q"} {
		if _, err := ptmx.Write([]byte(k)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case err := <-exited:
		waited = true
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("runledger tui exited with %d:\n%s", ee.ExitCode(), screen.text())
		}
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("runledger tui did not exit on q q:\n%s", screen.text())
	}
	ptmx.Close()
	<-copied
}

// TestTUIWaterfallShowsFailedSpan runs `runledger tui` in an 80x24
// pseudo-terminal over a ledger holding step lines and span record lines
// (issue 15), opens the run, switches to the span waterfall with v and
// checks that the failed span is shown marked with !.
func TestTUIWaterfallShowsFailedSpan(t *testing.T) {
	cli := os.Getenv("RUNLEDGER_CLI")
	if cli == "" {
		t.Skip("RUNLEDGER_CLI not set: run the end-to-end suite with `make test`")
	}
	work := t.TempDir()
	ledgerDir := filepath.Join(work, "ledgers")
	const runID, trace = "r-tui-spans", "4bf92f3577b34da6a3ce929d0e0e4736"
	t0 := time.Date(2026, 11, 25, 9, 1, 0, 0, time.UTC)
	at := func(ms int) string { return t0.Add(time.Duration(ms) * time.Millisecond).Format(time.RFC3339Nano) }
	step := func(seq, ms int, kind, status, code, spanID, spanName string) string {
		l := `{"v":1,"run_id":"` + runID + `","seq":` + strconv.Itoa(seq) + `,"ts":"` + at(ms) + `","kind":"` + kind +
			`","status":"` + status + `"`
		if code != "" {
			l += `,"error_code":"` + code + `"`
		}
		return l + `,"trace_id":"` + trace + `","span_id":"` + spanID + `","span_name":"` + spanName +
			`","service":"retriever","event_id":"e` + strconv.Itoa(seq) + `"}`
	}
	spanRec := func(from, to int, spanID, parent, name, status, msg string) string {
		l := `{"v":1,"run_id":"` + runID + `","rec":"span","ts":"` + at(from) + `","end":"` + at(to) +
			`","trace_id":"` + trace + `","span_id":"` + spanID + `"`
		if parent != "" {
			l += `,"parent_span_id":"` + parent + `"`
		}
		return l + `,"span_name":"` + name + `","service":"retriever","status":"` + status + `","status_message":"` + msg +
			`","event_id":"s-` + spanID + `"}`
	}
	const root, embed, faiss = "2dc670e29aac434b", "4e85f9363dc87573", "ad43dd9502e3ae90"
	lines := []string{
		step(1, 0, "run.start", "ok", "", root, "retrieve"),
		step(2, 120, "embed.vllm", "ok", "", embed, "embed"),
		spanRec(2, 121, embed, root, "embed", "ok", ""),
		step(3, 1000, "ann.faiss.search", "failed", "index_not_found", faiss, "faiss.search"),
		spanRec(130, 1001, faiss, root, "faiss.search", "error", "index not found"),
		step(4, 1005, "retrieval.error", "failed", "index_not_found", root, "retrieve"),
		step(5, 1006, "run.end", "failed", "", root, "retrieve"),
		spanRec(0, 1007, root, "", "retrieve", "error", "retrieval failed"),
	}
	p := ledger.RunPath(ledgerDir, t0, runID)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd, ptmx, screen, copied := startTUIPty(t, cli, work, ledgerDir)
	defer ptmx.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
		ptmx.Close()
		<-copied
	}()
	waitFor := func(what string, since int, ok func(string) bool) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			s := screen.text()
			if ok(s[min(since, len(s)):]) {
				return
			}
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("runledger tui exited (%v) before the screen showed %s:\n%s", err, what, s)
			case <-deadline:
				t.Fatalf("the screen never showed %s:\n%s", what, s)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	waitFor("the run list", 0, func(s string) bool { return strings.Contains(s, runID) })
	before := len(screen.text())
	if _, err := ptmx.Write([]byte("\r")); err != nil {
		t.Fatal(err)
	}
	waitFor("the run view", before, func(s string) bool { return strings.Contains(s, "index_not_found") })
	before = len(screen.text())
	if _, err := ptmx.Write([]byte("v")); err != nil {
		t.Fatal(err)
	}
	// The failed span, marked ! (and on the critical path, *), with its
	// parent's row above it.
	failedRow := regexp.MustCompile(`!\*?\s+faiss\.search`)
	waitFor("the failed span in the waterfall", before, func(s string) bool {
		return strings.Contains(s, "[spans]") && strings.Contains(s, "retrieve") && failedRow.MatchString(s)
	})
	if m := colourSGR.FindString(screen.raw()); m != "" {
		t.Fatalf("colour escape %q with NO_COLOR=1", m)
	}
}

// startTUIPty starts `runledger tui` on ledgerDir in an 80x24 pty without
// colours. screen collects what it draws, answering cursor position
// queries as a terminal does (Bubble Tea, through termenv, asks for the
// background colour at start and waits up to 5 s for the reply); copied is
// closed when the program's output ends (EIO once it exited).
func startTUIPty(t *testing.T, cli, work, ledgerDir string) (*exec.Cmd, *os.File, *ptyScreen, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command(cli, "tui", "--ledger-dir", ledgerDir, "--out", filepath.Join(work, "out", "run_reports"))
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "TERM=xterm", "NO_COLOR=1")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatalf("start %s tui in a pty: %v", cli, err)
	}
	screen := &ptyScreen{}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		buf := make([]byte, 4096)
		answered := 0
		for {
			n, err := ptmx.Read(buf)
			screen.Write(buf[:n])
			for asked := strings.Count(screen.raw(), "\x1b[6n"); answered < asked; answered++ {
				_, _ = ptmx.Write([]byte("\x1b[1;1R"))
			}
			if err != nil {
				return
			}
		}
	}()
	return cmd, ptmx, screen, copied
}
