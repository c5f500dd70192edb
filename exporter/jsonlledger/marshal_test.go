package jsonlledger

import (
	"math"
	"reflect"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/stepschema/stepattrs"
)

var (
	testTrace = pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	testSpan  = pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8}
	testTime  = time.Date(2026, 11, 25, 10, 1, 2, 123456789, time.UTC)
)

// appendEvent is what the exporter and the writer do with e: render its
// tail, then write the line with seq.
func appendEvent(dst []byte, e *event, seq uint64) []byte {
	entries, _ := renderEntries(nil, nil, []event{*e}, &stepattrs.Step{})
	return ledger.AppendEntry(dst, &entries[0], seq)
}

func fullEvent() *event {
	m := pcommon.NewMap()
	m.PutStr("step.kind", "ann.faiss.search")
	m.PutStr("run.id", "r-42")
	m.PutStr("step.status", "ok")
	m.PutStr("step.detail", "top-k search")
	m.PutDouble("step.duration_ms", 12.5)
	m.PutInt("step.size.hits", 50)
	m.PutStr("step.resource.index_version", "v3")
	m.PutInt("nprobe", 16)
	m.PutStr("step.error.code", "")
	return &event{
		RunID: "r-42", Kind: "ann.faiss.search", Time: pcommon.NewTimestampFromTime(testTime), Attributes: m,
		TraceID: testTrace, SpanID: testSpan, SpanName: "faiss.search", Service: "retriever",
		ID: ledger.NewEventID(testTrace, testSpan, uint64(pcommon.NewTimestampFromTime(testTime)), "ann.faiss.search", 0),
	}
}

func TestAppendEventDesignExample(t *testing.T) {
	e := fullEvent()
	got := string(appendEvent(nil, e, 7))
	want := `{"v":1,"run_id":"r-42","seq":7,"ts":"2026-11-25T10:01:02.123456789Z","kind":"ann.faiss.search",` +
		`"status":"ok","detail":"top-k search","duration_ms":12.5,"sizes":{"hits":50},"resources":{"index_version":"v3"},` +
		`"attrs":{"nprobe":16},"trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"0102030405060708",` +
		`"span_name":"faiss.search","service":"retriever","event_id":"` + e.ID.String() + `"}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestAppendEventNormalisation(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("step.kind", "embed.vllm")
	m.PutStr("step.status", "weird")
	m.PutStr("step.error.code", "http_503")
	m.PutInt("step.duration_ms", 40)
	m.PutStr("step.size.vectors", " 128 ")
	m.PutStr("step.size.ratio", "0.5")
	m.PutStr("step.size.bad", "many")
	m.PutDouble("step.size.nan", math.NaN())
	m.PutInt("step.resource.port", 8000)
	m.PutStr("step.unknown", "dropped")
	m.PutDouble("score", math.Inf(1))
	m.PutEmptyBytes("blob").FromRaw([]byte{0xff, 0})
	s := m.PutEmptySlice("channels")
	s.AppendEmpty().SetStr("bm25")
	s.AppendEmpty().SetInt(2)
	mm := m.PutEmptyMap("nested")
	mm.PutBool("ok", true)
	mm.PutEmpty("nil")
	m.PutStr("bad\xff", "v\xfe")
	e := &event{RunID: "r\"1", Kind: "embed.vllm", Time: 1, Attributes: m, Body: pcommon.NewValueStr("body text"), ID: ledger.EventID{0xab}}
	got := string(appendEvent(nil, e, 1))
	want := `{"v":1,"run_id":"r\"1","seq":1,"ts":"1970-01-01T00:00:00.000000001Z","kind":"embed.vllm","status":"ok",` +
		`"error_code":"http_503","detail":"body text","duration_ms":40,"sizes":{"vectors":128,"ratio":0.5},` +
		`"resources":{"port":"8000"},"attrs":{"status_raw":"weird","score":"+Inf","blob":"/wA=","channels":["bm25",2],` +
		`"nested":{"ok":true,"nil":null},"bad\ufffd":"v\ufffd"},"event_id":"ab000000000000000000000000000000"}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	var l ledger.Line
	if err := ledger.DecodeLine([]byte(got), &l); err != nil {
		t.Fatal(err)
	}
	if l.Sizes["vectors"] != 128 || l.Attrs["status_raw"] != "weird" || *l.DurationMS != 40 {
		t.Fatalf("decoded %+v", l)
	}
}

