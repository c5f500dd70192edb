package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/reportclient"
	"github.com/runledger/runledger/internal/runindex"
)

// fakeReportAPI serves the reportapi routes the TUI uses from a ledger
// directory, on 127.0.0.1.
func fakeReportAPI(t *testing.T, dir string, withLedger bool) string {
	t.Helper()
	ix := runindex.New(dir, runindex.Options{})
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /reports/runs", func(w http.ResponseWriter, r *http.Request) {
		if _, err := ix.Refresh(); err != nil {
			writeJSON(w, 500, map[string]string{"error": err.Error()})
			return
		}
		q, err := runindex.ParseQuery(r.URL.Query(), time.Now())
		if err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		page, _ := ix.List(q)
		writeJSON(w, 200, page)
	})
	find := func(w http.ResponseWriter, id string) string {
		p, _ := ledger.FindRun(dir, id)
		if p == "" {
			writeJSON(w, 404, map[string]string{"error": "run " + id + " not found"})
		}
		return p
	}
	mux.HandleFunc("GET /reports/runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		if p := find(w, r.PathValue("id")); p != "" {
			rep, err := report.BuildFile(p, report.Options{RunID: r.PathValue("id")})
			if err != nil {
				writeJSON(w, 500, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, 200, rep)
		}
	})
	if withLedger {
		mux.HandleFunc("GET /reports/runs/{id}/ledger", func(w http.ResponseWriter, r *http.Request) {
			if p := find(w, r.PathValue("id")); p != "" {
				w.Header().Set("Content-Type", "application/x-ndjson")
				b, _ := os.ReadFile(p)
				w.Write(b)
			}
		})
	}
	return serveLocal(t, mux)
}

// serveLocal serves h on a free 127.0.0.1 port until the test ends and
// returns the address.
func serveLocal(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// httpSource is the Source of the reportapi server at server.
func httpSource(t *testing.T, server string) *HTTPSource {
	t.Helper()
	c, err := reportclient.New(server, reportclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return NewHTTPSource(c)
}

func TestHTTPSource(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, waterfallRun("r-wf", base)...)
	writeRun(t, dir, waterfallRun("team/run 1", base.Add(time.Hour))...)
	addr := fakeReportAPI(t, dir, true)
	src := httpSource(t, addr) // scheme-less: http assumed
	if src.Name() != "server http://"+addr {
		t.Fatalf("name %q", src.Name())
	}
	ctx := context.Background()
	list, err := src.Runs(ctx, runindex.Query{})
	if err != nil {
		t.Fatal(err)
	}
	runs := list.Runs
	if len(runs) != 2 || runs[0].RunID != "team/run 1" || runs[1].Status != report.StatusFailed {
		t.Fatalf("runs %+v", runs)
	}
	d, err := src.Run(ctx, "team/run 1") // path-escaped
	if err != nil {
		t.Fatal(err)
	}
	if d.Report.RunID != "team/run 1" || len(d.Lines) != 7 || d.LinesFromTimeline || d.Lines[2].SpanID == "" {
		t.Fatalf("run: report %q lines %d fromTimeline %v", d.Report.RunID, len(d.Lines), d.LinesFromTimeline)
	}
	if _, err := src.Run(ctx, "r-nope"); !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("unknown run: %v", err)
	}

	// The TUI works the same over HTTP.
	h := newHarness(t, src, Options{})
	h.mustContain("server http://", "2 runs", "team/run 1")
	h.keys("j", "enter", "e")
	h.mustContain("run r-wf · failed", "stop ERROR at hydrate.duckdb code table_missing")
	if !strings.Contains(h.selectedRow(), "#3 ") {
		t.Fatalf("e over HTTP selected %q", h.selectedRow())
	}
}

func TestHTTPSourceWithoutLedgerRoute(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, waterfallRun("r-wf", base)...)
	src := httpSource(t, "http://"+fakeReportAPI(t, dir, false)+"/")
	d, err := src.Run(context.Background(), "r-wf")
	if err != nil {
		t.Fatal(err)
	}
	if !d.LinesFromTimeline || len(d.Lines) != 7 || d.Lines[4].Kind != "hydrate.duckdb" {
		t.Fatalf("fallback lines: fromTimeline %v n %d", d.LinesFromTimeline, len(d.Lines))
	}
	h := newHarness(t, src, Options{})
	h.keys("enter")
	h.mustContain("timeline page only", "hydrate.duckdb")
}

func TestHTTPSourceErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":"index is warming up"}`)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	src := httpSource(t, l.Addr().String())
	_, err = src.Runs(context.Background(), runindex.Query{})
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "index is warming up") {
		t.Fatalf("listing error: %v", err)
	}
	h := newHarness(t, src, Options{})
	h.mustContain("error: list runs", "index is warming up")
}

func TestDirSourceCachesUnchangedLedgers(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, waterfallRun("r-wf", base)...)
	src := NewDirSource(dir)
	ctx := context.Background()
	if _, err := src.Runs(ctx, runindex.Query{}); err != nil {
		t.Fatal(err)
	}
	a, err := src.Run(ctx, "r-wf")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := src.Run(ctx, "r-wf")
	if a != b {
		t.Fatal("unchanged finished ledger was rebuilt")
	}
	// A line that does not parse is skipped and counted; a torn tail is not
	// shown.
	p, _ := ledger.FindRun(dir, "r-wf")
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("{not json}\n{\"v\":1,\"run_id\":\"r-wf\",\"seq\":9")
	f.Close()
	c, err := src.Run(ctx, "r-wf")
	if err != nil {
		t.Fatal(err)
	}
	if c == a || c.Report.SkippedLines != 1 || len(c.Lines) != 7 {
		t.Fatalf("after append: same=%v skipped %d lines %d", c == a, c.Report.SkippedLines, len(c.Lines))
	}
	// Runs found by FindRun before the index knows them.
	writeRun(t, dir, ln("r-late", 1, base, "run.start", "ok"))
	if _, err := src.Run(ctx, "r-late"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Run(ctx, "r-none"); !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("missing run: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the program's writer goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunProgram runs the real bubbletea program on pipes: it lists the
// runs, opens one and quits on q.
func TestRunProgram(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, waterfallRun("r-wf", base)...)
	inR, inW := io.Pipe()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), Options{LedgerDir: dir, Input: inR, Output: out, NoColor: true,
			ReportsDir: t.TempDir(), RefreshInterval: 50 * time.Millisecond})
	}()
	waitFor := func(s string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), s) {
			if time.Now().After(deadline) {
				t.Fatalf("output never showed %q:\n%q", s, out.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("r-wf")
	inW.Write([]byte("\r"))
	waitFor("table_missing")
	inW.Write([]byte("q"))
	inW.Write([]byte("q"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("program did not quit on q")
	}
	inW.Close()
	if strings.Contains(out.String(), "\x1b[1m") || strings.Contains(out.String(), "\x1b[31") {
		t.Fatal("styled output with NoColor")
	}
	// A cancelled context ends the program without an error.
	ctx, cancel := context.WithCancel(context.Background())
	inR2, inW2 := io.Pipe()
	defer inW2.Close()
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	if err := Run(ctx, Options{LedgerDir: dir, Input: inR2, Output: io.Discard, RefreshInterval: -1}); err != nil {
		t.Fatalf("cancelled run: %v", err)
	}
}
