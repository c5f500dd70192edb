package spancodec

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func protoBytes(t testing.TB, td ptrace.Traces) []byte {
	t.Helper()
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	return b
}

func roundTrip(t *testing.T, td ptrace.Traces) ptrace.Traces {
	t.Helper()
	var e Encoder
	b, err := e.Encode(td)
	require.NoError(t, err)
	got, err := Decode(bytes.Clone(b))
	require.NoError(t, err)
	return got
}

// randValue fills v with a random value of any type, nesting up to depth.
func randValue(r *rand.Rand, v pcommon.Value, depth int) {
	n := 7
	if depth == 0 {
		n = 5 // no slices or maps below the last level
	}
	switch r.IntN(n) {
	case 0:
		v.SetStr(randStr(r))
	case 1:
		v.SetBool(r.IntN(2) == 1)
	case 2:
		v.SetInt(r.Int64() - math.MaxInt64/2)
	case 3:
		v.SetDouble(r.NormFloat64() * 1e6)
	case 4:
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		v.SetEmptyBytes().FromRaw(b)
	case 5:
		s := v.SetEmptySlice()
		for range r.IntN(4) {
			randValue(r, s.AppendEmpty(), depth-1)
		}
	case 6:
		randMap(r, v.SetEmptyMap(), depth-1)
	}
}

func randStr(r *rand.Rand) string {
	words := []string{"", "ok", "failed", "step.kind", "ann.faiss.search", "é✓", "\x00bin\xff", "top-k search over the code index"}
	if r.IntN(4) == 0 {
		return fmt.Sprint("u-", r.Uint64())
	}
	return words[r.IntN(len(words))]
}

func randMap(r *rand.Rand, m pcommon.Map, depth int) {
	for i := range r.IntN(8) {
		if r.IntN(6) == 0 {
			m.PutEmpty(fmt.Sprint("empty-", i))
			continue
		}
		randValue(r, m.PutEmpty(fmt.Sprint("k", i, randStr(r))), depth)
	}
}

func randTraces(r *rand.Rand) ptrace.Traces {
	td := ptrace.NewTraces()
	for range 1 + r.IntN(3) {
		rs := td.ResourceSpans().AppendEmpty()
		rs.SetSchemaUrl(randStr(r))
		randMap(r, rs.Resource().Attributes(), 2)
		rs.Resource().SetDroppedAttributesCount(uint32(r.IntN(3)))
		for range r.IntN(3) {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.SetSchemaUrl(randStr(r))
			ss.Scope().SetName(randStr(r))
			ss.Scope().SetVersion(randStr(r))
			randMap(r, ss.Scope().Attributes(), 1)
			for range r.IntN(4) {
				sp := ss.Spans().AppendEmpty()
				sp.SetTraceID(pcommon.TraceID{byte(r.IntN(256)), 2, 3})
				sp.SetSpanID(pcommon.SpanID{byte(r.IntN(256)), 5})
				if r.IntN(2) == 0 {
					sp.SetParentSpanID(pcommon.SpanID{9, byte(r.IntN(256))})
				}
				sp.TraceState().FromRaw([]string{"", "vendor=1,other=x"}[r.IntN(2)])
				sp.SetFlags(uint32(r.IntN(512)))
				sp.SetName(randStr(r))
				sp.SetKind(ptrace.SpanKind(r.IntN(6)))
				sp.SetStartTimestamp(pcommon.Timestamp(r.Uint64()))
				sp.SetEndTimestamp(pcommon.Timestamp(r.Uint64()))
				randMap(r, sp.Attributes(), 3)
				sp.SetDroppedAttributesCount(uint32(r.IntN(5)))
				for range r.IntN(6) {
					ev := sp.Events().AppendEmpty()
					ev.SetTimestamp(pcommon.Timestamp(r.Uint64()))
					ev.SetName(randStr(r))
					randMap(r, ev.Attributes(), 3)
					ev.SetDroppedAttributesCount(uint32(r.IntN(2)))
				}
				sp.SetDroppedEventsCount(uint32(r.IntN(3)))
				for range r.IntN(3) {
					l := sp.Links().AppendEmpty()
					l.SetTraceID(pcommon.TraceID{7, byte(r.IntN(256))})
					l.SetSpanID(pcommon.SpanID{8, byte(r.IntN(256))})
					l.TraceState().FromRaw(randStr(r))
					l.SetFlags(uint32(r.IntN(1024)))
					randMap(r, l.Attributes(), 2)
					l.SetDroppedAttributesCount(uint32(r.IntN(2)))
				}
				sp.SetDroppedLinksCount(uint32(r.IntN(3)))
				sp.Status().SetCode(ptrace.StatusCode(r.IntN(3)))
				sp.Status().SetMessage(randStr(r))
			}
		}
	}
	return td
}

