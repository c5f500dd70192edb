// Package pipelinetest provides in-memory exporters and a harness for
// testing code instrumented with package pipeline, in either emission mode,
// without a collector.
package pipelinetest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/pipeline"
)

// LogExporter is an in-memory sdk/log Exporter. It is safe for concurrent use.
type LogExporter struct {
	mu      sync.Mutex
	records []sdklog.Record
	stopped bool
}

var _ sdklog.Exporter = (*LogExporter)(nil)

// NewLogExporter returns an empty LogExporter.
func NewLogExporter() *LogExporter { return &LogExporter{} }

// Export stores copies of records; after Shutdown it drops them.
func (e *LogExporter) Export(_ context.Context, records []sdklog.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return nil
	}
	for i := range records {
		e.records = append(e.records, records[i].Clone())
	}
	return nil
}

// Shutdown stops storing records; the stored ones stay readable.
func (e *LogExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	e.stopped = true
	e.mu.Unlock()
	return nil
}

// ForceFlush does nothing: Export stores synchronously.
func (e *LogExporter) ForceFlush(context.Context) error { return nil }

// Records returns copies of the stored records in export order.
func (e *LogExporter) Records() []sdklog.Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]sdklog.Record, len(e.records))
	for i := range e.records {
		out[i] = e.records[i].Clone()
	}
	return out
}

// Reset drops the stored records.
func (e *LogExporter) Reset() {
	e.mu.Lock()
	e.records = nil
	e.mu.Unlock()
}

// Event is a step event as it left the SDK, from either signal.
type Event struct {
	// Signal is "span" for a span event, "log" for a log record.
	Signal string
	// Name is the span event name or the log record's event name.
	Name string
	// Kind is the step.kind attribute.
	Kind string
	// Attrs are the attributes in the order they were added.
	Attrs []attribute.KeyValue
	// Body is the log record body ("" for span events).
	Body string
	// Time is the event time.
	Time time.Time
	// TraceID and SpanID identify the span the event belongs to.
	TraceID trace.TraceID
	SpanID  trace.SpanID
	// SpanName is the name of that span for span events ("" for logs).
	SpanName string
}

// Attr returns the value of attribute key and whether it is present.
func (e Event) Attr(key string) (attribute.Value, bool) {
	for _, kv := range e.Attrs {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// Status returns step.status.
func (e Event) Status() string { v, _ := e.Attr(stepschema.AttrStatus); return v.AsString() }

// ErrorCode returns step.error.code.
func (e Event) ErrorCode() string { v, _ := e.Attr(stepschema.AttrErrorCode); return v.AsString() }

// RunID returns run.id.
func (e Event) RunID() string { v, _ := e.Attr(stepschema.AttrRunID); return v.AsString() }

// Harness is a pipeline.Telemetry that exports synchronously into memory.
type Harness struct {
	// Telemetry is set up with SkipGlobal and SyncExport.
	Telemetry *pipeline.Telemetry
	// Spans receives every ended span.
	Spans *tracetest.InMemoryExporter
	// Logs receives every log record (log-events mode only).
	Logs *LogExporter
}

// New returns a Harness for mode; it is shut down when t ends.
func New(t testing.TB, mode pipeline.Mode) *Harness {
	t.Helper()
	h := &Harness{Spans: tracetest.NewInMemoryExporter(), Logs: NewLogExporter()}
	tel, err := pipeline.Setup(context.Background(), pipeline.Options{
		ServiceName:  "pipelinetest",
		Mode:         mode,
		SpanExporter: h.Spans,
		LogExporter:  h.Logs,
		SyncExport:   true,
		SkipGlobal:   true,
	})
	if err != nil {
		t.Fatalf("pipelinetest: setup: %v", err)
	}
	h.Telemetry = tel
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return h
}

// Context returns ctx with the harness's Emitter.
func (h *Harness) Context(ctx context.Context) context.Context {
	return h.Telemetry.Context(ctx)
}

// Events returns the step events (span events and log records with a
// step.kind attribute) exported so far, ordered by time; ties keep span
// events in span end order, then log records in export order.
func (h *Harness) Events() []Event {
	return StepEvents(h.Spans.GetSpans(), h.Logs.Records())
}

// StepEvents extracts the step events from spans and records, ordered by
// time (stable).
func StepEvents(spans tracetest.SpanStubs, records []sdklog.Record) []Event {
	var out []Event
	for _, s := range spans {
		for _, ev := range s.Events {
			e := Event{Signal: "span", Name: ev.Name, Attrs: slices.Clone(ev.Attributes), Time: ev.Time,
				TraceID: s.SpanContext.TraceID(), SpanID: s.SpanContext.SpanID(), SpanName: s.Name}
			if v, ok := e.Attr(stepschema.AttrKind); ok && v.AsString() != "" {
				e.Kind = v.AsString()
				out = append(out, e)
			}
		}
	}
	for i := range records {
		r := &records[i]
		e := Event{Signal: "log", Name: r.EventName(), Time: r.Timestamp(), TraceID: r.TraceID(), SpanID: r.SpanID()}
		if r.Body().Type() == attribute.STRING {
			e.Body = r.Body().AsString()
		}
		r.WalkAttributes(func(kv attribute.KeyValue) bool {
			e.Attrs = append(e.Attrs, kv)
			return true
		})
		if v, ok := e.Attr(stepschema.AttrKind); ok && v.AsString() != "" {
			e.Kind = v.AsString()
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return out
}

// Kinds returns the kinds of events in order.
func Kinds(events []Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Kind
	}
	return out
}

// Find returns the events of kind; a kind ending in "*" matches a prefix.
func Find(events []Event, kind string) []Event {
	var out []Event
	for _, e := range events {
		if e.Kind == kind || (strings.HasSuffix(kind, "*") && strings.HasPrefix(e.Kind, strings.TrimSuffix(kind, "*"))) {
			out = append(out, e)
		}
	}
	return out
}

// WaitRun waits (up to 5s) until the run.end step of runID has been
// exported, then returns the step events of that run. An HTTP client can
// see the response before the middleware has ended the root span; this
// closes that gap in tests.
func (h *Harness) WaitRun(t testing.TB, runID string) []Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var run []Event
		ended := false
		for _, e := range h.Events() {
			if e.RunID() == runID {
				run = append(run, e)
				ended = ended || e.Kind == stepschema.KindRunEnd
			}
		}
		if ended {
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipelinetest: run %s did not end; events so far: %v", runID, Kinds(run))
		}
		time.Sleep(2 * time.Millisecond)
	}
}
