package pipeline

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/trace"

	"github.com/runledger/runledger/internal/stepschema"
)

// ScopeName is the instrumentation scope of the spans and log records this
// package creates.
const ScopeName = "github.com/runledger/runledger/pipeline"

// LogEventPrefix prefixes the event name of a log-based step event: the
// record of kind "embed.vllm" has event name "step.embed.vllm".
const LogEventPrefix = "step."

const (
	statusOK        = stepschema.StatusOK
	statusFailed    = stepschema.StatusFailed
	statusCancelled = stepschema.StatusCancelled
)

// Step is one step event: what a stage of a run did. Only Kind is required.
type Step struct {
	// Kind is the dotted stage name, e.g. "ann.faiss.search" (step.kind).
	Kind string
	// Status is one of ok, failed, skipped, started, cancelled; empty means ok.
	Status string
	// Detail is human text (step.detail; the body in log-events mode).
	Detail string
	// Duration is the stage duration, sent as step.duration_ms (double) when positive.
	Duration time.Duration
	// ErrorCode is a machine-readable code such as "timeout" (step.error.code).
	ErrorCode string
	// Sizes are sent as step.size.<name>: integral values as int attributes,
	// others as double attributes.
	Sizes map[string]float64
	// Resources are sent as step.resource.<name> string attributes.
	Resources map[string]string
	// Attrs are sent unchanged (e.g. nprobe, channels).
	Attrs []attribute.KeyValue
	// Time is the event time; zero means now.
	Time time.Time
}

// Attributes returns the StepEvent contract v1 attributes of s in a fixed
// order: kind, status, detail, duration, error code, sizes and resources
// (sorted by name), run.id (when runID is not empty), then s.Attrs.
// Empty optional fields are left out; an empty status becomes "ok".
func (s Step) Attributes(runID string) []attribute.KeyValue {
	return s.attributes(runID, true)
}

func (s Step) attributes(runID string, withDetail bool) []attribute.KeyValue {
	kv := make([]attribute.KeyValue, 0, 6+len(s.Sizes)+len(s.Resources)+len(s.Attrs))
	status := s.Status
	if status == "" {
		status = statusOK
	}
	kv = append(kv,
		attribute.String(stepschema.AttrKind, s.Kind),
		attribute.String(stepschema.AttrStatus, status))
	if withDetail && s.Detail != "" {
		kv = append(kv, attribute.String(stepschema.AttrDetail, s.Detail))
	}
	if s.Duration > 0 {
		kv = append(kv, attribute.Float64(stepschema.AttrDurationMS, float64(s.Duration)/float64(time.Millisecond)))
	}
	if s.ErrorCode != "" {
		kv = append(kv, attribute.String(stepschema.AttrErrorCode, s.ErrorCode))
	}
	for _, name := range sortedKeys(s.Sizes) {
		kv = append(kv, sizeAttr(stepschema.PrefixSize+name, s.Sizes[name]))
	}
	for _, name := range sortedKeys(s.Resources) {
		kv = append(kv, attribute.String(stepschema.PrefixResource+name, s.Resources[name]))
	}
	if runID != "" {
		kv = append(kv, attribute.String(stepschema.AttrRunID, runID))
	}
	return append(kv, s.Attrs...)
}

// sizeAttr sends integral values that fit an int64 as int attributes.
func sizeAttr(key string, v float64) attribute.KeyValue {
	if v == math.Trunc(v) && v >= math.MinInt64 && v < math.MaxInt64 {
		return attribute.Int64(key, int64(v))
	}
	return attribute.Float64(key, v)
}

func sortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Mode selects how an Emitter sends step events.
type Mode string

const (
	// ModeSpanEvents adds each step as an event to the span in the context
	// (event name = kind). It is the default.
	ModeSpanEvents Mode = "span-events"
	// ModeLogEvents emits each step as a log record through the OpenTelemetry
	// Logs API, correlated with the span in the context (OTEP 4430).
	ModeLogEvents Mode = "log-events"
)

// ParseMode parses a mode name: "" and "span-events" (or "span", "spans")
// give ModeSpanEvents, "log-events" (or "log", "logs") give ModeLogEvents.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "span-events", "span", "spans":
		return ModeSpanEvents, nil
	case "log-events", "log", "logs":
		return ModeLogEvents, nil
	}
	return "", fmt.Errorf("pipeline: unknown emission mode %q (want span-events or log-events)", s)
}

