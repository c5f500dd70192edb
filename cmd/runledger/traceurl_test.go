package main

import (
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// --trace-url (or RUNLEDGER_TRACE_URL) links the report to the trace
// backend; a template without {trace_id} is a usage error.
func TestReportTraceURL(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	writeLedger(t, dir, ledger.Line{V: ledger.Version, RunID: "r-t", Seq: 1, TS: t0, Kind: "run.start", Status: "ok",
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"})
	code, out, errOut := runCLI(t, "report", "run", "r-t", "--ledger-dir", dir, "--trace-url", "http://jaeger:16686/trace/{trace_id}")
	if code != ExitOK || !strings.Contains(out, `"4bf92f3577b34da6a3ce929d0e0e4736": "http://jaeger:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736"`) {
		t.Fatalf("exit %d stderr %q:\n%s", code, errOut, out)
	}
	t.Setenv("RUNLEDGER_TRACE_URL", "http://tempo/explore/{trace_id}")
	code, out, _ = runCLI(t, "report", "run", "r-t", "--ledger-dir", dir, "--format", "md")
	if code != ExitOK || !strings.Contains(out, "http://tempo/explore/4bf92f3577b34da6a3ce929d0e0e4736") {
		t.Fatalf("env template: exit %d:\n%s", code, out)
	}
	code, _, errOut = runCLI(t, "report", "run", "r-t", "--ledger-dir", dir, "--trace-url", "http://jaeger/trace/")
	if code != ExitUsage || !strings.Contains(errOut, "{trace_id}") {
		t.Fatalf("bad template: exit %d stderr %q", code, errOut)
	}
}
