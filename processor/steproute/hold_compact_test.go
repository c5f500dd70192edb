package steproute

import (
	"testing"
	"time"

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

// A held payload waits as compressed protobuf bytes and comes back as the same spans,
// with the run id on exactly the step events that waited for it.
func TestHeldTracesCompactRoundTrip(t *testing.T) {
	td := ptrace.NewTraces()
	var held tracesHeld
	p := &tracesProcessor{core: holdingCore(t)}
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
			held.add(p, rs, ss, r+1, r+1, ss.Spans().At(s), 3, []int{0, 2})
		}
	}
	ht := held.order[0]
	ht.compact()
	raw, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(want)
	if len(ht.raw) == 0 || len(ht.raw) >= len(raw) {
		t.Fatalf("payload not compacted: %d bytes held for %d bytes of protobuf", len(ht.raw), len(raw))
	}
	if err := ht.assign("r-1"); err != nil {
		t.Fatal(err)
	}
	gotB, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(ht.td)
	wantB, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(want)
	if string(gotB) != string(wantB) {
		t.Fatalf("after compact and assign:\n%s\nwant\n%s", gotB, wantB)
	}
	if steps, pending := ht.counts(); steps != 12 || pending != 8 {
		t.Fatalf("counts %d %d, want 12 8", steps, pending)
	}
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
	var held logsHeld
	for i := 0; i < sl.LogRecords().Len(); i++ {
		held.add(&logsProcessor{core: holdingCore(t)}, rl, sl, 1, 1, sl.LogRecords().At(i))
	}
	hl := held.order[0]
	hl.compact()
	if len(hl.raw) == 0 {
		t.Fatal("payload not compacted")
	}
	if err := hl.assign("r-1"); err != nil {
		t.Fatal(err)
	}
	gotB, _ := (&plog.JSONMarshaler{}).MarshalLogs(hl.ld)
	wantB, _ := (&plog.JSONMarshaler{}).MarshalLogs(want)
	if string(gotB) != string(wantB) {
		t.Fatalf("after compact and assign:\n%s\nwant\n%s", gotB, wantB)
	}
}
