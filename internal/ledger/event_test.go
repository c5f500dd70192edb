package ledger

import (
	"encoding/json"
	"math"
	"regexp"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

var (
	testTrace = pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	testSpan  = pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8}
	testTime  = time.Date(2026, 11, 25, 10, 1, 2, 123456789, time.UTC)
)

func fullEvent() *Event {
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
	return &Event{
		RunID: "r-42", Kind: "ann.faiss.search", Time: pcommon.NewTimestampFromTime(testTime), Attributes: m,
		TraceID: testTrace, SpanID: testSpan, SpanName: "faiss.search", Service: "retriever",
		ID: NewEventID(testTrace, testSpan, pcommon.NewTimestampFromTime(testTime), "ann.faiss.search", 0),
	}
}

func TestAppendEventDesignExample(t *testing.T) {
	e := fullEvent()
	got := string(AppendEvent(nil, e, 7))
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
	e := &Event{RunID: "r\"1", Kind: "embed.vllm", Time: 1, Attributes: m, Body: "body text", ID: EventID{0xab}}
	got := string(AppendEvent(nil, e, 1))
	want := `{"v":1,"run_id":"r\"1","seq":1,"ts":"1970-01-01T00:00:00.000000001Z","kind":"embed.vllm","status":"ok",` +
		`"error_code":"http_503","detail":"body text","duration_ms":40,"sizes":{"vectors":128,"ratio":0.5},` +
		`"resources":{"port":"8000"},"attrs":{"status_raw":"weird","score":"+Inf","blob":"/wA=","channels":["bm25",2],` +
		`"nested":{"ok":true,"nil":null},"bad\ufffd":"v\ufffd"},"event_id":"ab000000000000000000000000000000"}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	var l Line
	if err := DecodeLine([]byte(got), &l); err != nil {
		t.Fatal(err)
	}
	if l.Sizes["vectors"] != 128 || l.Attrs["status_raw"] != "weird" || *l.DurationMS != 40 {
		t.Fatalf("decoded %+v", l)
	}
}

func TestAppendEventRoundTrip(t *testing.T) {
	e := fullEvent()
	var l Line
	if err := DecodeLine(AppendEvent(nil, e, 3), &l); err != nil {
		t.Fatal(err)
	}
	if l.RunID != "r-42" || l.Seq != 3 || !l.TS.Equal(testTime) || l.Kind != "ann.faiss.search" ||
		l.Status != "ok" || *l.DurationMS != 12.5 || l.Sizes["hits"] != 50 || l.Resources["index_version"] != "v3" ||
		l.Attrs["nprobe"] != 16.0 || len(l.Attrs) != 1 || l.EventID != e.ID.String() || l.Service != "retriever" {
		t.Fatalf("decoded %+v", l)
	}
	// Re-encoding the decoded line gives the same bytes.
	if a, b := string(AppendEvent(nil, e, 3)), string(Encode(&l)); a != b {
		t.Fatalf("pdata and Line encoders differ:\n%s\n%s", a, b)
	}
}

func TestAppendEventNoAllocs(t *testing.T) {
	e := fullEvent()
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = AppendEvent(buf[:0], e, 9) }); n != 0 {
		t.Fatalf("AppendEvent allocates %v times", n)
	}
}

func TestEventID(t *testing.T) {
	ts := pcommon.Timestamp(1234)
	id := NewEventID(testTrace, testSpan, ts, "k", 0)
	if id != NewEventID(testTrace, testSpan, ts, "k", 0) {
		t.Fatal("not deterministic")
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id.String()) {
		t.Fatalf("bad form %q", id)
	}
	variants := []EventID{
		NewEventID(pcommon.TraceID{}, testSpan, ts, "k", 0),
		NewEventID(testTrace, pcommon.SpanID{}, ts, "k", 0),
		NewEventID(testTrace, testSpan, ts+1, "k", 0),
		NewEventID(testTrace, testSpan, ts, "k2", 0),
		NewEventID(testTrace, testSpan, ts, "k", 1),
	}
	seen := map[EventID]bool{id: true}
	for i, v := range variants {
		if seen[v] {
			t.Fatalf("variant %d collides", i)
		}
		seen[v] = true
	}
	if p, err := ParseEventID(id.String()); err != nil || p != id {
		t.Fatalf("parse: %v %v", p, err)
	}
	if _, err := ParseEventID("xyz"); err == nil {
		t.Fatal("parsed garbage")
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		buf = AppendEventID(buf[:0], NewEventID(testTrace, testSpan, ts, "kind", 3))
	}); n != 0 {
		t.Fatalf("NewEventID+AppendEventID allocate %v times", n)
	}
	if !json.Valid(append(append([]byte(`"`), AppendEventID(nil, id)...), '"')) {
		t.Fatal("not a JSON string body")
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	e := fullEvent()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendEvent(buf[:0], e, uint64(i))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
