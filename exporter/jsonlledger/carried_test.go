package jsonlledger

// The gateway tier of docs/scale-out.md: step events carried from an agent
// by the steplogs connector, through Kafka's otlp_proto encoding, into this
// exporter's logs path, are written byte for byte as a single node writes
// them from the original traces or logs.

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/connector/steplogs"
	"github.com/runledger/runledger/internal/stepcarry"
	"github.com/runledger/runledger/internal/stepschema"
)

// carriedTraces returns traces that exercise every part of a line: the
// run id from the event, the span, the resource and the trace's fallback;
// several step events in one span (their index is part of the event id),
// one of them in another run; every attribute type, unknown statuses,
// sizes, resources, invalid UTF-8; a span without a start; an ancestor
// span with a parent and an error status; a resource without a service.
func carriedTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "retriever")
	rs.Resource().Attributes().PutStr("host.name", "gpu-7")
	rs.Resource().Attributes().PutStr("run.id", "res-run")
	spans := rs.ScopeSpans().AppendEmpty().Spans()

	span := spans.AppendEmpty()
	span.SetName("faiss.search")
	span.SetTraceID(traceA)
	span.SetSpanID(spanA)
	span.SetParentSpanID(spanB)
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(3e9)))
	span.Attributes().PutStr("run.id", "span-run")
	for i, s := range []step{
		{kind: "retrieve", at: t0.Add(1e6), attrs: map[string]any{
			"step.status": "ok", "step.duration_ms": 12.5, "step.size.hits": 40, "step.size.bytes": "1024",
			"step.resource.index": "wiki-v3", "step.detail": "fetched", "nprobe": 16, "ratio": 0.25,
			"flag": true, "tags": []any{"a", 1, 2.5}, "nested": map[string]any{"k": "v", "n": 1},
		}},
		{kind: "retrieve", at: t0.Add(1e6), attrs: map[string]any{"step.status": "weird-status", "status_raw": "x"}},
		{kind: "rerank", run: "event-run", at: t0.Add(2e6), attrs: map[string]any{
			"step.status": "error", "step.error.code": "timeout", "bad\xffkey": "bad\xfevalue",
		}},
		{kind: "rerank", at: t0.Add(3e6), attrs: map[string]any{"step.undefined": "dropped", "attributes_dropped": 3}},
	} {
		ev := span.Events().AppendEmpty()
		ev.SetName("step")
		ev.SetTimestamp(pcommon.NewTimestampFromTime(s.at))
		s.fill(ev.Attributes())
		if i == 0 {
			ev.Attributes().PutEmptyBytes("blob").FromRaw([]byte{0, 1, 2})
		}
	}
	// A span event that is not a step event, ignored by both.
	span.Events().AppendEmpty().SetName("exception")

	// No start: the span record takes its first step's time.
	nostart := spans.AppendEmpty()
	nostart.SetName("embed")
	nostart.SetTraceID(traceA)
	nostart.SetSpanID(pcommon.SpanID{0xc1, 1})
	nostart.Events().AppendEmpty().SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(5e6)))
	step{kind: "embed"}.fill(nostart.Events().At(0).Attributes())

	// An ancestor span steproute passed on: no steps, its run in run.id.
	anc := spans.AppendEmpty()
	anc.SetName("pipeline.run")
	anc.SetTraceID(traceA)
	anc.SetSpanID(spanB)
	anc.SetParentSpanID(pcommon.SpanID{0xd1, 1})
	anc.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	anc.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(9e9)))
	anc.Status().SetCode(ptrace.StatusCodeError)
	anc.Status().SetMessage("boom")
	anc.Attributes().PutStr("run.id", "span-run")
	// A span without steps or run: no record.
	plain := spans.AppendEmpty()
	plain.SetTraceID(traceA)
	plain.SetSpanID(pcommon.SpanID{0xe1, 1})

	// Another resource: no service, no run anywhere (the trace's fallback).
	rs2 := td.ResourceSpans().AppendEmpty()
	s2 := rs2.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s2.SetName("generate")
	s2.SetTraceID(pcommon.TraceID{0xf1, 9})
	s2.SetSpanID(pcommon.SpanID{0xf1, 9})
	s2.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(7e6)))
	ev := s2.Events().AppendEmpty()
	ev.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(8e6)))
	step{kind: "generate", attrs: map[string]any{"step.status": "cancelled"}}.fill(ev.Attributes())
	return td
}

