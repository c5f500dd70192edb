package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestInsightsAndDiffThroughTheCollector sends twelve runs through the
// built collector: the six that fail search index v3, the six that complete
// use v2. The insights (reportapi, CLI over the server and over the
// directory, TUI screen i) rank that difference first and count the cause;
// the diff of a failed run against its baseline (reportapi, CLI, TUI d)
// names the divergent stage and the index change.
func TestInsightsAndDiffThroughTheCollector(t *testing.T) {
	c := startCollector(t, "")
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
	for i := range 12 {
		bad := i%2 == 0
		id, idx, st, code, annMS := fmt.Sprintf("r-ins-good-%d", i/2), "v2", "ok", "", 40.0
		if bad {
			id, idx, st, code, annMS = fmt.Sprintf("r-ins-bad-%d", i/2), "v3", "failed", "index_not_found", 900
		}
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		stepAt := func(n int) time.Time { return at.Add(time.Duration(n) * 10 * time.Millisecond) }
		td := traces("retriever", span{name: "retrieve", traceID: traceID(byte(i + 1)), spanID: spanID(byte(i + 1)), runID: id,
			steps: []step{
				{kind: "run.start", at: stepAt(0)},
				{kind: "embed.vllm", at: stepAt(1), durationMS: 12, resources: map[string]string{"model": "bge"}},
				{kind: "ann.faiss.search", status: st, code: code, at: stepAt(2), durationMS: annMS,
					resources: map[string]string{"index_version": idx}},
				{kind: "run.end", status: st, at: stepAt(3)},
			}})
		if code := c.sendTraces(td); code != 200 {
			t.Fatalf("send run %s: HTTP %d", id, code)
		}
	}
	waitFor(t, 30*time.Second, "12 runs in the run list", func() bool {
		code, body := c.get("/reports/runs?limit=100")
		return code == 200 && strings.Count(string(body), `"run_id"`) == 12
	})

	type insightsAnswer struct {
		Runs      int `json:"runs"`
		TopCauses []struct {
			Kind      string `json:"kind"`
			ErrorCode string `json:"error_code"`
			Runs      int    `json:"runs"`
		} `json:"top_causes"`
		Differences []struct {
			Key, Value  string
			FailingRuns int `json:"failing_runs"`
		} `json:"differences"`
	}
	checkInsights := func(from string, body []byte) {
		t.Helper()
		var in insightsAnswer
		if err := json.Unmarshal(body, &in); err != nil {
			t.Fatalf("%s: %v\n%s", from, err, body)
		}
		if in.Runs != 12 || len(in.TopCauses) == 0 || in.TopCauses[0].ErrorCode != "index_not_found" || in.TopCauses[0].Runs != 6 {
			t.Fatalf("%s: runs/causes %+v", from, in)
		}
		if len(in.Differences) == 0 || in.Differences[0].Key != "resource.index_version" || in.Differences[0].Value != "v3" ||
			in.Differences[0].FailingRuns != 6 {
			t.Fatalf("%s: first difference %+v", from, in.Differences)
		}
	}
	code, body := c.get("/reports/insights?since=1h")
	if code != 200 {
		t.Fatalf("GET /reports/insights: %d %s", code, body)
	}
	checkInsights("reportapi", body)
	server := "http://" + c.reportAPI
	out, errOut, exit := runCLI(t, c.dir, "insights", "--since", "1h", "--server", server)
	if exit != 0 {
		t.Fatalf("runledger insights --server: exit %d: %s", exit, errOut)
	}
	checkInsights("CLI over the server", []byte(out))
	out, errOut, exit = runCLI(t, c.dir, "insights", "--since", "1h", "--ledger-dir", c.ledgerDir)
	if exit != 0 {
		t.Fatalf("runledger insights --ledger-dir: exit %d: %s", exit, errOut)
	}
	checkInsights("CLI over the directory", []byte(out))
	if _, _, exit := runCLI(t, c.dir, "insights", "--since", "yesterday-ish", "--server", server); exit != 2 {
		t.Fatalf("bad window: exit %d, want 2", exit)
	}

	// The newest failed run against its baseline, the newest completed run.
	type diffAnswer struct {
		A, B            string
		FirstDivergence *struct{ Kind string }       `json:"first_divergence"`
		ResourceChanges []struct{ Key, A, B string } `json:"resource_changes"`
	}
	checkDiff := func(from string, body []byte) {
		t.Helper()
		var d diffAnswer
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatalf("%s: %v\n%s", from, err, body)
		}
		if d.A != "r-ins-bad-5" || d.B != "r-ins-good-5" || d.FirstDivergence == nil || d.FirstDivergence.Kind != "ann.faiss.search" ||
			len(d.ResourceChanges) != 1 || d.ResourceChanges[0].A != "v3" || d.ResourceChanges[0].B != "v2" {
			t.Fatalf("%s: diff %s", from, body)
		}
	}
	code, body = c.get("/reports/diff?a=r-ins-bad-5&baseline=auto")
	if code != 200 {
		t.Fatalf("GET /reports/diff: %d %s", code, body)
	}
	checkDiff("reportapi", body)
	out, errOut, exit = runCLI(t, c.dir, "diff", "r-ins-bad-5", "--baseline", "auto", "--server", server)
	if exit != 0 {
		t.Fatalf("runledger diff --server: exit %d: %s", exit, errOut)
	}
	checkDiff("CLI over the server", []byte(out))
	if _, _, exit := runCLI(t, c.dir, "diff", "r-ins-nope", "r-ins-good-1", "--server", server); exit != 3 {
		t.Fatalf("diff of an unknown run: exit %d, want 3", exit)
	}

	// The TUI's screens over the same directory, in 80x24.
	cli := os.Getenv("RUNLEDGER_CLI")
	if cli == "" {
		t.Skip("RUNLEDGER_CLI not set")
	}
	cmd, ptmx, screen, copied := startTUIPty(t, cli, c.dir, c.ledgerDir)
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		ptmx.Close()
		<-copied
	}()
	seen := func(what string, subs ...string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			s, all := screen.text(), true
			for _, sub := range subs {
				all = all && strings.Contains(s, sub)
			}
			if all {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the screen never showed %s:\n%s", what, s[max(len(s)-4000, 0):])
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	press := func(k string) {
		t.Helper()
		if _, err := ptmx.Write([]byte(k)); err != nil {
			t.Fatal(err)
		}
		// One key per read: keys written together arrive as one rune run.
		time.Sleep(150 * time.Millisecond)
	}
	seen("the run list", "r-ins-good-5", "12 runs")
	press("i")
	seen("the insights screen", "insights · last 24h", "resource.index_version = v3", "index_not_found")
	press("q")
	press("j")
	press("\r")
	seen("the failed run", "run r-ins-bad-5")
	press("d")
	seen("the diff screen", "baseline r-ins-good-5", "index_version: v3 → v2")
}
