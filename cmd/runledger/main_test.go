package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/runledger/runledger/extension/reportapi"
	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/runindex"
)

const testLedgers = "testdata/runs"

// runCLI drives the command tree in-process.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestReportLocal(t *testing.T) {
	code, out, errOut := runCLI(t, "report", "run", "r-embed-oom", "--ledger-dir", testLedgers)
	if code != ExitOK || errOut != "" {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, out)
	}
	if rep.Status != "failed" || rep.StopReason.Stage != "embed" || rep.StopReason.ErrorCode != "oom" {
		t.Fatalf("report %+v", rep.StopReason)
	}
	code, out, _ = runCLI(t, "report", "run", "r-embed-timeout", "--ledger-dir", testLedgers, "--format", "md")
	if code != ExitOK || !strings.HasPrefix(out, "# Run r-embed-timeout: failed") || !strings.Contains(out, "**Stop reason:** timeout at stage `embed`") ||
		!strings.Contains(out, "**Remediation:**") {
		t.Fatalf("markdown exit %d:\n%s", code, out)
	}
}

func TestReportOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reports")
	code, out, _ := runCLI(t, "report", "run", "r-cancelled", "--ledger-dir", testLedgers, "--out", dir)
	var res report.SaveResult
	if code != ExitOK || json.Unmarshal([]byte(out), &res) != nil || res.JSON != filepath.Join(dir, "r-cancelled.json") {
		t.Fatalf("exit %d out %s", code, out)
	}
	md, err := os.ReadFile(res.Markdown)
	if err != nil || !bytes.HasPrefix(md, []byte("# Run r-cancelled: cancelled")) {
		t.Fatalf("md %v %s", err, md)
	}
}

func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"report", "run", "nope", "--ledger-dir", testLedgers}, ExitNotFound},
		{[]string{"report", "run", "../../etc/passwd", "--ledger-dir", testLedgers}, ExitNotFound},
		{[]string{"report", "run", "r-completed", "--ledger-dir", t.TempDir()}, ExitNotFound},
		{[]string{"tail", "nope", "--follow=false", "--ledger-dir", testLedgers}, ExitNotFound},
		{[]string{"report", "run"}, ExitUsage},
		{[]string{"report", "run", "a", "b"}, ExitUsage},
		{[]string{"report", "run", "r-completed", "--format", "xml", "--ledger-dir", testLedgers}, ExitUsage},
		{[]string{"report", "run", "r-completed", "--bogus"}, ExitUsage},
		{[]string{"report", "run", "r-completed", "--server", "ftp://x"}, ExitUsage},
		{[]string{"runs", "list", "--status", "bogus", "--ledger-dir", testLedgers}, ExitUsage},
		{[]string{"runs", "list", "--since", "yesterday", "--ledger-dir", testLedgers}, ExitUsage},
		{[]string{"runs", "list", "--format", "xml"}, ExitUsage},
		{[]string{"runs", "list", "--limit", "x"}, ExitUsage},
		{[]string{"nope"}, ExitUsage},
		{[]string{}, ExitUsage},
		{[]string{"report"}, ExitUsage},
		{[]string{"report", "run", "r-completed", "--server", "http://127.0.0.1:1"}, ExitError},
		{[]string{"report", "run", "r-completed", "--ledger-dir", testLedgers}, ExitOK},
		{[]string{"--help"}, ExitOK},
	} {
		code, _, errOut := runCLI(t, c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, code, c.code, errOut)
		}
		if code != ExitOK && !strings.HasPrefix(errOut, "runledger: ") && !strings.Contains(errOut, "\nrunledger: ") {
			t.Errorf("%v: no diagnostic on stderr: %q", c.args, errOut)
		}
	}
}

