package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// setSpan gives the span named name in td its start, end and status.
func setSpan(td ptrace.Traces, name string, start, end time.Time, code ptrace.StatusCode, msg string) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				if s := spans.At(k); s.Name() == name {
					s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
					s.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
					s.Status().SetCode(code)
					s.Status().SetMessage(msg)
				}
			}
		}
	}
}

// A run sent as SDKs send it (children first, each request a level up, the
// root with run.id last) gets its trace in the ledger: the report's spans
// are the root, the stage span without steps and the two step-carrying
// spans with their parents, times and status, not the noise span; the
// Markdown report draws the waterfall and links the trace.
func TestSpansInLedgerAndReport(t *testing.T) {
	c := startCollectorArgs(t, "", []string{"--set=extensions::reportapi::trace_url=http://jaeger:16686/trace/{trace_id}"})
	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tid := traceID(40)
	const run = "e2e-spans"
	leaves := traces("retriever",
		span{name: "embed", traceID: tid, spanID: spanID(3), parent: spanID(2), steps: []step{
			{kind: "embed.vllm", at: at(100), durationMS: 80}}},
		span{name: "faiss", traceID: tid, spanID: spanID(4), parent: spanID(2), steps: []step{
			{kind: "ann.faiss.search", status: "failed", code: "index_not_found", at: at(600), detail: "no index v3"}}},
		span{name: "noise", traceID: tid, spanID: spanID(9), parent: spanID(2)},
	)
	setSpan(leaves, "embed", at(20), at(110), ptrace.StatusCodeOk, "")
	setSpan(leaves, "faiss", at(150), at(610), ptrace.StatusCodeError, "index missing")
	setSpan(leaves, "noise", at(5), at(15), ptrace.StatusCodeUnset, "")
	middle := traces("retriever", span{name: "retrieve", traceID: tid, spanID: spanID(2), parent: spanID(1)})
	setSpan(middle, "retrieve", at(10), at(620), ptrace.StatusCodeError, "")
	root := traces("gateway", span{name: "POST /search", traceID: tid, spanID: spanID(1), runID: run, steps: []step{
		{kind: "run.start", at: at(1)}, {kind: "run.end", status: "failed", at: at(630)}}})
	setSpan(root, "POST /search", at(0), at(640), ptrace.StatusCodeUnset, "")
	for i, td := range []ptrace.Traces{leaves, middle, root} {
		if code := c.sendTraces(td); code != http.StatusOK {
			t.Fatalf("request %d: HTTP %d", i, code)
		}
	}
	path, steps := waitLedger(t, c, t0, run, 4)
	assertSeqs(t, parseLines(t, steps))
	var spans []string
	waitFor(t, 10*time.Second, "four span records", func() bool {
		spans = readSpanRecords(t, path)
		return len(spans) >= 4
	})
	if len(spans) != 4 {
		t.Fatalf("span records:\n%s", strings.Join(spans, "\n"))
	}

	status, body := c.get("/reports/runs/" + run)
	if status != http.StatusOK {
		t.Fatalf("report: HTTP %d %s", status, body)
	}
	var rep struct {
		EventCount int `json:"event_count"`
		Spans      []struct {
			SpanID     string     `json:"span_id"`
			Parent     string     `json:"parent_span_id"`
			Name       string     `json:"name"`
			Service    string     `json:"service"`
			Start      *time.Time `json:"start"`
			DurationMS float64    `json:"duration_ms"`
			Status     string     `json:"status"`
			StepCount  int        `json:"step_count"`
		} `json:"spans"`
		TraceURLs map[string]string `json:"trace_urls"`
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.EventCount != 4 || len(rep.Spans) != 4 {
		t.Fatalf("report: %d events, spans %+v", rep.EventCount, rep.Spans)
	}
	want := []struct {
		name, id, parent, service, status string
		ms                                float64
		steps                             int
	}{
		{"POST /search", spanID(1).String(), "", "gateway", "unset", 640, 2},
		{"retrieve", spanID(2).String(), spanID(1).String(), "retriever", "error", 610, 0},
		{"embed", spanID(3).String(), spanID(2).String(), "retriever", "ok", 90, 1},
		{"faiss", spanID(4).String(), spanID(2).String(), "retriever", "error", 460, 1},
	}
	for i, w := range want {
		s := rep.Spans[i]
		if s.Name != w.name || s.SpanID != w.id || s.Parent != w.parent || s.Service != w.service || s.Status != w.status ||
			s.DurationMS != w.ms || s.StepCount != w.steps || s.Start == nil {
			t.Errorf("span %d = %+v, want %+v", i, s, w)
		}
	}
	if u := rep.TraceURLs[tid.String()]; u != "http://jaeger:16686/trace/"+tid.String() {
		t.Errorf("trace_urls %v", rep.TraceURLs)
	}
	status, md := c.get("/reports/runs/"+run, "Accept", "text/markdown")
	if status != http.StatusOK || !strings.Contains(string(md), "## Spans") || !strings.Contains(string(md), "\n    faiss") ||
		strings.Contains(string(md), "noise") || !strings.Contains(string(md), "http://jaeger:16686/trace/") {
		t.Errorf("Markdown report (HTTP %d):\n%s", status, md)
	}
}
