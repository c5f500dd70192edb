package pipeline_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/trace"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/pipeline"
	"github.com/runledger/runledger/pipeline/pipelinetest"
)

func fullStep() pipeline.Step {
	return pipeline.Step{
		Kind:      "ann.faiss.search",
		Status:    stepschema.StatusFailed,
		Detail:    "index file missing",
		Duration:  12500 * time.Microsecond,
		ErrorCode: "index_not_found",
		Sizes:     map[string]float64{"hits": 50, "bytes": 1.5, "k": 64},
		Resources: map[string]string{"index_version": "v3", "index_path": "/idx/code.faiss"},
		Attrs:     []attribute.KeyValue{attribute.Int("nprobe", 16), attribute.StringSlice("channels", []string{"dense", "bm25"})},
	}
}

func wantFull(withDetail bool, runID string) []attribute.KeyValue {
	kv := []attribute.KeyValue{
		attribute.String(stepschema.AttrKind, "ann.faiss.search"),
		attribute.String(stepschema.AttrStatus, "failed"),
	}
	if withDetail {
		kv = append(kv, attribute.String(stepschema.AttrDetail, "index file missing"))
	}
	kv = append(kv,
		attribute.Float64(stepschema.AttrDurationMS, 12.5),
		attribute.String(stepschema.AttrErrorCode, "index_not_found"),
		attribute.Float64(stepschema.PrefixSize+"bytes", 1.5),
		attribute.Int64(stepschema.PrefixSize+"hits", 50),
		attribute.Int64(stepschema.PrefixSize+"k", 64),
		attribute.String(stepschema.PrefixResource+"index_path", "/idx/code.faiss"),
		attribute.String(stepschema.PrefixResource+"index_version", "v3"),
	)
	if runID != "" {
		kv = append(kv, attribute.String(stepschema.AttrRunID, runID))
	}
	return append(kv, attribute.Int("nprobe", 16), attribute.StringSlice("channels", []string{"dense", "bm25"}))
}

func TestEmitSpanEventAttributes(t *testing.T) {
	h := pipelinetest.New(t, pipeline.ModeSpanEvents)
	ctx := pipeline.WithRun(h.Context(context.Background()), "r-42")
	ctx, span := h.Telemetry.TracerProvider().Tracer("t").Start(ctx, "faiss.search")
	at := time.Date(2026, 11, 25, 10, 1, 2, 0, time.UTC)
	s := fullStep()
	s.Time = at
	pipeline.Emit(ctx, s)
	pipeline.Emit(ctx, pipeline.Step{Kind: "retrieval.hybrid"})
	pipeline.Emit(ctx, pipeline.Step{Detail: "no kind: not sent"})
	span.End()

	spans := h.Spans.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("spans = %d", len(spans))
	}
	evs := spans[0].Events
	if len(evs) != 2 {
		t.Fatalf("events = %d, want 2", len(evs))
	}
	if evs[0].Name != "ann.faiss.search" || !evs[0].Time.Equal(at) {
		t.Errorf("event 0 name/time = %q %v", evs[0].Name, evs[0].Time)
	}
	if got, want := evs[0].Attributes, wantFull(true, "r-42"); !reflect.DeepEqual(got, want) {
		t.Errorf("attributes\n got %v\nwant %v", got, want)
	}
	want := []attribute.KeyValue{
		attribute.String(stepschema.AttrKind, "retrieval.hybrid"),
		attribute.String(stepschema.AttrStatus, "ok"),
		attribute.String(stepschema.AttrRunID, "r-42"),
	}
	if !reflect.DeepEqual(evs[1].Attributes, want) {
		t.Errorf("minimal step attributes = %v, want %v", evs[1].Attributes, want)
	}
	// The span itself was stamped by the run-id processor.
	if !reflect.DeepEqual(spans[0].Attributes, []attribute.KeyValue{attribute.String(stepschema.AttrRunID, "r-42")}) {
		t.Errorf("span attributes = %v", spans[0].Attributes)
	}
}

func TestEmitWithoutRunOrSpan(t *testing.T) {
	h := pipelinetest.New(t, pipeline.ModeSpanEvents)
	// No span in the context: nothing to attach to, nothing panics.
	pipeline.Emit(context.Background(), pipeline.Step{Kind: "embed.vllm"})
	ctx, span := h.Telemetry.TracerProvider().Tracer("t").Start(context.Background(), "s")
	pipeline.Emit(ctx, pipeline.Step{Kind: "embed.vllm"})
	span.End()
	evs := h.Events()
	if len(evs) != 1 {
		t.Fatalf("events = %d", len(evs))
	}
	if _, ok := evs[0].Attr(stepschema.AttrRunID); ok {
		t.Errorf("run.id set without a run: %v", evs[0].Attrs)
	}
}