func TestRunsListLocal(t *testing.T) {
	code, out, _ := runCLI(t, "runs", "list", "--ledger-dir", testLedgers, "--format", "json", "--status", "failed", "--limit", "2")
	var page runindex.Page
	if code != ExitOK || json.Unmarshal([]byte(out), &page) != nil {
		t.Fatalf("exit %d: %s", code, out)
	}
	if page.Matched != 3 || len(page.Runs) != 2 || page.NextCursor == "" {
		t.Fatalf("page %+v", page)
	}
	code, out, _ = runCLI(t, "runs", "list", "--ledger-dir", testLedgers, "--format", "json", "--status", "failed", "--limit", "2", "--cursor", page.NextCursor)
	var next runindex.Page
	if code != ExitOK || json.Unmarshal([]byte(out), &next) != nil || len(next.Runs) != 1 || next.NextCursor != "" {
		t.Fatalf("second page exit %d: %s", code, out)
	}
	code, out, errOut := runCLI(t, "runs", "list", "--ledger-dir", testLedgers, "--limit", "3")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != ExitOK || len(lines) != 4 || !strings.HasPrefix(lines[0], "RUN ID") || !strings.Contains(errOut, "--cursor") {
		t.Fatalf("table exit %d:\n%s\nstderr %s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "runs", "list", "--ledger-dir", testLedgers, "--service", "retriever", "--since", "2026-11-25T09:01:00Z", "--kind", "hydrate", "--format", "json")
	page = runindex.Page{}
	if code != ExitOK || json.Unmarshal([]byte(out), &page) != nil || len(page.Runs) != 1 || page.Runs[0].RunID != "r-hydrate-lock" {
		t.Fatalf("filters exit %d: %s", code, out)
	}
}

func TestTailNoFollow(t *testing.T) {
	code, out, _ := runCLI(t, "tail", "r-hydrate-lock", "--ledger-dir", testLedgers, "--follow=false")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != ExitOK || len(lines) != 6 || !strings.Contains(lines[3], "hydrate.duckdb") || !strings.Contains(lines[3], "FAILED") ||
		!strings.Contains(lines[3], "[locked]") {
		t.Fatalf("tail exit %d:\n%s", code, out)
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the real runledger binary once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "runledger-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "runledger")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("go build: %s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build runledger: %v", buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func runBinary(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

func TestBinaryAgainstLedgers(t *testing.T) {
	r := runBinary(t, "report", "run", "r-hydrate-lock", "--ledger-dir", testLedgers)
	var rep report.Report
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil || rep.StopReason.Stage != "hydrate" || r.stderr != "" {
		t.Fatalf("report: %+v", r)
	}
	r = runBinary(t, "report", "run", "r-hydrate-lock", "--ledger-dir", testLedgers, "--format", "md")
	if r.code != 0 || !strings.Contains(r.stdout, "locked by another process") {
		t.Fatalf("md: %+v", r)
	}
	if r = runBinary(t, "report", "run", "missing", "--ledger-dir", testLedgers); r.code != 3 || r.stdout != "" || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("missing: %+v", r)
	}
	if r = runBinary(t, "runs", "list", "--nope"); r.code != 2 {
		t.Fatalf("usage: %+v", r)
	}
	if r = runBinary(t, "runs", "list", "--ledger-dir", testLedgers, "--format", "json"); r.code != 0 || !strings.Contains(r.stdout, `"matched": 5`) {
		t.Fatalf("list: %+v", r)
	}
	if r = runBinary(t, "report", "run", "--help"); r.code != 0 || !strings.Contains(r.stdout, "--server") {
		t.Fatalf("help: %+v", r)
	}
}

func lineBytes(t *testing.T, run string, seq uint64, kind, status string) []byte {
	t.Helper()
	b, err := json.Marshal(ledger.Line{V: 1, RunID: run, Seq: seq, TS: time.Date(2026, 11, 25, 9, 0, int(seq), 0, time.UTC),
		Kind: kind, Status: status, Service: "retriever"})
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestBinaryTailFollow starts `runledger tail` before the run exists, writes
// the run line by line and expects every line printed and a clean exit after
// run.end.
func TestBinaryTailFollow(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), "tail", "live-1", "--ledger-dir", dir, "--poll", "20ms")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	writeLiveRun(t, dir, 30*time.Millisecond)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tail: %v\nstdout %s\nstderr %s", err, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[2], "ann.faiss.search") || !strings.Contains(lines[3], "run.end") {
		t.Fatalf("tail output:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), "waiting for run") {
		t.Fatalf("stderr %q", errb.String())
	}
}

// startReportAPI runs the reportapi extension on a free 127.0.0.1 port over
// dir and returns its base URL.
func startReportAPI(t *testing.T, dir string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f := reportapi.NewFactory()
	cfg := f.CreateDefaultConfig().(*reportapi.Config)
	cfg.ServerConfig.NetAddr.Endpoint = addr
	cfg.Directory = dir
	cfg.ReportsDir = filepath.Join(t.TempDir(), "reports")
	cfg.IndexRefresh = 50 * time.Millisecond
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ext.Shutdown(context.Background()) })
	base := "http://" + addr
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(base + "/reports/runs")
		if err == nil {
			var page runindex.Page
			_ = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if !page.Indexing && page.Matched > 0 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("reportapi at %s not ready: %v", base, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBinaryAgainstReportAPI(t *testing.T) {
	abs, err := filepath.Abs(testLedgers)
	if err != nil {
		t.Fatal(err)
	}
	base := startReportAPI(t, abs)
	// The ledger dir flag points nowhere: everything must come from the server.
	nowhere := filepath.Join(t.TempDir(), "none")

	r := runBinary(t, "report", "run", "r-embed-oom", "--server", base, "--ledger-dir", nowhere)
	var rep report.Report
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil || rep.StopReason.ErrorCode != "oom" {
		t.Fatalf("report via server: %+v", r)
	}
	r = runBinary(t, "report", "run", "r-embed-oom", "--server", base+"/", "--format", "md")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "# Run r-embed-oom: failed") {
		t.Fatalf("md via server: %+v", r)
	}
	out := filepath.Join(t.TempDir(), "saved")
	r = runBinary(t, "report", "run", "r-completed", "--server", base, "--out", out)
	if r.code != 0 {
		t.Fatalf("--out via server: %+v", r)
	}
	if md, err := os.ReadFile(filepath.Join(out, "r-completed.md")); err != nil || !bytes.HasPrefix(md, []byte("# Run r-completed: completed")) {
		t.Fatalf("saved md: %v %s", err, md)
	}
	if r = runBinary(t, "report", "run", "no-such-run", "--server", base); r.code != 3 || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("missing via server: %+v", r)
	}
	if r = runBinary(t, "report", "run", "a/../../b", "--server", base); r.code != 3 {
		t.Fatalf("hostile id via server: %+v", r)
	}
	r = runBinary(t, "runs", "list", "--server", base, "--status", "failed", "--format", "json")
	var page runindex.Page
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &page) != nil || page.Matched != 3 {
		t.Fatalf("list via server: %+v", r)
	}
	if r = runBinary(t, "runs", "list", "--server", base, "--since", "1h", "--format", "table"); r.code != 0 || strings.TrimSpace(r.stdout) != strings.Split(r.stdout, "\n")[0] {
		t.Fatalf("empty list via server: %+v", r)
	}
}

// writeLiveRun writes run live-1 into dir line by line, as a producer
// would: the file appears after a moment, and every line arrives in two
// writes with pause after each, so a follower sees torn lines.
func writeLiveRun(t *testing.T, dir string, pause time.Duration) {
	t.Helper()
	path := ledger.RunPath(dir, time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC), "live-1")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	steps := [][2]string{{"run.start", "ok"}, {"embed.vllm", "ok"}, {"ann.faiss.search", "failed"}, {"run.end", "failed"}}
	for i, s := range steps {
		line := lineBytes(t, "live-1", uint64(i+1), s[0], s[1])
		_, _ = f.Write(line[:10]) // a torn write must not be printed half
		time.Sleep(pause)
		_, _ = f.Write(line[10:])
		time.Sleep(pause)
	}
}
