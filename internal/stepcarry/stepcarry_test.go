package stepcarry

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestSpanEventRoundTrip(t *testing.T) {
	body := pcommon.NewValueEmpty()
	PutSpanEvent(body, "faiss.search", 7)
	name, index, ok := SpanEvent(body)
	if !ok || name != "faiss.search" || index != 7 {
		t.Fatalf("got %q %d %v", name, index, ok)
	}
}

// TestHostileBodies: a body from a foreign or hostile producer in a
// carried scope reads as empty, never as a crash.
func TestHostileBodies(t *testing.T) {
	for _, raw := range []any{nil, "text", int64(3), map[string]any{"span_name": 5, "index": -1},
		map[string]any{"index": int64(1) << 40}, map[string]any{"rec": "span", "parent_span_id": []byte{1}, "start": "x", "status_code": 99}} {
		body := pcommon.NewValueEmpty()
		if err := body.FromRaw(raw); err != nil {
			t.Fatal(err)
		}
		if name, index, ok := SpanEvent(body); ok || name != "" || index != 0 {
			t.Errorf("%v: read %q %d %v", raw, name, index, ok)
		}
		span := ptrace.NewSpan()
		SpanInto(span, body)
		if !span.ParentSpanID().IsEmpty() || span.StartTimestamp() != 0 || span.Status().Code() != ptrace.StatusCodeUnset {
			t.Errorf("%v: span %v %v %v", raw, span.ParentSpanID(), span.StartTimestamp(), span.Status().Code())
		}
	}
}

func TestSpanRoundTrip(t *testing.T) {
	in := ptrace.NewSpan()
	in.SetName("pipeline.run")
	in.SetParentSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	in.SetStartTimestamp(10)
	in.SetEndTimestamp(20)
	in.Status().SetCode(ptrace.StatusCodeError)
	in.Status().SetMessage("boom")
	body := pcommon.NewValueEmpty()
	PutSpan(body, in)
	if !IsSpan(body) {
		t.Fatal("not a span record")
	}
	out := ptrace.NewSpan()
	SpanInto(out, body)
	if out.Name() != in.Name() || out.ParentSpanID() != in.ParentSpanID() || out.StartTimestamp() != 10 ||
		out.EndTimestamp() != 20 || out.Status().Code() != ptrace.StatusCodeError || out.Status().Message() != "boom" {
		t.Fatalf("span changed: %v", body.AsRaw())
	}
}

func TestSourceOf(t *testing.T) {
	scope := pcommon.NewInstrumentationScope()
	if SourceOf(scope) != NotCarried {
		t.Fatal("empty scope is carried")
	}
	res := pcommon.NewMap()
	res.PutStr("service.name", "svc")
	SetScope(scope, LogRecords, res)
	if SourceOf(scope) != LogRecords {
		t.Fatal("log records scope not recognised")
	}
	scope.Attributes().PutStr(AttrSource, "other")
	if SourceOf(scope) != NotCarried {
		t.Fatal("unknown source is carried")
	}
}
