package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

var eventIDRe = regexp.MustCompile(`"event_id":"[0-9a-f]{32}"`)

// ledgerKeys returns the top-level keys of a JSON object line, in order.
func ledgerKeys(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("line is not a JSON object: %q", line)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
	}
	return keys
}

// runReport is the part of a run report (docs/design.md §3) the tests read.
type runReport struct {
	RunID      string `json:"run_id"`
	Status     string `json:"status"`
	EventCount int    `json:"event_count"`
	StopReason struct {
		Category    string `json:"category"`
		Kind        string `json:"kind"`
		ErrorCode   string `json:"error_code"`
		Remediation string `json:"remediation"`
	} `json:"stop_reason"`
}

type ledgerLine struct {
	RunID   string `json:"run_id"`
	Seq     int    `json:"seq"`
	Kind    string `json:"kind"`
	Status  string `json:"status"`
	EventID string `json:"event_id"`
	TraceID string `json:"trace_id"`
}

func parseLines(t *testing.T, lines []string) []ledgerLine {
	t.Helper()
	out := make([]ledgerLine, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &out[i]); err != nil {
			t.Fatalf("ledger line %d is not valid JSON: %v\n%s", i, err, l)
		}
	}
	return out
}

// assertSeqs checks that seq runs 1..n without gaps or duplicates.
func assertSeqs(t *testing.T, lines []ledgerLine) {
	t.Helper()
	seqs := make([]int, len(lines))
	for i, l := range lines {
		seqs[i] = l.Seq
	}
	sort.Ints(seqs)
	for i, s := range seqs {
		if s != i+1 {
			t.Fatalf("seq values %v: want 1..%d without gaps or duplicates", seqs, len(lines))
		}
	}
}

// waitLedger waits for the ledger of runID to hold n lines and returns them.
func waitLedger(t *testing.T, c *collector, first time.Time, runID string, n int) (string, []string) {
	t.Helper()
	path := filepath.Join(c.ledgerDir, first.UTC().Format("2006-01-02"), runID+".jsonl")
	var lines []string
	waitFor(t, 15*time.Second, fmt.Sprintf("%d lines in %s", n, path), func() bool {
		if _, err := os.Stat(path); err != nil {
			return false
		}
		lines = readLines(t, path)
		return len(lines) >= n
	})
	if len(lines) != n {
		t.Fatalf("%s has %d lines, want %d:\n%s", path, len(lines), n, strings.Join(lines, "\n"))
	}
	return path, lines
}

