package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// writeInsightRuns writes failing runs on index v3 and good ones on v2,
// started in the last hour.
func writeInsightRuns(t *testing.T, dir string) {
	t.Helper()
	now := time.Now().UTC()
	for i := 0; i < 15; i++ {
		bad := i%3 == 0
		idx, status, code, end := "v2", "ok", "", "ok"
		if bad {
			idx, status, code, end = "v3", "failed", "index_not_found", "failed"
		}
		id := fmt.Sprintf("ins-%02d", i)
		at := now.Add(-time.Duration(i+1) * time.Minute)
		mk := func(seq uint64, kind, st, c string, res map[string]string) ledger.Line {
			return ledger.Line{V: ledger.Version, RunID: id, Seq: seq, TS: at.Add(time.Duration(seq) * time.Millisecond), Kind: kind,
				Status: st, ErrorCode: c, Resources: res, Service: "retriever"}
		}
		writeLedger(t, dir, mk(1, "run.start", "ok", "", nil), mk(2, "ann.faiss.search", status, code, map[string]string{"index_version": idx}),
			mk(3, "run.end", end, "", nil))
	}
}

// `runledger insights` from a directory and from a server agree, and rank
// the index version the failing runs share first.
func TestInsightsCLI(t *testing.T) {
	dir := t.TempDir()
	writeInsightRuns(t, dir)
	for name, args := range map[string][]string{
		"ledger-dir": {"--ledger-dir", dir},
		"server":     {"--server", startReportAPI(t, dir)},
	} {
		t.Run(name, func(t *testing.T) {
			var in struct {
				Runs      int `json:"runs"`
				TopCauses []struct {
					ErrorCode string `json:"error_code"`
					Runs      int    `json:"runs"`
				} `json:"top_causes"`
				Differences []struct{ Key, Value string } `json:"differences"`
			}
			var out, errOut string
			var code int
			for deadline := time.Now().Add(5 * time.Second); ; {
				code, out, errOut = runCLI(t, append([]string{"insights", "--since", "2h"}, args...)...)
				if code != ExitOK {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				if err := json.Unmarshal([]byte(out), &in); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				if in.Runs == 15 || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond) // the server's index catches up
			}
			if in.Runs != 15 || len(in.TopCauses) != 1 || in.TopCauses[0].Runs != 5 || in.TopCauses[0].ErrorCode != "index_not_found" {
				t.Fatalf("insights: %s", out)
			}
			if len(in.Differences) == 0 || in.Differences[0].Key != "resource.index_version" || in.Differences[0].Value != "v3" {
				t.Fatalf("differences: %s", out)
			}
			code, out, _ = runCLI(t, append([]string{"insights", "--since", "2h", "--format", "md"}, args...)...)
			if code != ExitOK || !strings.Contains(out, "## Top causes") || !strings.Contains(out, "resource.index_version | v3") {
				t.Fatalf("markdown (exit %d): %s", code, out)
			}
		})
	}
	if code, _, errOut := runCLI(t, "insights", "--ledger-dir", dir, "--since", "soon"); code != ExitUsage || !strings.Contains(errOut, "since") {
		t.Fatalf("bad window: exit %d %q", code, errOut)
	}
	if code, out, _ := runCLI(t, "insights", "--ledger-dir", t.TempDir()); code != ExitOK || !strings.Contains(out, `"runs": 0`) {
		t.Fatalf("empty folder: exit %d %s", code, out)
	}
}

