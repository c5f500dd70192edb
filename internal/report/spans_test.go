package report

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

func writeLedger(t *testing.T, lines ...[]byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "r.jsonl")
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), '\n')
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReportSpans(t *testing.T) {
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	step := func(seq uint64, kind, status, span string) []byte {
		return ledger.Encode(&ledger.Line{V: 1, RunID: "r", Seq: seq, TS: ts.Add(time.Duration(seq) * time.Millisecond),
			Kind: kind, Status: status, TraceID: "t1", SpanID: span, SpanName: "from-step", Service: "svc"})
	}
	span := func(id, parent string, from, to int, status string) []byte {
		return ledger.AppendSpan(nil, &ledger.SpanRecord{RunID: "r", Start: ts.Add(time.Duration(from) * time.Millisecond),
			End: ts.Add(time.Duration(to) * time.Millisecond), TraceID: "t1", SpanID: id, ParentSpanID: parent,
			Name: "span-" + id, Service: "svc", Status: status})
	}
	p := writeLedger(t,
		step(1, "run.start", "ok", "root"),
		step(2, "embed.vllm", "ok", "s1"),
		step(3, "ann.search", "failed", "s2"),
		span("s2", "root", 2, 9, "error"),
		step(4, "hydrate.x", "ok", "s3"), // s3 never recorded
		span("s1", "root", 1, 3, "ok"),
		span("s1", "root", 1, 4, "ok"), // recorded twice: the last record wins
		span("root", "", 0, 10, "unset"),
		span("other", "", 0, 1, "ok")[:0], // an empty line
		ledger.AppendSpan(nil, &ledger.SpanRecord{RunID: "another-run", TraceID: "t1", SpanID: "x", Start: ts}),
	)
	r, err := BuildFile(p, Options{TraceURL: "http://jaeger:16686/trace/{trace_id}"})
	if err != nil {
		t.Fatal(err)
	}
	if r.SkippedLines != 0 || r.EventCount != 4 {
		t.Fatalf("skipped %d, events %d", r.SkippedLines, r.EventCount)
	}
	var ids []string
	for _, s := range r.Spans {
		ids = append(ids, s.SpanID)
	}
	if strings.Join(ids, ",") != "root,s1,s2,s3" {
		t.Fatalf("span order %v", ids)
	}
	root, s1, s2, s3 := r.Spans[0], r.Spans[1], r.Spans[2], r.Spans[3]
	if root.ParentSpanID != "" || root.DurationMS != 10 || root.StepCount != 1 || root.Name != "span-root" {
		t.Fatalf("root %+v", root)
	}
	if s1.DurationMS != 3 || s1.ParentSpanID != "root" || s1.StepCount != 1 {
		t.Fatalf("s1 (last record wins) %+v", s1)
	}
	if s2.Status != "error" || s2.FailedSteps != 1 || s2.StepCount != 1 {
		t.Fatalf("s2 %+v", s2)
	}
	if s3.Start != nil || s3.End != nil || s3.Status != "" || s3.Name != "from-step" || s3.StepCount != 1 {
		t.Fatalf("s3, known from its step only: %+v", s3)
	}
	if r.TraceURLs["t1"] != "http://jaeger:16686/trace/t1" {
		t.Fatalf("trace urls %v", r.TraceURLs)
	}
	md := r.Markdown()
	for _, want := range []string{"## Spans", "span-root", "\n  span-s1", "\n  span-s2", "!|", "| trace t1 | http://jaeger:16686/trace/t1 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	// The step reader of the same file sees the steps only.
	n := 0
	if st, err := ledger.ReadFile(p, func(*ledger.Line) error { n++; return nil }); err != nil || n != 4 || st.Skipped != 0 {
		t.Fatalf("ReadFile %d %+v %v", n, st, err)
	}
}

// Old ledgers, without span records, get spans from their steps and no
// waterfall; hostile span data stays inert in Markdown.
func TestReportSpansWithoutRecordsAndHostile(t *testing.T) {
	r := buildTestdata(t, "completed", Options{})
	if len(r.Spans) == 0 || strings.Contains(r.Markdown(), "## Spans") {
		t.Fatalf("old ledger: %d spans, waterfall shown", len(r.Spans))
	}
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	p := writeLedger(t,
		ledger.Encode(&ledger.Line{V: 1, RunID: "r", Seq: 1, TS: ts, Kind: "a.b", Status: "ok", TraceID: "t", SpanID: "a"}),
		ledger.AppendSpan(nil, &ledger.SpanRecord{RunID: "r", Start: ts, End: ts.Add(time.Second), TraceID: "t", SpanID: "a",
			ParentSpanID: "b", Name: "\x1b[2J```evil", Status: "error", StatusMessage: "\x1b]0;x\x07"}),
		ledger.AppendSpan(nil, &ledger.SpanRecord{RunID: "r", Start: ts, End: ts, TraceID: "t", SpanID: "b", ParentSpanID: "a", Name: "cycle"}),
	)
	r, err := BuildFile(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	md := r.Markdown()
	if strings.Contains(md, "\x1b") || strings.Contains(md, "```evil") {
		t.Fatalf("hostile span name reached the Markdown raw:\n%q", md)
	}
	if strings.Count(md, "cycle") != 1 {
		t.Fatalf("a parent cycle must list each span once:\n%s", md)
	}
}

func TestSpanCap(t *testing.T) {
	b := NewBuilder(Options{})
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	_ = b.Add(&ledger.Line{V: 1, RunID: "r", Seq: 1, TS: ts, Kind: "run.start", Status: "ok"})
	for i := 0; i < MaxSpans+10; i++ {
		_ = b.AddSpan(&ledger.SpanRecord{V: 1, RunID: "r", Rec: "span", TraceID: "t", SpanID: strconv.Itoa(i), Start: ts})
	}
	r := b.Report(ledger.ReadStats{})
	if len(r.Spans) != MaxSpans || r.SpansOmitted != 10 {
		t.Fatalf("%d spans, %d omitted", len(r.Spans), r.SpansOmitted)
	}
	if md := r.Markdown(); !strings.Contains(md, "more spans") {
		t.Fatal("a huge waterfall is not cut")
	}
}

func TestValidateTraceURL(t *testing.T) {
	for tmpl, ok := range map[string]bool{
		"": true, "http://jaeger:16686/trace/{trace_id}": true,
		"https://grafana/explore?left={\"queries\":[{\"query\":\"{trace_id}\"}]}": true,
		"http://jaeger/trace/":     false, // no placeholder
		"ftp://x/{trace_id}":       false,
		"jaeger:16686/{trace_id}":  false,
		"http:///trace/{trace_id}": false,
	} {
		if err := ValidateTraceURL(tmpl); (err == nil) != ok {
			t.Errorf("ValidateTraceURL(%q) = %v, want ok=%v", tmpl, err, ok)
		}
	}
}