// Every field of every span, resource and scope comes back: the protobuf
// encodings of what went in and what came out are identical.
func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var e Encoder // reused, as the hold buffer's pool does
	for i := range 500 {
		td := randTraces(r)
		b, err := e.Encode(td)
		require.NoError(t, err)
		got, err := Decode(bytes.Clone(b))
		require.NoError(t, err, "case %d", i)
		require.True(t, bytes.Equal(protoBytes(t, td), protoBytes(t, got)), "case %d differs", i)
	}
}

// Decode copies what it keeps: steproute decodes from a pooled buffer and
// reuses it right after. Scribbling over the input must not change the
// result (the resource and scope envelope included).
func TestDecodeDoesNotKeepItsInput(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 50 {
		td := randTraces(r)
		var e Encoder
		b, err := e.Encode(td)
		require.NoError(t, err)
		buf := bytes.Clone(b)
		got, err := Decode(buf)
		require.NoError(t, err)
		for k := range buf {
			buf[k] = 0xa5
		}
		require.True(t, bytes.Equal(protoBytes(t, td), protoBytes(t, got)), "case %d changed with its input", i)
	}
}

// steproute writes run.id on held step events right after decoding them:
// event attributes have room for it, so writing it allocates only its value
// instead of also copying the attribute slice to grow it.
func TestEventAttributesHaveRoomForRunID(t *testing.T) {
	var e Encoder
	enc, err := e.Encode(benchTraces())
	require.NoError(t, err)
	b := bytes.Clone(enc)
	putRunIDs := func(td ptrace.Traces) int {
		n := 0
		spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for i := 0; i < spans.Len(); i++ {
			evs := spans.At(i).Events()
			for j := 0; j < evs.Len(); j++ {
				evs.At(j).Attributes().PutStr("run.id", "r-1")
				n++
			}
		}
		return n
	}
	td, err := Decode(b)
	require.NoError(t, err)
	events := putRunIDs(td)
	decodeOnly := testing.AllocsPerRun(20, func() { _, _ = Decode(b) })
	withRunID := testing.AllocsPerRun(20, func() {
		td, _ := Decode(b)
		putRunIDs(td)
	})
	require.LessOrEqual(t, withRunID-decodeOnly, float64(events), "allocations for %d run ids", events)
}

func TestRoundTripEmpty(t *testing.T) {
	td := ptrace.NewTraces()
	require.Equal(t, 0, roundTrip(t, td).ResourceSpans().Len())
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	got := roundTrip(t, td)
	require.Equal(t, 1, got.ResourceSpans().At(0).ScopeSpans().Len())
	require.Equal(t, 0, got.SpanCount())
}

// Resource fields that pdata keeps but does not expose (entity refs) travel
// in the protobuf envelope and survive.
func TestRoundTripKeepsResourceEntityRefs(t *testing.T) {
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces([]byte(`{"resourceSpans":[{"resource":{
		"attributes":[{"key":"service.name","value":{"stringValue":"retriever"}}],
		"entityRefs":[{"type":"service","idKeys":["service.name"]}]},
		"scopeSpans":[{"spans":[{"traceId":"01010101010101010101010101010101","spanId":"0202020202020202","name":"stage"}]}]}]}`))
	require.NoError(t, err)
	got, err := (&ptrace.JSONMarshaler{}).MarshalTraces(roundTrip(t, td))
	require.NoError(t, err)
	require.Contains(t, string(got), `"entityRefs":[{"type":"service","idKeys":["service.name"]}]`)
	require.Equal(t, protoBytes(t, td), protoBytes(t, roundTrip(t, td)))
}

