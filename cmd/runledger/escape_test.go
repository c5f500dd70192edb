package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/runindex"
)

// hostile is producer text that would clear the screen, overwrite the line,
// end a C string and reverse the rest of the line if printed raw.
const hostile = "\x1b[2J\r\x00\u202e"

// writeLedger writes lines (one run) as the exporter lays them out.
func writeLedger(t *testing.T, dir string, lines ...ledger.Line) string {
	t.Helper()
	p := ledger.RunPath(dir, lines[0].TS, lines[0].RunID)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	var b []byte
	for i := range lines {
		b = append(append(b, ledger.Encode(&lines[i])...), '\n')
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// hostileRun is a failed run whose run id, kinds, details, error codes,
// resources and service carry terminal controls.
func hostileRun(id string) []ledger.Line {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	d := 12.5
	mk := func(seq uint64, kind, status string) ledger.Line {
		return ledger.Line{V: ledger.Version, RunID: id, Seq: seq, TS: t0.Add(time.Duration(seq) * time.Second),
			Kind: kind, Status: status, Service: "svc" + hostile}
	}
	start := mk(1, "run.start", "ok")
	step := mk(2, "embed.vllm"+hostile, "failed")
	step.ErrorCode = "oom" + hostile
	step.Detail = "CUDA out of memory" + hostile + "\nsecond line"
	step.DurationMS = &d
	step.Resources = map[string]string{"model" + hostile: "bge" + hostile}
	step.Sizes = map[string]float64{"tokens" + hostile: 3}
	end := mk(3, "run.end", "failed")
	return []ledger.Line{start, step, end}
}

// assertInert fails when out holds a byte or rune a terminal acts on:
// C0 controls but newline and tab, DEL, C1 controls, bidi controls.
func assertInert(t *testing.T, what, out string) {
	t.Helper()
	for i, r := range out {
		bad := r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == utf8.RuneError
		if bad {
			lo, hi := max(i-40, 0), min(i+40, len(out))
			t.Fatalf("%s: raw %U at byte %d: %q", what, r, i, out[lo:hi])
		}
	}
}

// TestHumanOutputEscapesControls: runs list, tail and report --format md
// print producer text with its controls escaped; JSON stays exact.
func TestHumanOutputEscapesControls(t *testing.T) {
	dir := t.TempDir()
	id := "r-" + hostile
	writeLedger(t, dir, hostileRun(id)...)

	code, out, errOut := runCLI(t, "runs", "list", "--ledger-dir", dir)
	if code != ExitOK {
		t.Fatalf("runs list: exit %d stderr %q", code, errOut)
	}
	assertInert(t, "runs list", out)
	if !strings.Contains(out, `r-\x1b[2J\r\x00\u202e`) || !strings.Contains(out, `svc\x1b[2J`) {
		t.Fatalf("runs list does not show the escaped id and service:\n%s", out)
	}

	code, out, errOut = runCLI(t, "tail", id, "--ledger-dir", dir, "--follow=false")
	if code != ExitOK {
		t.Fatalf("tail: exit %d stderr %q", code, errOut)
	}
	assertInert(t, "tail", out)
	for _, s := range []string{`embed.vllm\x1b[2J\r\x00\u202e`, `[oom\x1b[2J`, `model\x1b[2J\r\x00\u202e=bge\x1b[2J`,
		`tokens\x1b[2J\r\x00\u202e=3`, `CUDA out of memory\x1b[2J\r\x00\u202e second line`} {
		if !strings.Contains(out, s) {
			t.Errorf("tail lacks %q:\n%s", s, out)
		}
	}

	code, out, errOut = runCLI(t, "report", "run", id, "--ledger-dir", dir, "--format", "md")
	if code != ExitOK {
		t.Fatalf("report md: exit %d stderr %q", code, errOut)
	}
	assertInert(t, "report --format md", out)

	code, out, _ = runCLI(t, "report", "run", id, "--ledger-dir", dir)
	var rep report.Report
	if code != ExitOK || json.Unmarshal([]byte(out), &rep) != nil || rep.RunID != id || rep.StopReason.ErrorCode != "oom"+hostile {
		t.Fatalf("report json not exact: exit %d %+v", code, rep.StopReason)
	}
	code, out, _ = runCLI(t, "runs", "list", "--ledger-dir", dir, "--format", "json")
	var page runindex.Page
	if code != ExitOK || json.Unmarshal([]byte(out), &page) != nil || len(page.Runs) != 1 || page.Runs[0].RunID != id ||
		page.Runs[0].Services[0] != "svc"+hostile {
		t.Fatalf("runs list json not exact: exit %d %+v", code, page)
	}
}

// TestRunsListClipsLongIDs: a 100 kB run id does not pad every row of the
// table; ordinary ids and 26-character ULIDs are printed whole.
func TestRunsListClipsLongIDs(t *testing.T) {
	dir := t.TempDir()
	long := "r-" + strings.Repeat("x", 100_000) + "-end"
	ulid := "01JDXKQ7Z8M3N4P5Q6R7S8T9VW"
	for i, id := range []string{long, ulid, "r-short"} {
		lines := hostileRun(id)[:1]
		lines[0].Service = "retriever"
		lines[0].TS = lines[0].TS.Add(time.Duration(i) * time.Minute)
		writeLedger(t, dir, lines...)
	}
	code, out, errOut := runCLI(t, "runs", "list", "--ledger-dir", dir)
	if code != ExitOK {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if n := utf8.RuneCountInString(l); n > 160 {
			t.Fatalf("row of %d runes: %.200q", n, l)
		}
	}
	if !strings.Contains(out, ulid+" ") || !strings.Contains(out, "r-short ") {
		t.Fatalf("ordinary ids not printed whole:\n%s", out)
	}
	if !strings.Contains(out, "r-xxx") || !strings.Contains(out, "xxx-end") || !strings.Contains(out, "…") {
		t.Fatalf("long id does not keep its start and end:\n%s", out)
	}
}

// TestServerMarkdownEscaped: Markdown from a server that did not escape it
// is escaped before it reaches the terminal; its JSON is printed exact.
func TestServerMarkdownEscaped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("format") == "md" || strings.Contains(r.Header.Get("Accept"), "markdown") {
			w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
			io.WriteString(w, "# Run r-"+hostile+": failed\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"run_id":"r-\u001b[2J","status":"failed"}`)
	}))
	defer srv.Close()
	code, out, errOut := runCLI(t, "report", "run", "r-1", "--server", srv.URL, "--format", "md")
	if code != ExitOK || !strings.Contains(out, `# Run r-\x1b[2J\r\x00\u202e: failed`) {
		t.Fatalf("exit %d stdout %q stderr %q", code, out, errOut)
	}
	assertInert(t, "report --server --format md", out)
	code, out, _ = runCLI(t, "report", "run", "r-1", "--server", srv.URL)
	if code != ExitOK || out != `{"run_id":"r-\u001b[2J","status":"failed"}` {
		t.Fatalf("json changed: exit %d %q", code, out)
	}
}
