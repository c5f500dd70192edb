package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/runindex"
)

// lockedBuffer is a bytes.Buffer safe for the TUI's writer goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lockedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// bearerServer answers GET /reports/runs with one run, but only to requests
// with Authorization: Bearer token, as a reportapi behind bearertokenauth.
func bearerServer(t *testing.T, token string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"missing or invalid bearer token"}`)
			return
		}
		if r.URL.Path != "/reports/runs" {
			http.NotFound(w, r)
			return
		}
		start := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
		page := runindex.Page{Matched: 1, Runs: []runindex.Entry{{RunID: "r-behind-auth", Status: "completed",
			StartedAt: start, LastEventAt: start.Add(time.Second), EventCount: 3}}}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(page)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// screenText is the TUI's output with runs of blanks and line breaks made
// one space, so text the screen wrapped reads as one line.
func screenText(out string) string { return strings.Join(strings.Fields(out), " ") }

// runTUI runs `runledger tui args...` on pipes until its screen shows want,
// then quits it with q and returns the screen text (see screenText).
func runTUI(t *testing.T, want string, args ...string) string {
	t.Helper()
	inR, inW := io.Pipe()
	defer inW.Close()
	out := &lockedBuffer{}
	var errb bytes.Buffer
	root := NewRootCmd(out, &errb)
	root.SetIn(inR)
	root.SetArgs(append([]string{"tui", "--no-color"}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(screenText(out.String()), want) {
		select {
		case err := <-done:
			t.Fatalf("tui %v ended before showing %q: %v\nstderr %s\nscreen %q", args, want, err, errb.String(), out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tui %v never showed %q:\n%q", args, want, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	inW.Write([]byte("q"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tui %v: %v", args, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("tui %v did not quit on q", args)
	}
	return screenText(out.String())
}

// TestTUIServerToken: `runledger tui --server` reaches a reportapi behind
// bearer-token auth with the same --token flag and RUNLEDGER_TOKEN variable
// as the other commands, and says why it cannot without them.
func TestTUIServerToken(t *testing.T) {
	srv := bearerServer(t, "s3cret")

	runTUI(t, "r-behind-auth", "--server", srv.URL, "--token", "s3cret")

	t.Setenv("RUNLEDGER_TOKEN", "s3cret")
	runTUI(t, "r-behind-auth", "--server", srv.URL)

	t.Setenv("RUNLEDGER_TOKEN", "")
	screen := runTUI(t, "401 Unauthorized", "--server", srv.URL)
	for _, s := range []string{"error: list runs: GET " + srv.URL + "/reports/runs", "missing or invalid bearer token",
		"no bearer token was sent"} {
		if !strings.Contains(screen, s) {
			t.Errorf("without a token the screen does not say %q:\n%q", s, screen)
		}
	}
	screen = runTUI(t, "401 Unauthorized", "--server", srv.URL, "--token", "wrong")
	if !strings.Contains(screen, "bearer token was rejected") {
		t.Errorf("with a wrong token the screen does not say so:\n%q", screen)
	}
}

// TestTUIFlags: `runledger tui` takes the ledger directory, server and token
// flags of the other commands, with the same defaults and variables.
func TestTUIFlags(t *testing.T) {
	t.Setenv("RUNLEDGER_LEDGER_DIR", "")
	t.Setenv("RUNLEDGER_TOKEN", "")
	cmd := newTUICmd()
	for flag, def := range map[string]string{"ledger-dir": DefaultLedgerDir, "server": "", "token": "", "out": "out/run_reports"} {
		if f := cmd.Flags().Lookup(flag); f == nil || f.DefValue != def {
			t.Errorf("flag --%s: %+v", flag, f)
		}
	}
	for _, args := range [][]string{
		{"tui", "--ledger-dir", "x", "--server", "http://127.0.0.1:1"},
		{"tui", "--server", "ftp://x"},
		{"tui", "extra"},
	} {
		if code, _, errOut := runCLI(t, args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, ExitUsage, errOut)
		}
	}

	runTUI(t, "r-embed-oom", "--ledger-dir", testLedgers)
	t.Setenv("RUNLEDGER_LEDGER_DIR", testLedgers)
	runTUI(t, "r-embed-oom")
}

// TestServerToken: the commands that read a server send --token (or
// RUNLEDGER_TOKEN) and name the flag when the server wants one.
func TestServerToken(t *testing.T) {
	srv := bearerServer(t, "s3cret")
	t.Setenv("RUNLEDGER_TOKEN", "")
	code, out, errOut := runCLI(t, "runs", "list", "--server", srv.URL, "--token", "s3cret")
	if code != ExitOK || !strings.Contains(out, "r-behind-auth") {
		t.Fatalf("with --token: exit %d stdout %q stderr %q", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "runs", "list", "--server", srv.URL)
	for _, s := range []string{srv.URL + "/reports/runs", "401 Unauthorized", "missing or invalid bearer token", "--token", "RUNLEDGER_TOKEN"} {
		if code != ExitError || !strings.Contains(errOut, s) {
			t.Errorf("without a token: exit %d, stderr %q lacks %q", code, errOut, s)
		}
	}
	t.Setenv("RUNLEDGER_TOKEN", "s3cret")
	if code, out, errOut := runCLI(t, "runs", "list", "--server", srv.URL); code != ExitOK || !strings.Contains(out, "r-behind-auth") {
		t.Fatalf("with RUNLEDGER_TOKEN: exit %d stdout %q stderr %q", code, out, errOut)
	}
}

// TestBinaryTUIWithoutTerminal: `runledger tui` on pipes says it needs a
// terminal (exit 2) instead of switching screens and failing in Bubble Tea.
func TestBinaryTUIWithoutTerminal(t *testing.T) {
	r := runBinary(t, "tui", "--ledger-dir", testLedgers)
	if r.code != ExitUsage || r.stdout != "" || !strings.Contains(r.stderr, "runledger tui needs a terminal") ||
		strings.Contains(r.stderr, "epoll") {
		t.Fatalf("tui on pipes: %+v", r)
	}
}
