package steproute

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/internal/stepschema/stepattrs"
	"github.com/runledger/runledger/processor/steproute/internal/metadata"
)

// source says where the run id of a step event came from; counted in the
// run_ids_resolved metric under attribute "source".
type source int

const (
	srcEvent source = iota
	srcSpan
	srcResource
	srcTraceCache
	srcWait
	srcFallback
	numSources
)

var sourceNames = [numSources]string{
	srcEvent:      "event",
	srcSpan:       "span",
	srcResource:   "resource",
	srcTraceCache: "trace_cache",
	srcWait:       "wait",
	srcFallback:   "fallback",
}

// fallbackReason says why held step events got the fallback run id.
type fallbackReason int

const (
	reasonTimeout fallbackReason = iota
	reasonPressure
	reasonShutdown
	numReasons
)

var reasonNames = [numReasons]string{
	reasonTimeout:  "timeout",
	reasonPressure: "pressure",
	reasonShutdown: "shutdown",
}

// telemetry wraps the TelemetryBuilder of one processor instance with the
// attribute options precomputed, so recording allocates nothing.
type telemetry struct {
	tb         *metadata.TelemetryBuilder
	fixOpts    [stepschema.NumFixes][]metric.AddOption
	sourceOpts [numSources][]metric.AddOption
	reasonOpts [numReasons][]metric.AddOption
	sizeOpts   []metric.AddOption
	ttlOpts    []metric.AddOption
}

func attrOpt(key, value string) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String(key, value)))}
}

func newTelemetry(tb *metadata.TelemetryBuilder) *telemetry {
	t := &telemetry{tb: tb, sizeOpts: attrOpt("reason", "size"), ttlOpts: attrOpt("reason", "ttl")}
	for i := range t.fixOpts {
		t.fixOpts[i] = attrOpt("fix", stepschema.Fix(i).String())
	}
	for i, name := range sourceNames {
		t.sourceOpts[i] = attrOpt("source", name)
	}
	for i, name := range reasonNames {
		t.reasonOpts[i] = attrOpt("reason", name)
	}
	return t
}

// stats accumulates the counters of one ConsumeX call (or one release of
// held data) so the meter is touched once per batch, not once per event.
type stats struct {
	accepted int64
	noise    int64
	// ancestors counts wanted ancestor spans kept (or held).
	ancestors int64
	held      int64
	released  int64
	timedOut  [numReasons]int64
	fixes     stepattrs.Fixes
	sources   [numSources]int64
}

func (t *telemetry) record(ctx context.Context, st *stats) {
	if st.accepted > 0 {
		t.tb.ProcessorSteprouteStepEventsAccepted.Add(ctx, st.accepted)
	}
	if st.noise > 0 {
		t.tb.ProcessorSteprouteNoiseDropped.Add(ctx, st.noise)
	}
	if st.ancestors > 0 {
		t.tb.ProcessorSteprouteAncestorSpans.Add(ctx, st.ancestors)
	}
	if st.held > 0 {
		t.tb.ProcessorSteprouteEventsHeld.Add(ctx, st.held)
	}
	if st.released > 0 {
		t.tb.ProcessorSteprouteEventsReleased.Add(ctx, st.released)
	}
	for i, n := range st.timedOut {
		if n > 0 {
			t.tb.ProcessorSteprouteEventsTimedOut.Add(ctx, n, t.reasonOpts[i]...)
		}
	}
	for i, n := range st.fixes {
		if n > 0 {
			t.tb.ProcessorSteprouteNormalizationFixes.Add(ctx, n, t.fixOpts[i]...)
		}
	}
	for i, n := range st.sources {
		if n > 0 {
			t.tb.ProcessorSteprouteRunIdsResolved.Add(ctx, n, t.sourceOpts[i]...)
		}
	}
}

func (t *telemetry) recordEvictions(ctx context.Context, size, ttl int64) {
	if size > 0 {
		t.tb.ProcessorSteprouteTraceCacheEvictions.Add(ctx, size, t.sizeOpts...)
	}
	if ttl > 0 {
		t.tb.ProcessorSteprouteTraceCacheEvictions.Add(ctx, ttl, t.ttlOpts...)
	}
}

func (t *telemetry) recordCorrupt(ctx context.Context, n int64) {
	t.tb.ProcessorSteprouteHoldCorruptRecords.Add(ctx, n)
}

func (t *telemetry) recordHoldWriteError(ctx context.Context) {
	t.tb.ProcessorSteprouteHoldWriteErrors.Add(ctx, 1)
}
