package steproute

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func holdingCore(t *testing.T) *core {
	t.Helper()
	c, err := newCore(nopSettings(), testConfig(func(c *Config) { c.ResolveWait = time.Second }))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A held payload waits as compressed bytes (smaller than its protobuf) and
// comes back as the same spans,
// with the run id on exactly the step events that waited for it.
func TestHeldTracesCompactRoundTrip(t *testing.T) {
	td := ptrace.NewTraces()
	var held heldSet[ptrace.Traces]
	p := &tracesProcessor{core: holdingCore(t), a: tracesSignal{}}
	want := ptrace.NewTraces()
	for r := 0; r < 2; r++ {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", []string{"api", "worker"}[r])
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("scope")
		for s := 0; s < 2; s++ {
			span := ss.Spans().AppendEmpty()
			span.SetTraceID(traceID(1))
			span.SetSpanID(spanID(byte(2*r + s + 1)))
			span.SetName("stage")
			span.Attributes().PutStr("db.system", "redis")
			for e := 0; e < 3; e++ {
				ev := span.Events().AppendEmpty()
				ev.SetName("ev")
				ev.Attributes().PutStr("step.kind", "stage.k")
				ev.Attributes().PutInt("n", int64(e))
			}
			span.Events().At(1).Attributes().PutStr("run.id", "own") // carries its own id
		}
	}
	td.CopyTo(want)
	for r := 0; r < 2; r++ {
		spans := want.ResourceSpans().At(r).ScopeSpans().At(0).Spans()
		for s := 0; s < 2; s++ {
			for _, e := range []int{0, 2} {
				spans.At(s).Events().At(e).Attributes().PutStr("run.id", "r-1")
			}
		}
	}
	for r := 0; r < 2; r++ {
		rs := td.ResourceSpans().At(r)
		ss := rs.ScopeSpans().At(0)
		for s := 0; s < 2; s++ {
			holdSpan(p, &held, rs, ss, r+1, r+1, ss.Spans().At(s), 3, []int{0, 2})
		}
	}
	ht := held.order[0]
	spillRestore(t, ht)
	raw, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(want)
	if len(ht.raw) == 0 || len(ht.raw) >= len(raw) {
		t.Fatalf("payload not compacted: %d bytes held for %d bytes of protobuf", len(ht.raw), len(raw))
	}
	if err := ht.assign("r-1"); err != nil {
		t.Fatal(err)
	}
	gotB, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(ht.data)
	wantB, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(want)
	if string(gotB) != string(wantB) {
		t.Fatalf("after compact and assign:\n%s\nwant\n%s", gotB, wantB)
	}
	if steps, pending := ht.counts(); steps != 12 || pending != 8 {
		t.Fatalf("counts %d %d, want 12 8", steps, pending)
	}
}

// A compacted payload that does not decode is an error of assign (the
// caller counts its events as lost), not a panic.
func TestHeldTracesCorruptPayload(t *testing.T) {
	p := &tracesProcessor{core: holdingCore(t), a: tracesSignal{}}
	var held heldSet[ptrace.Traces]
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ss := rs.ScopeSpans().AppendEmpty()
	span := ss.Spans().AppendEmpty()
	span.SetTraceID(traceID(1))
	span.Events().AppendEmpty().Attributes().PutStr("step.kind", "stage.k")
	holdSpan(p, &held, rs, ss, 1, 1, span, 1, []int{0})
	ht := held.order[0]
	spillRestore(t, ht)
	require.NotNil(t, ht.raw)
	ht.raw = ht.raw[:len(ht.raw)/2]
	require.ErrorContains(t, ht.assign("r-1"), "held spans")
}

func TestHeldLogsCompactRoundTrip(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "api")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := 0; i < 3; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTraceID(traceID(1))
		lr.Body().SetStr("step")
		lr.Attributes().PutStr("step.kind", "stage.k")
	}
	want := plog.NewLogs()
	ld.CopyTo(want)
	for i := 0; i < 3; i++ {
		want.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(i).Attributes().PutStr("run.id", "r-1")
	}
	// add moves the records one by one, as processLogs does.
	var held heldSet[plog.Logs]
	lp := &logsProcessor{core: holdingCore(t), a: logsSignal{}}
	for i := 0; i < sl.LogRecords().Len(); i++ {
		holdRecord(lp, &held, rl, sl, 1, 1, sl.LogRecords().At(i), &batch{})
	}
	hl := held.order[0]
	spillRestore(t, hl)
	if len(hl.raw) == 0 {
		t.Fatal("payload not compacted")
	}
	if err := hl.assign("r-1"); err != nil {
		t.Fatal(err)
	}
	gotB, _ := (&plog.JSONMarshaler{}).MarshalLogs(hl.data)
	wantB, _ := (&plog.JSONMarshaler{}).MarshalLogs(want)
	if string(gotB) != string(wantB) {
		t.Fatalf("after compact and assign:\n%s\nwant\n%s", gotB, wantB)
	}
}

