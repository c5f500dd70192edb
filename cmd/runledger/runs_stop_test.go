package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/runindex"
)

// stopRun is a run that starts at start and ends with a failed step of
// kind with code (no failed step when kind is empty).
func stopRun(id string, start time.Time, kind, code string) []ledger.Line {
	mk := func(seq uint64, kind, status string) ledger.Line {
		return ledger.Line{V: ledger.Version, RunID: id, Seq: seq, TS: start.Add(time.Duration(seq) * time.Millisecond),
			Kind: kind, Status: status, Service: "retriever"}
	}
	if kind == "" {
		return []ledger.Line{mk(1, "run.start", "ok"), mk(2, "run.end", "ok")}
	}
	step := mk(2, kind, "failed")
	step.ErrorCode = code
	return []ledger.Line{mk(1, "run.start", "ok"), step, mk(3, "run.end", "failed")}
}

// runs list says why each run stopped, in the table and in JSON, filters
// on it with --stop and --error-code, and prints run ids whole: a 26
// character ULID in the table, any id in JSON.
func TestRunsListStop(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	ulid := "01JDXKQ7Z8M3N4P5Q6R7S8T9VW"
	long := "r-" + strings.Repeat("y", 300) + "-end"
	writeLedger(t, dir, stopRun(ulid, t0, "ann.faiss.search", "index_not_found")...)
	writeLedger(t, dir, stopRun("r-slow", t0.Add(time.Minute), "embed.vllm", "deadline_exceeded")...)
	writeLedger(t, dir, stopRun(long, t0.Add(2*time.Minute), "", "")...)

	code, out, errOut := runCLI(t, "runs", "list", "--ledger-dir", dir)
	if code != ExitOK {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) != 4 || !strings.Contains(rows[0], " STOP ") {
		t.Fatalf("table:\n%s", out)
	}
	if !strings.HasPrefix(rows[3], ulid+" ") || !strings.Contains(rows[3], " error ann/index_not_found ") {
		t.Errorf("ULID row does not show the whole id and why it stopped: %q", rows[3])
	}
	if !strings.Contains(rows[2], " timeout embed/deadline_exceeded ") || !strings.Contains(rows[1], " completed ") {
		t.Errorf("rows:\n%s", out)
	}

	list := func(args ...string) runindex.Page {
		t.Helper()
		code, out, errOut := runCLI(t, append([]string{"runs", "list", "--ledger-dir", dir, "--format", "json"}, args...)...)
		var page runindex.Page
		if code != ExitOK || json.Unmarshal([]byte(out), &page) != nil {
			t.Fatalf("%v: exit %d stderr %q: %s", args, code, errOut, out)
		}
		return page
	}
	page := list()
	if len(page.Runs) != 3 || page.Runs[0].RunID != long || page.Runs[2].RunID != ulid {
		t.Fatalf("JSON ids not whole: %+v", page.Runs)
	}
	if e := page.Runs[2]; e.StopCategory != "error" || e.StopStage != "ann" || e.StopErrorCode != "index_not_found" {
		t.Fatalf("JSON stop %+v", e)
	}
	if p := list("--stop", "timeout"); len(p.Runs) != 1 || p.Runs[0].RunID != "r-slow" {
		t.Errorf("--stop timeout: %+v", p.Runs)
	}
	if p := list("--error-code", "Index-Not-Found", "--stop", "error,cancelled"); len(p.Runs) != 1 || p.Runs[0].RunID != ulid {
		t.Errorf("--error-code: %+v", p.Runs)
	}
	if code, _, errOut := runCLI(t, "runs", "list", "--ledger-dir", dir, "--stop", "failed"); code != ExitUsage || !strings.Contains(errOut, "stop") {
		t.Errorf("--stop failed: exit %d stderr %q", code, errOut)
	}
	// The error taxonomy: a missing index is config, a deadline a
	// dependency's (issue 20).
	if e := page.Runs[2]; e.StopErrorCategory != "config" {
		t.Errorf("JSON error category %+v", e)
	}
	if p := list("--error-category", "dependency"); len(p.Runs) != 1 || p.Runs[0].RunID != "r-slow" {
		t.Errorf("--error-category dependency: %+v", p.Runs)
	}
	if p := list("--error-category", "config,infra"); len(p.Runs) != 1 || p.Runs[0].RunID != ulid {
		t.Errorf("--error-category config,infra: %+v", p.Runs)
	}
	if code, _, errOut := runCLI(t, "runs", "list", "--ledger-dir", dir, "--error-category", "network"); code != ExitUsage || !strings.Contains(errOut, "error_category") {
		t.Errorf("--error-category network: exit %d stderr %q", code, errOut)
	}
}
