package report

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// The report of lines and spans held in memory is the report of a ledger
// file with those lines: same stop reason, timeline, spans and counts.
func TestBuildMergedIsTheFileReport(t *testing.T) {
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return ts.Add(time.Hour) }
	lines := []ledger.Line{
		{V: 1, RunID: "r", Seq: 1, TS: ts, Kind: "run.start", Status: "ok", TraceID: "t1", SpanID: "root"},
		{V: 1, RunID: "r", Seq: 2, TS: ts.Add(time.Millisecond), Kind: "embed.vllm", Status: "failed", ErrorCode: "timeout", TraceID: "t1", SpanID: "s1"},
		{V: 1, RunID: "r", Seq: 3, TS: ts.Add(2 * time.Millisecond), Kind: "run.end", Status: "failed", TraceID: "t1", SpanID: "root"},
	}
	spans := []ledger.SpanRecord{
		{RunID: "r", Start: ts, End: ts.Add(3 * time.Millisecond), TraceID: "t1", SpanID: "root", Name: "root", Status: "error"},
		{RunID: "r", Start: ts.Add(time.Millisecond), End: ts.Add(2 * time.Millisecond), TraceID: "t1", SpanID: "s1", ParentSpanID: "root", Name: "embed", Status: "error"},
	}
	var raw [][]byte
	for i := range spans {
		raw = append(raw, ledger.AppendSpan(nil, &spans[i]))
	}
	for i := range lines {
		raw = append(raw, ledger.Encode(&lines[i]))
	}
	p := writeLedger(t, raw...)
	opts := Options{RunID: "r", LedgerPath: p, Now: now, TimelineLimit: 2, TimelineOffset: 1}
	fromFile, err := BuildFile(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := BuildMerged(lines, spans, opts)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(fromFile)
	b, _ := json.Marshal(merged)
	if string(a) != string(b) {
		t.Fatalf("merged report differs from the file's:\n%s\n%s", b, a)
	}
	if merged.StopReason.Category != CategoryTimeout || len(merged.Spans) != 2 || merged.EventCount != 3 {
		t.Fatalf("report: %+v", merged)
	}
	if _, err := BuildMerged(nil, spans, opts); !errors.Is(err, ErrNoEvents) {
		t.Fatalf("no lines: %v", err)
	}
}