func TestEmitLogEvent(t *testing.T) {
	h := pipelinetest.New(t, pipeline.ModeLogEvents)
	ctx := pipeline.WithRun(h.Context(context.Background()), "r-7")
	ctx, span := h.Telemetry.TracerProvider().Tracer("t").Start(ctx, "faiss.search")
	at := time.Date(2026, 11, 25, 10, 1, 2, 0, time.UTC)
	s := fullStep()
	s.Time = at
	pipeline.Emit(ctx, s)
	pipeline.Emit(ctx, pipeline.Step{Kind: "git.blame", Status: stepschema.StatusCancelled})
	span.End()

	if evs := h.Spans.GetSpans()[0].Events; len(evs) != 0 {
		t.Errorf("log-events mode added span events: %v", evs)
	}
	recs := h.Logs.Records()
	if len(recs) != 2 {
		t.Fatalf("records = %d", len(recs))
	}
	r := recs[0]
	if r.EventName() != "step.ann.faiss.search" {
		t.Errorf("event name = %q", r.EventName())
	}
	if r.Body().AsString() != "index file missing" {
		t.Errorf("body = %v", r.Body())
	}
	if !r.Timestamp().Equal(at) || r.ObservedTimestamp().IsZero() {
		t.Errorf("timestamps = %v / %v", r.Timestamp(), r.ObservedTimestamp())
	}
	if r.Severity() != log.SeverityError || r.SeverityText() != "ERROR" {
		t.Errorf("severity = %v %q", r.Severity(), r.SeverityText())
	}
	sc := trace.SpanContextFromContext(ctx)
	if r.TraceID() != sc.TraceID() || r.SpanID() != sc.SpanID() {
		t.Errorf("record not correlated with the active span")
	}
	var got []attribute.KeyValue
	r.WalkAttributes(func(kv attribute.KeyValue) bool { got = append(got, kv); return true })
	if want := wantFull(false, "r-7"); !reflect.DeepEqual(got, want) {
		t.Errorf("attributes\n got %v\nwant %v", got, want)
	}
	if recs[1].Severity() != log.SeverityWarn || recs[1].Body().Type() != attribute.INVALID {
		t.Errorf("cancelled record: severity %v body %v", recs[1].Severity(), recs[1].Body())
	}
}

func TestStepAttributesIntegralSizes(t *testing.T) {
	s := pipeline.Step{Kind: "k", Sizes: map[string]float64{"a": 3, "b": -2, "c": 0.25, "d": 1e300}}
	got := s.Attributes("")
	want := []attribute.KeyValue{
		attribute.String(stepschema.AttrKind, "k"),
		attribute.String(stepschema.AttrStatus, "ok"),
		attribute.Int64(stepschema.PrefixSize+"a", 3),
		attribute.Int64(stepschema.PrefixSize+"b", -2),
		attribute.Float64(stepschema.PrefixSize+"c", 0.25),
		attribute.Float64(stepschema.PrefixSize+"d", 1e300),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestParseModeAndNewEmitter(t *testing.T) {
	for in, want := range map[string]pipeline.Mode{"": pipeline.ModeSpanEvents, "span-events": pipeline.ModeSpanEvents,
		"LOG-EVENTS": pipeline.ModeLogEvents, "logs": pipeline.ModeLogEvents} {
		if got, err := pipeline.ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := pipeline.ParseMode("metrics"); err == nil {
		t.Error("ParseMode(metrics) succeeded")
	}
	if _, err := pipeline.NewEmitter(pipeline.ModeLogEvents, nil, nil); err == nil {
		t.Error("log-events emitter without LoggerProvider accepted")
	}
	if e := pipeline.EmitterFromContext(context.Background()); e.Mode() != pipeline.ModeSpanEvents {
		t.Errorf("default mode = %q", e.Mode())
	}
}

func BenchmarkEmit(b *testing.B) {
	for _, mode := range []pipeline.Mode{pipeline.ModeSpanEvents, pipeline.ModeLogEvents} {
		b.Run(string(mode), func(b *testing.B) {
			b.ReportAllocs()
			h := pipelinetest.New(b, mode)
			ctx := pipeline.WithRun(h.Context(context.Background()), "bench")
			s := fullStep()
			n := 0
			for b.Loop() {
				ctx, span := h.Telemetry.TracerProvider().Tracer("b").Start(ctx, "stage")
				for range 10 {
					pipeline.Emit(ctx, s)
				}
				span.End()
				n += 10
				if n%10000 == 0 {
					h.Spans.Reset()
					h.Logs.Reset()
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