// A failing retrieval run sent as span events, children before the root that
// carries run.id, lands normalised in one ledger, and both the HTTP API and
// the CLI say why it stopped.
func TestSpanEventsToLedgerReportAndCLI(t *testing.T) {
	c := startCollector(t, "")
	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	tid := traceID(1)
	const run = "e2e-span-run"
	children := traces("retriever",
		span{name: "embed", traceID: tid, spanID: spanID(2), parent: spanID(1), steps: []step{
			{kind: "embed.vllm", at: t0.Add(10 * time.Millisecond), durationMS: 12.5, detail: "embedded query",
				sizes: map[string]int64{"vectors": 1}, resources: map[string]string{"model": "bge-small"},
				attrs: map[string]any{"dims": int64(384)}},
		}},
		span{name: "faiss.search", traceID: tid, spanID: spanID(3), parent: spanID(1), steps: []step{
			{kind: "ann.faiss.search", status: "failed", code: "index_not_found", at: t0.Add(20 * time.Millisecond),
				detail: "index /srv/idx/v3.faiss not found", resources: map[string]string{"index_version": "v3"}},
		}},
		span{name: "noise", traceID: tid, spanID: spanID(9), parent: spanID(1)},
	)
	root := traces("retriever",
		span{name: "search", traceID: tid, spanID: spanID(1), runID: run, steps: []step{
			{kind: "run.start", at: t0},
			{kind: "retrieval.error", status: "failed", code: "index_not_found", at: t0.Add(21 * time.Millisecond), detail: "retrieval failed: index_not_found"},
			{kind: "run.end", status: "failed", at: t0.Add(22 * time.Millisecond)},
		}},
	)
	if code := c.sendTraces(children); code != http.StatusOK {
		t.Fatalf("children export: HTTP %d", code)
	}
	if code := c.sendTraces(root); code != http.StatusOK {
		t.Fatalf("root export: HTTP %d", code)
	}
	_, lines := waitLedger(t, c, t0, run, 5)
	parsed := parseLines(t, lines)
	assertSeqs(t, parsed)
	kinds := map[string]bool{}
	for _, l := range parsed {
		if l.RunID != run {
			t.Errorf("line has run_id %q, want %q (resolved from the root span that arrived later)", l.RunID, run)
		}
		kinds[l.Kind] = true
	}
	for _, k := range []string{"run.start", "embed.vllm", "ann.faiss.search", "retrieval.error", "run.end"} {
		if !kinds[k] {
			t.Errorf("ledger misses kind %s", k)
		}
	}
	// Byte-for-byte: key order and normalised values of one line.
	for i, l := range lines {
		if parsed[i].Kind != "embed.vllm" {
			continue
		}
		want := fmt.Sprintf(`{"v":1,"run_id":"e2e-span-run","seq":%d,"ts":"%s","kind":"embed.vllm","status":"ok","detail":"embedded query","duration_ms":12.5,"sizes":{"vectors":1},"resources":{"model":"bge-small"},"attrs":{"dims":384},"trace_id":"%s","span_id":"%s","span_name":"embed","service":"retriever","event_id":"X"}`,
			parsed[i].Seq, t0.Add(10*time.Millisecond).Format(time.RFC3339Nano), tid, spanID(2))
		got := eventIDRe.ReplaceAllString(l, `"event_id":"X"`)
		if got != want {
			t.Errorf("ledger line:\n got %s\nwant %s", l, want)
		}
	}

	// The report over HTTP.
	var rep runReport
	status, body := c.get("/admin/index/observability/run/" + run + "/report")
	if status != http.StatusOK {
		t.Fatalf("report: HTTP %d: %s", status, body)
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, body)
	}
	if rep.RunID != run || rep.Status != "failed" || rep.EventCount != 5 {
		t.Errorf("report summary = %+v", rep)
	}
	if rep.StopReason.Category != "error" || rep.StopReason.Kind != "ann.faiss.search" || rep.StopReason.ErrorCode != "index_not_found" || rep.StopReason.Remediation == "" {
		t.Errorf("stop_reason = %+v, want the ANN index_not_found root cause with a remediation", rep.StopReason)
	}
	status, md := c.get("/admin/index/observability/run/"+run+"/report", "Accept", "text/markdown")
	if status != http.StatusOK || !strings.Contains(string(md), "index_not_found") {
		t.Errorf("markdown report: HTTP %d:\n%s", status, md)
	}
	status, _ = c.get("/admin/index/observability/run/report", "X-Run-Id", run)
	if status != http.StatusOK {
		t.Errorf("report by X-Run-Id: HTTP %d", status)
	}
	// The run index catches up with the exporter within a second.
	waitFor(t, 2*time.Second, "the run in /reports/runs", func() bool {
		status, body = c.get("/reports/runs")
		return status == http.StatusOK && strings.Contains(string(body), run)
	})
	status, body = c.get("/reports/runs/no-such-run")
	if status != http.StatusNotFound || !json.Valid(body) {
		t.Errorf("unknown run: HTTP %d %s, want 404 with a JSON body", status, body)
	}

	// The CLI, reading the ledger directory directly and asking the server.
	out, errOut, code := runCLI(t, c.dir, "report", "run", run, "--format", "md", "--ledger-dir", c.ledgerDir)
	if code != 0 || !strings.Contains(out, "ann.faiss.search") || !strings.Contains(out, "index_not_found") {
		t.Errorf("runledger report run (ledger dir): exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	out, errOut, code = runCLI(t, c.dir, "report", "run", run, "--server", "http://"+c.reportAPI)
	if code != 0 || !strings.Contains(out, `"index_not_found"`) {
		t.Errorf("runledger report run --server: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	_, _, code = runCLI(t, c.dir, "report", "run", "no-such-run", "--ledger-dir", c.ledgerDir)
	if code != 3 {
		t.Errorf("unknown run: exit %d, want 3", code)
	}
}

// A run whose steps arrive half as span events and half as log records has
// one ledger with seq in arrival order and one report.
func TestSpanAndLogStepsShareOneLedger(t *testing.T) {
	c := startCollector(t, "")
	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	tid := traceID(2)
	const run = "e2e-mixed-run"
	sp := span{name: "search", traceID: tid, spanID: spanID(1), runID: run, steps: []step{
		{kind: "run.start", at: t0},
		{kind: "embed.vllm", at: t0.Add(time.Millisecond), durationMS: 3},
	}}
	if code := c.sendTraces(traces("retriever", sp)); code != http.StatusOK {
		t.Fatalf("traces export: HTTP %d", code)
	}
	lg := span{traceID: tid, spanID: spanID(2), steps: []step{
		{kind: "hydrate.duckdb", at: t0.Add(2 * time.Millisecond), detail: "hydrated 50 rows", sizes: map[string]int64{"rows": 50}},
		{kind: "run.end", status: "ok", at: t0.Add(3 * time.Millisecond)},
	}}
	// No run.id on the log records: the per-trace memory, filled by the span
	// above, resolves them.
	if code := c.sendLogs(logs("retriever", lg)); code != http.StatusOK {
		t.Fatalf("logs export: HTTP %d", code)
	}
	_, lines := waitLedger(t, c, t0, run, 4)
	parsed := parseLines(t, lines)
	assertSeqs(t, parsed)
	wantOrder := []string{"run.start", "embed.vllm", "hydrate.duckdb", "run.end"}
	for i, l := range parsed {
		if l.Kind != wantOrder[i] || l.Seq != i+1 {
			t.Errorf("line %d: kind %s seq %d, want %s seq %d", i, l.Kind, l.Seq, wantOrder[i], i+1)
		}
	}
	if !strings.Contains(lines[2], `"detail":"hydrated 50 rows"`) {
		t.Errorf("log body did not become the detail: %s", lines[2])
	}
	status, body := c.get("/reports/runs/" + run)
	var rep runReport
	if status != http.StatusOK || json.Unmarshal(body, &rep) != nil || rep.EventCount != 4 || rep.Status != "completed" || rep.StopReason.Category != "completed" {
		t.Errorf("report: HTTP %d %s", status, body)
	}
}

// Hostile run ids never leave the ledger directory, keep their original id in
// the line, and stay reportable.
func TestHostileRunIDs(t *testing.T) {
	c := startCollector(t, "")
	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	ids := []string{"../../etc/passwd", "/abs/path", "CON", strings.Repeat("x", 10000), "bad\x00id\n", "caf\xe9"}
	var spans []span
	for i, id := range ids {
		spans = append(spans, span{name: "s", traceID: traceID(byte(10 + i)), spanID: spanID(1), runID: id,
			steps: []step{{kind: "run.start", at: t0}}})
	}
	if code := c.sendTraces(traces("svc", spans...)); code != http.StatusOK {
		t.Fatalf("export: HTTP %d", code)
	}
	waitFor(t, 15*time.Second, "one ledger per hostile id", func() bool { return len(c.ledgerFiles()) == len(ids) })
	seen := map[string]bool{}
	for _, f := range c.ledgerFiles() {
		rel, err := filepath.Rel(c.ledgerDir, f)
		if err != nil || strings.HasPrefix(rel, "..") || strings.Count(rel, string(filepath.Separator)) != 1 {
			t.Errorf("ledger %s is not directly inside a date folder of %s", f, c.ledgerDir)
		}
		for _, l := range parseLines(t, readLines(t, f)) {
			seen[l.RunID] = true
		}
	}
	if _, err := os.Stat(filepath.Join(c.dir, "etc")); err == nil {
		t.Errorf("a run id created a folder outside the ledger directory")
	}
	// Invalid UTF-8 is replaced on the way in; ids the report API could not
	// look up (over 1024 bytes, control characters) go to their trace's
	// fallback run; the other ids stay as sent.
	for _, id := range []string{"../../etc/passwd", "/abs/path", "CON", "caf\ufffd",
		"trace-" + traceID(13).String(), "trace-" + traceID(14).String()} {
		if !seen[id] {
			t.Errorf("no ledger line keeps run id %q (seen %v)", id, seen)
		}
	}
	for id := range seen {
		if strings.ContainsRune(id, 0) || len(id) > 1024 {
			t.Errorf("a ledger line keeps the unreachable run id %q", id)
		}
	}
	status, body := c.get("/admin/index/observability/run/report", "X-Run-Id", "../../etc/passwd")
	if status != http.StatusOK {
		t.Errorf("report of ../../etc/passwd by header: HTTP %d %s", status, body)
	}
	status, body = c.get("/reports/runs/" + url.PathEscape("../../etc/passwd"))
	if status >= 500 {
		t.Errorf("escaped hostile id in the path: HTTP %d %s", status, body)
	}
}
