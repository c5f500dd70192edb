package tui

import (
	"os"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// A ledger directory's span records reach the waterfall: spans nested
// under the root they record, the failing span marked, and the trace link
// rendered from the TraceURL template.
func TestDirSourceSpanRecords(t *testing.T) {
	dir := t.TempDir()
	p := writeRun(t, dir, waterfallRun("r-sp", base)...)
	const tA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	rec := func(id, parent, name string, from, to int, status string) []byte {
		return append(ledger.AppendSpan(nil, &ledger.SpanRecord{RunID: "r-sp", Start: at(from), End: at(to), TraceID: tA,
			SpanID: id, ParentSpanID: parent, Name: name, Service: "retriever", Status: status}), '\n')
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{
		rec("a000000000000002", "a000000000000001", "embed", 1, 119, "ok"),
		rec("a000000000000003", "a000000000000001", "faiss", 150, 620, "error"),
		rec("a000000000000001", "", "retrieve", 0, 712, "unset"),
	} {
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	src := NewDirSource(dir)
	src.TraceURL = "http://jaeger:16686/trace/{trace_id}"
	data, err := src.Run(t.Context(), "r-sp")
	if err != nil {
		t.Fatal(err)
	}
	if len(data.Report.Spans) != 4 || data.Report.Spans[0].SpanID != "a000000000000001" || data.Report.Spans[0].DurationMS != 712 {
		t.Fatalf("spans %+v", data.Report.Spans)
	}
	if len(data.Lines) != 7 || data.Report.SkippedLines != 0 {
		t.Fatalf("%d lines, %d skipped: span records must not be steps", len(data.Lines), data.Report.SkippedLines)
	}
	if data.Report.TraceURLs[tA] != "http://jaeger:16686/trace/"+tA {
		t.Fatalf("trace urls %v", data.Report.TraceURLs)
	}
	h := newHarness(t, src, Options{})
	h.keys("enter", "v")
	h.checkGeometry()
	h.mustContain("retrieve", "embed", "faiss")
}