// `runledger diff` names the first divergence and the resource change, from
// a directory and from a server; --baseline auto finds a completed run.
func TestDiffCLI(t *testing.T) {
	dir := t.TempDir()
	writeInsightRuns(t, dir) // ins-00 failed on v3; ins-01 completed on v2
	srv := startReportAPI(t, dir)
	for name, args := range map[string][]string{"ledger-dir": {"--ledger-dir", dir}, "server": {"--server", srv}} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCLI(t, append([]string{"diff", "ins-00", "ins-01"}, args...)...)
			if code != ExitOK || !strings.Contains(out, `"kind": "ann.faiss.search"`) || !strings.Contains(out, `"a": "v3"`) {
				t.Fatalf("exit %d %s\n%s", code, errOut, out)
			}
			var auto string
			for deadline := time.Now().Add(5 * time.Second); ; {
				code, auto, errOut = runCLI(t, append([]string{"diff", "ins-00", "--baseline", "auto", "--format", "md"}, args...)...)
				if code == ExitOK || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond) // the server's index catches up
			}
			if code != ExitOK || !strings.Contains(auto, "index_version: v3 → v2") {
				t.Fatalf("baseline auto: exit %d %s\n%s", code, errOut, auto)
			}
			if code, out, _ := runCLI(t, append([]string{"diff", "ins-01", "ins-01"}, args...)...); code != ExitOK || !strings.Contains(out, `"first_divergence": null`) {
				t.Fatalf("self diff: exit %d\n%s", code, out)
			}
			if code, _, _ := runCLI(t, append([]string{"diff", "ins-00", "no-such-run"}, args...)...); code != ExitNotFound {
				t.Fatalf("unknown run: exit %d", code)
			}
		})
	}
	if code, _, _ := runCLI(t, "diff", "a", "b", "--baseline", "auto", "--ledger-dir", dir); code != ExitUsage {
		t.Fatalf("both b and baseline: exit %d", code)
	}
}

func TestRunsChainCLI(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	start := func(id, prev string) ledger.Line {
		l := ledger.Line{V: ledger.Version, RunID: id, Seq: 1, TS: t0, Kind: "run.start", Status: "ok"}
		if prev != "" {
			l.Attrs = map[string]any{"previous_run": prev}
		}
		return l
	}
	end := func(id string) ledger.Line {
		return ledger.Line{V: ledger.Version, RunID: id, Seq: 2, TS: t0.Add(time.Second), Kind: "run.end", Status: "ok"}
	}
	writeLedger(t, dir, start("ch-1", ""), end("ch-1"))
	writeLedger(t, dir, start("ch-2", "ch-1"), end("ch-2"))
	for _, args := range [][]string{{"--ledger-dir", dir}, {"--server", startReportAPI(t, dir)}} {
		code, out, errOut := runCLI(t, append([]string{"runs", "chain", "ch-2"}, args...)...)
		if code != ExitOK || strings.Index(out, `"ch-2"`) > strings.Index(out, `"run_id": "ch-1"`) || !strings.Contains(out, `"run_id": "ch-1"`) {
			t.Fatalf("%v: exit %d %s\n%s", args, code, errOut, out)
		}
		if code, _, _ := runCLI(t, append([]string{"runs", "chain", "nope"}, args...)...); code != ExitNotFound {
			t.Fatalf("%v unknown: exit %d", args, code)
		}
	}
}

// report run, diff and insights take the same --format values: json, md
// and markdown (as md); anything else is a usage error naming the flag.
func TestReportFormatsAgree(t *testing.T) {
	dir := t.TempDir()
	writeInsightRuns(t, dir)
	for name, args := range map[string][]string{
		"report run": {"report", "run", "ins-00"},
		"diff":       {"diff", "ins-00", "ins-01"},
		"insights":   {"insights", "--since", "2h"},
	} {
		t.Run(name, func(t *testing.T) {
			args := append(args, "--ledger-dir", dir)
			code, md, errOut := runCLI(t, append(args, "--format", "md")...)
			if code != ExitOK || !strings.HasPrefix(md, "#") {
				t.Fatalf("--format md: exit %d %s\n%s", code, errOut, md)
			}
			code, long, errOut := runCLI(t, append(args, "--format", "markdown")...)
			if code != ExitOK || long != md {
				t.Fatalf("--format markdown: exit %d %s\n%s", code, errOut, long)
			}
			code, _, errOut = runCLI(t, append(args, "--format", "xml")...)
			if code != ExitUsage || !strings.Contains(errOut, `--format "xml" must be json or md`) {
				t.Fatalf("--format xml: exit %d %q", code, errOut)
			}
		})
	}
}