// carriedLogs returns log records that exercise the logs path: two
// identical records (numbered by the exporter), a body as detail, the
// resource's run id, the fallback, no trace at all, and a scope of their
// own.
func carriedLogs() plog.Logs {
	ld := logsWith("res-run", spanA, "body detail",
		step{kind: "load", at: t0, attrs: map[string]any{"step.status": "ok"}},
		step{kind: "load", at: t0, attrs: map[string]any{"step.status": "ok"}},
		step{kind: "parse", run: "log-run", at: t0.Add(1e6)},
		step{kind: "", at: t0.Add(2e6), attrs: map[string]any{"note": "not a step"}},
	)
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "loader")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("loader.lib")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(3e6)))
	lr.SetTraceID(pcommon.TraceID{0xf2, 1})
	step{kind: "fallback"}.fill(lr.Attributes())
	lr = sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(4e6)))
	step{kind: "orphan"}.fill(lr.Attributes())
	return ld
}

// throughKafka is what an agent and Kafka do to the data: the steplogs
// connector, then otlp_proto encoding one message per resource (as the
// kafka exporter with partition_logs_by_resource_attributes does), then
// the kafka receiver's decoding. It checks that each message's resource
// holds only run.id, the partition key.
func throughKafka(t *testing.T, traces *ptrace.Traces, logs *plog.Logs) []plog.Logs {
	t.Helper()
	f := steplogs.NewFactory()
	sink := new(consumertest.LogsSink)
	set := connectortest.NewNopSettings(f.Type())
	ctx := context.Background()
	if traces != nil {
		c, err := f.CreateTracesToLogs(ctx, set, f.CreateDefaultConfig(), sink)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ConsumeTraces(ctx, *traces); err != nil {
			t.Fatal(err)
		}
	}
	if logs != nil {
		c, err := f.CreateLogsToLogs(ctx, set, f.CreateDefaultConfig(), sink)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ConsumeLogs(ctx, *logs); err != nil {
			t.Fatal(err)
		}
	}
	var msgs []plog.Logs
	for _, ld := range sink.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			if a := rl.Resource().Attributes(); a.Len() != 1 || stepschema.Lookup(firstKey(a)).Field != stepschema.FieldRunID {
				t.Fatalf("carried resource %v: want only run.id", a.AsRaw())
			}
			one := plog.NewLogs()
			rl.CopyTo(one.ResourceLogs().AppendEmpty())
			b, err := (&plog.ProtoMarshaler{}).MarshalLogs(one)
			if err != nil {
				t.Fatal(err)
			}
			back, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, back)
		}
	}
	return msgs
}

func firstKey(m pcommon.Map) string {
	for k := range m.All() {
		return k
	}
	return ""
}

// ledgerFiles returns the ledger files under dir by their relative path.
func ledgerFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".jsonl") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameLedgers fails unless both directories hold the same files with the
// same bytes.
func sameLedgers(t *testing.T, single, gateway string, wantRuns int) {
	t.Helper()
	a, b := ledgerFiles(t, single), ledgerFiles(t, gateway)
	if len(a) != wantRuns {
		t.Fatalf("single node wrote %d ledgers, want %d: %v", len(a), wantRuns, a)
	}
	for p, want := range a {
		got, ok := b[p]
		if !ok {
			t.Errorf("gateway has no %s", p)
			continue
		}
		if got != want {
			t.Errorf("%s differs:\nsingle node:\n%s\ngateway:\n%s", p, want, got)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			t.Errorf("gateway wrote %s, the single node did not", p)
		}
	}
}

