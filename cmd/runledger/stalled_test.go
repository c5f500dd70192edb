package main

import (
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// TestReportMarkdownStalledAndWarnings: the CLI's text report of a stalled
// run names the step it stalled after and the stage that never reported,
// and prints the report's warnings.
func TestReportMarkdownStalledAndWarnings(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	mk := func(run string, seq uint64, kind string) ledger.Line {
		return ledger.Line{V: ledger.Version, RunID: run, Seq: seq, TS: t0.Add(time.Duration(seq) * time.Second),
			Kind: kind, Status: "ok", Service: "retriever"}
	}
	start := mk("r-stuck", 1, "run.start")
	start.Attrs = map[string]any{"stages": []any{"embed", "ann", "hydrate"}}
	writeLedger(t, dir, start, mk("r-stuck", 2, "embed.vllm"), mk("r-stuck", 3, "ann.faiss.search"))
	writeLedger(t, dir, mk("r-reused", 1, "run.start"), mk("r-reused", 2, "run.end"), mk("r-reused", 3, "run.start"),
		mk("r-reused", 4, "run.end"))
	for run, want := range map[string][]string{
		"r-stuck":  {"stalled after `ann.faiss.search`; stage `hydrate` never reported"},
		"r-reused": {"**Warning:**", "the run id was reused"},
	} {
		code, out, errOut := runCLI(t, "report", "run", run, "--ledger-dir", dir, "--format", "md")
		if code != ExitOK {
			t.Fatalf("%s: exit %d stderr %q", run, code, errOut)
		}
		for _, s := range want {
			if !strings.Contains(out, s) {
				t.Errorf("report of %s lacks %q:\n%s", run, s, out)
			}
		}
	}
}

// TestReportStalledUsualStage: a stalled run that declared no stages names
// the stage that came next in its service's latest completed run.
func TestReportStalledUsualStage(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	mk := func(run string, seq uint64, kind string) ledger.Line {
		return ledger.Line{V: ledger.Version, RunID: run, Seq: seq, TS: t0.Add(time.Duration(seq) * time.Second),
			Kind: kind, Status: "ok", Service: "retriever"}
	}
	writeLedger(t, dir, mk("r-good", 1, "run.start"), mk("r-good", 2, "embed.vllm"), mk("r-good", 3, "ann.faiss.search"),
		mk("r-good", 4, "hydrate.duckdb"), mk("r-good", 5, "run.end"))
	writeLedger(t, dir, mk("r-stuck", 1, "run.start"), mk("r-stuck", 2, "embed.vllm"), mk("r-stuck", 3, "ann.faiss.search"))
	code, out, errOut := runCLI(t, "report", "run", "r-stuck", "--ledger-dir", dir, "--format", "md")
	if code != ExitOK {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
	if want := "stalled after `ann.faiss.search`; stage `hydrate` never reported (it came next in run `r-good`)"; !strings.Contains(out, want) {
		t.Fatalf("report lacks %q:\n%s", want, out)
	}
	code, out, _ = runCLI(t, "report", "run", "r-stuck", "--ledger-dir", dir)
	if code != ExitOK || !strings.Contains(out, `"usual_from": "r-good"`) {
		t.Fatalf("JSON report (exit %d) lacks usual_from:\n%s", code, out)
	}
}