// Equal strings are stored once: a payload of many events with the same
// keys and values encodes far smaller than its protobuf.
func TestRepeatedStringsStoredOnce(t *testing.T) {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	for range 100 {
		a := sp.Events().AppendEmpty().Attributes()
		a.PutStr("step.kind", "ann.faiss.search")
		a.PutStr("step.detail", "top-k search over the code index")
	}
	var e Encoder
	b, err := e.Encode(td)
	require.NoError(t, err)
	require.Less(t, len(b), len(protoBytes(t, td))/3)
	require.Equal(t, 1, bytes.Count(b, []byte("top-k search over the code index")))
}

// Corrupt input is an error, never a panic or a huge allocation.
func TestDecodeCorrupt(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var e Encoder
	b, err := e.Encode(randTraces(r))
	require.NoError(t, err)
	b = bytes.Clone(b)
	for cut := 0; cut < len(b); cut++ {
		_, err := Decode(b[:cut])
		require.Error(t, err, "cut at %d", cut)
	}
	_, err = Decode(append(bytes.Clone(b), 0))
	require.Error(t, err, "trailing byte")
	_, err = Decode([]byte{version, 0xff, 0xff, 0xff, 0xff, 0x0f})
	require.Error(t, err, "huge string count")
	_, err = Decode([]byte{99})
	require.Error(t, err, "unknown version")
}

func FuzzDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	var e Encoder
	for range 8 {
		b, err := e.Encode(randTraces(r))
		require.NoError(f, err)
		f.Add(bytes.Clone(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		td, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes encodes again to something that decodes to
		// the same traces.
		var e Encoder
		b2, err := e.Encode(td)
		require.NoError(t, err)
		td2, err := Decode(bytes.Clone(b2))
		require.NoError(t, err)
		require.True(t, bytes.Equal(protoBytes(t, td), protoBytes(t, td2)))
	})
}

// benchTraces is one held payload as the load generator's runs produce
// it: one trace's stage spans, 5 step events each.
func benchTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "retriever")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("runledger/pipeline")
	for s := range 5 {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{1, 2, 3})
		sp.SetSpanID(pcommon.SpanID{byte(s), 5})
		sp.SetParentSpanID(pcommon.SpanID{9})
		sp.SetName("ann.faiss.search")
		sp.SetStartTimestamp(1e18)
		sp.SetEndTimestamp(1e18 + 5e6)
		for e := range 5 {
			a := sp.Events().AppendEmpty()
			a.SetName("ann.faiss.search")
			a.SetTimestamp(pcommon.Timestamp(1e18 + e))
			m := a.Attributes()
			m.PutStr("step.kind", "ann.faiss.search")
			m.PutStr("step.status", "ok")
			m.PutStr("step.detail", "top-k search over the code index")
			m.PutDouble("step.duration_ms", 12.5)
			m.PutInt("step.size.hits", int64(50+e))
			m.PutStr("step.resource.index_version", "v3")
			m.PutInt("nprobe", 16)
		}
	}
	return td
}

// BenchmarkHoldRoundTrip compares the two ways to keep a held payload:
// encode and S2-compress when it is held, decompress and decode when its
// run id arrives.
func BenchmarkHoldRoundTrip(b *testing.B) {
	td := benchTraces()
	events := float64(td.SpanCount() * 5)
	b.Run("spancodec", func(b *testing.B) {
		var e Encoder
		var raw, held []byte
		b.ReportAllocs()
		for range b.N {
			enc, err := e.Encode(td)
			if err != nil {
				b.Fatal(err)
			}
			held = s2.Encode(nil, enc)
			raw, err = s2.Decode(raw[:0], held)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Decode(raw); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(events*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(len(held))/events, "held-B/event")
	})
	b.Run("protobuf", func(b *testing.B) {
		var held []byte
		b.ReportAllocs()
		for range b.N {
			enc, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
			if err != nil {
				b.Fatal(err)
			}
			held = s2.Encode(nil, enc)
			raw, err := s2.Decode(nil, held)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(raw); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(events*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(len(held))/events, "held-B/event")
	})
}