// Beyond compactAbove held events, newly held payloads are compacted; when
// the roots arrive every held event goes out with its run id, compacted or
// not.
func TestLargeHoldIsCompactedAndReleasedIntact(t *testing.T) {
	dir := t.TempDir()
	c, err := newCore(nopSettings(), testConfig(func(c *Config) {
		c.ResolveWait = time.Minute
		c.ResolveWaitMaxEvents = 200000
		c.HoldDirectory = dir
	}))
	if err != nil {
		t.Fatal(err)
	}
	require.NoError(t, c.Start(context.Background(), nil))
	defer func() { _ = c.Shutdown(context.Background()) }()
	sink := new(consumertest.TracesSink)
	p := &tracesProcessor{core: c, next: sink.ConsumeTraces, tel: c.tel, a: tracesSignal{}}
	const traces, steps = 2500, 25 // 62,500 held events
	send := func(td ptrace.Traces) {
		t.Helper()
		out, err := tracesSignal{}.consume(context.Background(), p, td)
		if err == nil {
			require.NoError(t, sink.ConsumeTraces(context.Background(), out))
		} else if !errors.Is(err, processorhelper.ErrSkipProcessingData) {
			t.Fatal(err)
		}
	}
	for i := 0; i < traces; i++ {
		td := ptrace.NewTraces()
		span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		span.SetTraceID(pcommon.TraceID{byte(i >> 8), byte(i), 1})
		span.SetSpanID(spanID(2))
		for e := 0; e < steps; e++ {
			span.Events().AppendEmpty().Attributes().PutStr("step.kind", "stage.k")
		}
		send(td)
	}
	inMemory := 0
	c.hold.mu.Lock()
	for _, list := range c.hold.byTrace {
		for _, e := range list {
			if !e.spilled || e.payload.(*heldData[ptrace.Traces]).raw != nil {
				inMemory++
			}
		}
	}
	c.hold.mu.Unlock()
	if inMemory != 0 {
		t.Fatalf("%d held payloads kept on the heap, want all of them only in the hold log", inMemory)
	}
	if n := c.log.Live(); n != traces {
		t.Fatalf("hold log has %d live entries, want %d", n, traces)
	}
	for i := 0; i < traces; i++ {
		td := ptrace.NewTraces()
		root := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		root.SetTraceID(pcommon.TraceID{byte(i >> 8), byte(i), 1})
		root.SetSpanID(spanID(1))
		root.Attributes().PutStr("run.id", fmt.Sprintf("run-%d", i))
		send(td)
	}
	got := map[string]int{}
	for _, td := range sink.AllTraces() {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			spans := rss.At(i).ScopeSpans().At(0).Spans()
			for k := 0; k < spans.Len(); k++ {
				tid := spans.At(k).TraceID()
				evs := spans.At(k).Events()
				for e := 0; e < evs.Len(); e++ {
					id, _ := evs.At(e).Attributes().Get("run.id")
					if want := fmt.Sprintf("run-%d", int(tid[0])<<8|int(tid[1])); id.Str() != want {
						t.Fatalf("event of trace %v has run id %q, want %q", tid, id.Str(), want)
					}
					got[id.Str()]++
				}
			}
		}
	}
	if n := c.log.Live(); n != 0 {
		t.Fatalf("hold log has %d live entries after every run id arrived, want 0", n)
	}
	if len(got) != traces || got["run-0"] != steps || got[fmt.Sprintf("run-%d", traces-1)] != steps {
		t.Fatalf("released %d runs (run-0: %d events, last: %d), want %d runs of %d", len(got), got["run-0"], got[fmt.Sprintf("run-%d", traces-1)], traces, steps)
	}
}

// spillRestore does what the hold log does to a payload: spill, then read
// back.
func spillRestore(t testing.TB, p heldPayload) {
	t.Helper()
	raw, err := p.spill()
	require.NoError(t, err)
	p.restore(raw)
}