// The step fields follow the contract as stepschema states it, the same
// rules steproute normalises with: an empty status is ok (nothing to keep),
// a step.detail that is there wins over the body even when empty, sizes and
// resources need a name, and a status_raw the processor already wrote stays
// where it is among the attributes.
func TestAppendEventFollowsStepSchema(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("step.kind", "rerank")
	m.PutStr("step.status", "")
	m.PutStr("step.detail", "")
	m.PutInt("step.size.", 3)
	m.PutStr("step.resource.", "x")
	m.PutInt("a", 1)
	m.PutStr("status_raw", "earlier")
	m.PutBool("detail_truncated", true)
	e := &event{RunID: "r", Kind: "rerank", Time: 1, Attributes: m, Body: pcommon.NewValueStr("body"), ID: ledger.EventID{1}}
	got := string(appendEvent(nil, e, 1))
	want := `{"v":1,"run_id":"r","seq":1,"ts":"1970-01-01T00:00:00.000000001Z","kind":"rerank","status":"ok",` +
		`"attrs":{"a":1,"status_raw":"earlier","detail_truncated":true},"event_id":"01000000000000000000000000000000"}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}

	// An unknown status now replaces the earlier status_raw and leads attrs.
	m.PutStr("step.status", "retrying")
	got = string(appendEvent(nil, e, 1))
	want = `{"v":1,"run_id":"r","seq":1,"ts":"1970-01-01T00:00:00.000000001Z","kind":"rerank","status":"ok",` +
		`"attrs":{"status_raw":"retrying","a":1,"detail_truncated":true},"event_id":"01000000000000000000000000000000"}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestAppendEventRoundTrip(t *testing.T) {
	e := fullEvent()
	var l ledger.Line
	if err := ledger.DecodeLine(appendEvent(nil, e, 3), &l); err != nil {
		t.Fatal(err)
	}
	if l.RunID != "r-42" || l.Seq != 3 || !l.TS.Equal(testTime) || l.Kind != "ann.faiss.search" ||
		l.Status != "ok" || *l.DurationMS != 12.5 || l.Sizes["hits"] != 50 || l.Resources["index_version"] != "v3" ||
		l.Attrs["nprobe"] != 16.0 || len(l.Attrs) != 1 || l.EventID != e.ID.String() || l.Service != "retriever" {
		t.Fatalf("decoded %+v", l)
	}
	// Re-encoding the decoded line gives the same bytes.
	if a, b := string(appendEvent(nil, e, 3)), string(ledger.Encode(&l)); a != b {
		t.Fatalf("pdata and Line encoders differ:\n%s\n%s", a, b)
	}
}

func TestAppendEventNoAllocs(t *testing.T) {
	evs := []event{*fullEvent(), *fullEvent()}
	entries := make([]ledger.Entry, 0, 2)
	tails := make([]byte, 0, 4096)
	line := make([]byte, 0, 4096)
	var st stepattrs.Step
	if n := testing.AllocsPerRun(100, func() {
		entries, tails = renderEntries(entries[:0], tails[:0], evs, &st)
		line = ledger.AppendEntry(line[:0], &entries[1], 9)
	}); n != 0 {
		t.Fatalf("rendering and writing an event allocates %v times", n)
	}
}

// The entry carries the status the line says (a status the contract does
// not know is written as ok) and what the index summary needs.
func TestRenderEntriesSummary(t *testing.T) {
	e := fullEvent()
	e.Attributes.PutStr("step.status", "bogus")
	entries, _ := renderEntries(nil, nil, []event{*e}, &stepattrs.Step{})
	got := entries[0]
	if got.Status != "ok" || got.Kind != e.Kind || got.Service != e.Service || got.RunID != e.RunID ||
		got.ID != e.ID || got.Time != int64(e.Time) {
		t.Fatalf("entry %+v", got)
	}
	var l ledger.Line
	if err := ledger.DecodeLine(ledger.AppendEntry(nil, &got, 5), &l); err != nil {
		t.Fatal(err)
	}
	want := ledger.Line{V: l.V, RunID: l.RunID, Seq: l.Seq, TS: l.TS, Kind: l.Kind, Status: l.Status, Service: l.Service}
	if s := got.Summary(5); !reflect.DeepEqual(s, want) || l.Attrs["status_raw"] != "bogus" {
		t.Fatalf("summary %+v, line %+v", s, l)
	}
}

// BenchmarkAppendEvent renders one event's tail and writes its line, what
// the exporter and the writer do per event.
func BenchmarkAppendEvent(b *testing.B) {
	evs := []event{*fullEvent()}
	entries := make([]ledger.Entry, 0, 1)
	tails := make([]byte, 0, 4096)
	buf := make([]byte, 0, 4096)
	var st stepattrs.Step
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		entries, tails = renderEntries(entries[:0], tails[:0], evs, &st)
		buf = ledger.AppendEntry(buf[:0], &entries[0], uint64(i))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
