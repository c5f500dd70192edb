package jsonlledger

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/internal/ledger"
)

// Span records: a step-carrying span gets one beside its steps, with its
// timing, parent and status; a span without steps gets one only when it
// names its run (steproute passes ancestors on that way); a redelivered
// span is recorded once; seq counts steps only, across a restart too.
func TestSpanRecords(t *testing.T) {
	cfg := testConfig(t)
	h := start(t, cfg, nil)
	root := pcommon.SpanID{9, 9, 9, 9, 9, 9, 9, 9}
	td := spanWith("", "", spanA, step{kind: "ann.faiss.search", run: "r-s", at: t0.Add(time.Millisecond)})
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	span.SetParentSpanID(root)
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(40 * time.Millisecond)))
	span.Status().SetCode(ptrace.StatusCodeError)
	span.Status().SetMessage("index \"v3\" missing")

	// The root: no step events, run.id on the span.
	rootTD := spanWith("r-s", "", root)
	rs := rootTD.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	rs.SetName("retrieve")
	rs.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(-time.Millisecond)))
	rs.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(50 * time.Millisecond)))
	// A noise span: neither steps nor a run.
	noise := spanWith("", "", pcommon.SpanID{7, 7, 7, 7, 7, 7, 7, 7})

	h.consumeTraces(td)
	h.consumeTraces(td) // redelivery
	h.consumeTraces(rootTD)
	h.consumeTraces(noise)

	p, raw := h.file("r-s")
	if len(raw) != 3 {
		t.Fatalf("want step, span, root span lines:\n%s", bytes.Join(toBytes(raw), []byte("\n")))
	}
	var spans []ledger.SpanRecord
	var steps []ledger.Line
	st, err := ledger.ReadFileSpans(p, func(l *ledger.Line) error { steps = append(steps, *l); return nil },
		func(s *ledger.SpanRecord) error { spans = append(spans, *s); return nil })
	if err != nil || st.Skipped != 0 || st.Spans != 2 || len(steps) != 1 || steps[0].Seq != 1 {
		t.Fatalf("read: %+v %v steps %+v", st, err, steps)
	}
	// The exporter renders span records from pdata itself (no strings, no
	// allocation per span); they must be the ledger format's bytes exactly.
	for _, l := range raw {
		if !strings.Contains(l, `"rec":"span"`) {
			continue
		}
		var rec ledger.SpanRecord
		if err := ledger.DecodeSpan([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		if again := string(ledger.AppendSpan(nil, &rec)); again != l {
			t.Fatalf("exporter span line differs from ledger.AppendSpan:\n%s\n%s", l, again)
		}
	}
	got := spans[0]
	if got.SpanID != "a102030405060708" || got.ParentSpanID != "0909090909090909" || !got.Start.Equal(t0) ||
		!got.End.Equal(t0.Add(40*time.Millisecond)) || got.Status != "error" || got.StatusMessage != `index "v3" missing` ||
		got.Name != "faiss.search" || got.Service != "retriever" || got.RunID != "r-s" {
		t.Fatalf("span record %+v", got)
	}
	if r := spans[1]; r.SpanID != "0909090909090909" || r.ParentSpanID != "" || r.Name != "retrieve" || r.Status != "unset" {
		t.Fatalf("root record %+v", r)
	}
	if p2, _ := ledger.FindRun(cfg.Directory, "trace-a102030405060708090a0b0c0d0e0f10"); p2 != "" {
		t.Fatalf("noise span written to %s", p2)
	}
	// The step reader sees only steps, and says nothing was skipped.
	n := 0
	if st, err := ledger.ReadFile(p, func(*ledger.Line) error { n++; return nil }); err != nil || n != 1 || st.Skipped != 0 || st.Spans != 2 {
		t.Fatalf("ReadFile: %d lines, %+v, %v", n, st, err)
	}

	// After a restart the next step is seq 2 (the span lines have none),
	// and the span's redelivery is still deduplicated.
	h.stop()
	h2 := start(t, cfg, nil)
	h2.consumeTraces(td)
	h2.consumeTraces(spanWith("", "", spanB, step{kind: "hydrate.duckdb", run: "r-s", at: t0.Add(time.Second)}))
	l := h2.lines("r-s")
	if len(l) != 2 || l[1].Seq != 2 || l[1].Kind != "hydrate.duckdb" {
		t.Fatalf("steps after restart %+v", l)
	}
	b, _ := os.ReadFile(p)
	if c := bytes.Count(b, []byte(`"span_id":"a102030405060708","parent_span_id"`)); c != 1 {
		t.Fatalf("span record written %d times:\n%s", c, b)
	}
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}