// Emitter sends step events in one Mode. The zero value is not usable; use
// NewEmitter. An Emitter is safe for concurrent use.
type Emitter struct {
	mode   Mode
	tp     trace.TracerProvider
	logger log.Logger
}

// defaultEmitter is used when the context carries no Emitter: span events,
// child spans from the provider of the span in the context. It is never
// modified.
var defaultEmitter = &Emitter{mode: ModeSpanEvents}

// NewEmitter returns an Emitter for mode. tp creates the spans of Track,
// Stage and the middleware; nil means the provider of the span in the
// context, else the global provider. lp is required for ModeLogEvents and
// ignored otherwise.
func NewEmitter(mode Mode, tp trace.TracerProvider, lp log.LoggerProvider) (*Emitter, error) {
	e := &Emitter{mode: mode, tp: tp}
	switch mode {
	case ModeSpanEvents:
	case ModeLogEvents:
		if lp == nil {
			return nil, fmt.Errorf("pipeline: mode %s needs a LoggerProvider", mode)
		}
		e.logger = lp.Logger(ScopeName)
	default:
		return nil, fmt.Errorf("pipeline: unknown emission mode %q", mode)
	}
	return e, nil
}

// Mode returns the emission mode.
func (e *Emitter) Mode() Mode { return e.mode }

// tracer returns the tracer for new spans under ctx.
func (e *Emitter) tracer(ctx context.Context) trace.Tracer {
	if e.tp != nil {
		return e.tp.Tracer(ScopeName)
	}
	if span := trace.SpanFromContext(ctx); span.SpanContext().IsValid() {
		return span.TracerProvider().Tracer(ScopeName)
	}
	return otel.GetTracerProvider().Tracer(ScopeName)
}

// Emit sends s, stamped with the run id of ctx when one is bound; a step
// without Kind is not sent. In
// span-events mode the event goes to the span in ctx and is dropped when
// that span is not recording; in log-events mode the record carries the
// trace context of ctx.
func (e *Emitter) Emit(ctx context.Context, s Step) {
	if s.Kind == "" {
		return
	}
	ts := s.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	runID := RunID(ctx)
	if e.mode == ModeLogEvents {
		var rec log.Record
		rec.SetEventName(LogEventPrefix + s.Kind)
		rec.SetTimestamp(ts)
		rec.SetObservedTimestamp(time.Now())
		sev, text := severity(s.Status)
		rec.SetSeverity(sev)
		rec.SetSeverityText(text)
		if s.Detail != "" {
			rec.SetBody(attribute.StringValue(s.Detail))
		}
		rec.AddAttributes(s.attributes(runID, false)...)
		// A cancelled request still gets its cancelled/failed steps recorded.
		e.logger.Emit(context.WithoutCancel(ctx), rec)
		return
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.AddEvent(s.Kind, trace.WithTimestamp(ts), trace.WithAttributes(s.attributes(runID, true)...))
}

func severity(status string) (log.Severity, string) {
	switch status {
	case statusFailed:
		return log.SeverityError, "ERROR"
	case statusCancelled, stepschema.StatusSkipped:
		return log.SeverityWarn, "WARN"
	}
	return log.SeverityInfo, "INFO"
}

type emitterKey struct{}

// ContextWithEmitter returns a copy of ctx whose steps (Emit, Stage, Track,
// StartRun, EndRun) are sent by e.
func ContextWithEmitter(ctx context.Context, e *Emitter) context.Context {
	return context.WithValue(ctx, emitterKey{}, e)
}

// EmitterFromContext returns the Emitter of ctx, or the default span-events
// Emitter when ctx has none.
func EmitterFromContext(ctx context.Context) *Emitter {
	if e, ok := ctx.Value(emitterKey{}).(*Emitter); ok && e != nil {
		return e
	}
	return defaultEmitter
}

// Emit sends s with the Emitter of ctx (span events on the span in ctx when
// ctx has no Emitter). See Emitter.Emit.
func Emit(ctx context.Context, s Step) {
	EmitterFromContext(ctx).Emit(ctx, s)
}