func TestCarriedTracesSameLines(t *testing.T) {
	// One input, copied: attributes built from Go maps come in random
	// order.
	td := carriedTraces()
	in := ptrace.NewTraces()
	td.CopyTo(in)
	single := start(t, testConfig(t), nil)
	single.consumeTraces(in)

	gw := start(t, testConfig(t), nil)
	for _, m := range throughKafka(t, &td, nil) {
		gw.consumeLogs(m)
	}
	// span-run (steps, two span records), event-run (the event naming its
	// own run), res-run (the span with no run of its own) and the second
	// trace's fallback.
	sameLedgers(t, single.cfg.Directory, gw.cfg.Directory, 4)
}

func TestCarriedLogsSameLines(t *testing.T) {
	ld := carriedLogs()
	in := plog.NewLogs()
	ld.CopyTo(in)
	single := start(t, testConfig(t), nil)
	single.consumeLogs(in)

	gw := start(t, testConfig(t), nil)
	for _, m := range throughKafka(t, nil, &ld) {
		gw.consumeLogs(m)
	}
	sameLedgers(t, single.cfg.Directory, gw.cfg.Directory, 4)
}

// TestCarriedRedeliveryDeduped: Kafka delivers a message again after a
// gateway crashed before committing its offset; the writer's dedupe
// window (by event_id, as on a single node) writes it once.
func TestCarriedRedeliveryDeduped(t *testing.T) {
	gw := start(t, testConfig(t), nil)
	td := carriedTraces()
	msgs := throughKafka(t, &td, nil)
	for _, m := range msgs {
		gw.consumeLogs(m)
	}
	before := ledgerFiles(t, gw.cfg.Directory)
	for _, m := range msgs {
		gw.consumeLogs(m)
	}
	after := ledgerFiles(t, gw.cfg.Directory)
	for p, b := range before {
		if after[p] != b {
			t.Errorf("%s changed on redelivery:\n%s\nthen\n%s", p, b, after[p])
		}
	}
	if n := gw.counter("otelcol_exporter_jsonlledger_events_deduped"); n == 0 {
		t.Error("no event counted as deduplicated")
	}
}

// TestCarriedHostile: a message in the carried format from a hostile or
// broken producer (wrong body types, a span record without its fields, a
// run id that names a path, invalid UTF-8 in the service) is written as
// well as it can be, inside the ledger directory, never a crash.
func TestCarriedHostile(t *testing.T) {
	gw := start(t, testConfig(t), nil)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("run.id", "../../etc/evil")
	sl := rl.ScopeLogs().AppendEmpty()
	res := pcommon.NewMap()
	res.PutStr("service.name", "svc\xff")
	stepcarry.SetScope(sl.Scope(), stepcarry.SpanEvents, res)
	for i, body := range []any{"a string", map[string]any{"span_name": 3, "index": "x"}, map[string]any{"index": int64(-5)}} {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTraceID(traceA)
		lr.SetSpanID(spanA)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Millisecond)))
		lr.Attributes().PutStr("step.kind", "k")
		if err := lr.Body().FromRaw(body); err != nil {
			t.Fatal(err)
		}
	}
	// A span record with nothing but its marker, and one without ids.
	for _, sid := range []pcommon.SpanID{spanB, {}} {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTraceID(traceA)
		lr.SetSpanID(sid)
		lr.Body().SetEmptyMap().PutStr("rec", "span")
	}
	gw.consumeLogs(ld)
	lines := gw.lines("../../etc/evil")
	if len(lines) != 3 {
		t.Fatalf("%d step lines, want 3", len(lines))
	}
	for _, l := range lines {
		if l.SpanName != "" || l.Service != "svc\ufffd" {
			t.Errorf("line %+v", l)
		}
	}
	_, raw := gw.file("../../etc/evil")
	if n := len(raw); n != 4 || !strings.Contains(raw[3], `"rec":"span"`) {
		t.Fatalf("want 3 steps and 1 span record:\n%s", strings.Join(raw, "\n"))
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(gw.cfg.Directory), "etc")); err == nil {
		t.Fatal("a run id wrote outside the ledger directory")
	}
}
