package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Malformed and oversized input gets an OTLP error or a counted drop; the
// collector keeps running and every ledger stays valid JSONL.
func TestBadInputKeepsCollectorAndLedgersHealthy(t *testing.T) {
	c := startCollector(t, "")
	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)

	if code := c.post("/v1/traces", "application/x-protobuf", []byte{0xff, 0xff, 0xff, 0x01, 0x02}); code != http.StatusBadRequest {
		t.Errorf("malformed protobuf: HTTP %d, want 400", code)
	}
	if code := c.post("/v1/traces", "application/json", []byte(`{"resourceSpans":[{`)); code != http.StatusBadRequest {
		t.Errorf("malformed JSON: HTTP %d, want 400", code)
	}

	// Over the receiver's 20 MiB request limit.
	if code := c.post("/v1/traces", "application/x-protobuf", make([]byte, 21<<20)); code < 400 || code >= 500 {
		t.Errorf("oversized request: HTTP %d, want a 4xx", code)
	}

	big := strings.Repeat("d", 1<<20)
	many := map[string]any{}
	for i := 0; i < 10000; i++ {
		many["a"+itoa(i)] = int64(i)
	}
	deep := map[string]any{"v": "leaf"}
	for i := 0; i < 60; i++ {
		deep = map[string]any{"n": deep}
	}
	td := traces("svc", span{name: "s", traceID: traceID(40), spanID: spanID(1), runID: "e2e-bad-input", steps: []step{
		{kind: "run.start", at: t0},
		{kind: "big.detail", at: t0.Add(time.Millisecond), detail: big},
		{kind: "many.attrs", at: t0.Add(2 * time.Millisecond), attrs: many},
		{kind: "deep.attrs", at: t0.Add(3 * time.Millisecond), attrs: map[string]any{"deep": deep}},
		{kind: "bad.utf8", at: t0.Add(4 * time.Millisecond), detail: "bad \xff\xfe bytes"},
	}})
	// A span without trace id next to the good one.
	noTrace := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty()
	noTrace.SetName("no-trace-id")
	ev := noTrace.Events().AppendEmpty()
	ev.Attributes().PutStr("step.kind", "orphan.step")
	code := c.sendTraces(td)
	if code != http.StatusOK && code != http.StatusBadRequest {
		t.Fatalf("hostile batch: HTTP %d, want 200 (normalised) or 400 (rejected)", code)
	}
	if code == http.StatusOK {
		_, lines := waitLedger(t, c, t0, "e2e-bad-input", 5)
		for _, l := range lines {
			if len(l) > 256<<10 {
				t.Errorf("a %d-byte line was written: detail and attributes must be capped", len(l))
			}
		}
		parseLines(t, lines)
	}

	if !c.alive() {
		t.Fatalf("collector died on bad input")
	}
	// And it still works.
	ok := traces("svc", span{name: "s", traceID: traceID(41), spanID: spanID(1), runID: "e2e-after-bad", steps: []step{{kind: "run.start", at: t0}}})
	if code := c.sendTraces(ok); code != http.StatusOK {
		t.Fatalf("export after bad input: HTTP %d", code)
	}
	waitLedger(t, c, t0, "e2e-after-bad", 1)
	for _, f := range c.ledgerFiles() {
		parseLines(t, readLines(t, f))
	}
}

// An OTLP retry of the same request is written once.
func TestRedeliveryIsWrittenOnce(t *testing.T) {
	c := startCollector(t, "")
	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	td := traces("svc", span{name: "s", traceID: traceID(50), spanID: spanID(1), runID: "e2e-retry", steps: []step{
		{kind: "run.start", at: t0}, {kind: "embed.vllm", at: t0.Add(time.Millisecond)},
	}})
	body, err := ptraceotlpMarshal(td)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if code := c.post("/v1/traces", "application/x-protobuf", body); code != http.StatusOK {
			t.Fatalf("export %d: HTTP %d", i, code)
		}
	}
	time.Sleep(300 * time.Millisecond)
	_, lines := waitLedger(t, c, t0, "e2e-retry", 2)
	assertSeqs(t, parseLines(t, lines))
}

// After a restart a run keeps its file and seq continues.
func TestRestartContinuesRun(t *testing.T) {
	c := startCollector(t, "")
	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	send := func(b byte, at time.Time, kind string) {
		td := traces("svc", span{name: "s", traceID: traceID(60), spanID: spanID(b), runID: "e2e-restart", steps: []step{{kind: kind, at: at}}})
		if code := c.sendTraces(td); code != http.StatusOK {
			t.Fatalf("export: HTTP %d", code)
		}
	}
	send(1, t0, "run.start")
	send(2, t0.Add(time.Millisecond), "embed.vllm")
	waitLedger(t, c, t0, "e2e-restart", 2)
	c.stop()
	bin, _ := binaries(t)
	c.start(bin, repoRoot(t)+"/config.yaml")
	send(3, t0.Add(2*time.Millisecond), "run.end")
	_, lines := waitLedger(t, c, t0, "e2e-restart", 3)
	parsed := parseLines(t, lines)
	assertSeqs(t, parsed)
	if parsed[2].Kind != "run.end" || parsed[2].Seq != 3 {
		t.Errorf("after restart: %+v", parsed[2])
	}
	if n := len(c.ledgerFiles()); n != 1 {
		t.Errorf("%d ledger files, want 1", n)
	}
}
