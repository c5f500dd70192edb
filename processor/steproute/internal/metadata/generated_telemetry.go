// Code written by hand in the style of mdatagen output.

package metadata

import (
	"errors"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"go.opentelemetry.io/collector/component"
)

// Meter returns the meter of the processor's own telemetry.
func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter(ScopeName)
}

// Tracer returns the tracer of the processor's own telemetry.
func Tracer(settings component.TelemetrySettings) trace.Tracer {
	return settings.TracerProvider.Tracer(ScopeName)
}

// TelemetryBuilder provides an interface for components to report telemetry
// as defined in metadata and user config.
type TelemetryBuilder struct {
	meter metric.Meter
	// ProcessorSteprouteStepEventsAccepted counts step events passed on
	// (span events and log records).
	ProcessorSteprouteStepEventsAccepted metric.Int64Counter
	// ProcessorSteprouteNoiseDropped counts spans (traces) and log records
	// (logs) dropped because they carry no step event.
	ProcessorSteprouteNoiseDropped metric.Int64Counter
	// ProcessorSteprouteAncestorSpans counts spans without step events kept
	// (passed on, or held for their run id) as ancestors of step-carrying
	// spans.
	ProcessorSteprouteAncestorSpans metric.Int64Counter
	// ProcessorSteprouteNormalizationFixes counts changes made to step
	// events while normalising them, by attribute "fix".
	ProcessorSteprouteNormalizationFixes metric.Int64Counter
	// ProcessorSteprouteRunIdsResolved counts step events by where their run
	// id came from, attribute "source".
	ProcessorSteprouteRunIdsResolved metric.Int64Counter
	// ProcessorSteprouteTraceCacheEvictions counts entries removed from the
	// per-trace run id memory, by attribute "reason" (size or ttl).
	ProcessorSteprouteTraceCacheEvictions metric.Int64Counter
	// ProcessorSteprouteEventsHeld counts step events held while waiting
	// for the run id of their trace.
	ProcessorSteprouteEventsHeld metric.Int64Counter
	// ProcessorSteprouteEventsReleased counts held step events released
	// with a run id learned while they waited.
	ProcessorSteprouteEventsReleased metric.Int64Counter
	// ProcessorSteprouteEventsTimedOut counts held step events sent with the
	// fallback run id, by attribute "reason" (timeout, pressure, shutdown).
	ProcessorSteprouteEventsTimedOut metric.Int64Counter
	// ProcessorSteprouteHoldCorruptRecords counts stretches of a hold log
	// segment skipped at start as corrupt or torn.
	ProcessorSteprouteHoldCorruptRecords metric.Int64Counter
	// ProcessorSteprouteHoldWriteErrors counts calls refused (with a
	// retryable error) because their held data could not be stored.
	ProcessorSteprouteHoldWriteErrors metric.Int64Counter
}

// TelemetryBuilderOption applies changes to default builder.
type TelemetryBuilderOption interface {
	apply(*TelemetryBuilder)
}

type telemetryBuilderOptionFunc func(mb *TelemetryBuilder)

func (tbof telemetryBuilderOptionFunc) apply(mb *TelemetryBuilder) {
	tbof(mb)
}

// Shutdown unregisters all registered callbacks for async instruments; the
// processor has none, so it only exists for symmetry with mdatagen output.
func (builder *TelemetryBuilder) Shutdown() {}

// NewTelemetryBuilder provides a struct with methods to update all internal telemetry
// for a component
func NewTelemetryBuilder(settings component.TelemetrySettings, options ...TelemetryBuilderOption) (*TelemetryBuilder, error) {
	builder := TelemetryBuilder{}
	for _, op := range options {
		op.apply(&builder)
	}
	builder.meter = Meter(settings)
	var err, errs error
	builder.ProcessorSteprouteStepEventsAccepted, err = builder.meter.Int64Counter(
		"otelcol_processor_steproute_step_events_accepted",
		metric.WithDescription("Number of step events (span events or log records) passed on to the next consumer [Development]"),
		metric.WithUnit("{event}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSteprouteNoiseDropped, err = builder.meter.Int64Counter(
		"otelcol_processor_steproute_noise_dropped",
		metric.WithDescription("Number of spans or log records dropped because they carry no step event [Development]"),
		metric.WithUnit("{item}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSteprouteAncestorSpans, err = builder.meter.Int64Counter(
		"otelcol_processor_steproute_ancestor_spans",
		metric.WithDescription("Number of spans without step events kept as ancestors of step-carrying spans [Development]"),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSteprouteNormalizationFixes, err = builder.meter.Int64Counter(
		"otelcol_processor_steproute_normalization_fixes",
		metric.WithDescription("Number of fixes applied to step events while normalising them, by fix [Development]"),
		metric.WithUnit("{fix}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSteprouteRunIdsResolved, err = builder.meter.Int64Counter(
		"otelcol_processor_steproute_run_ids_resolved",
		metric.WithDescription("Number of step events whose run id was resolved, by source [Development]"),
		metric.WithUnit("{event}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSteprouteTraceCacheEvictions, err = builder.meter.Int64Counter(
		"otelcol_processor_steproute_trace_cache_evictions",
		metric.WithDescription("Number of entries evicted from the per-trace run id memory, by reason [Development]"),
		metric.WithUnit("{entry}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSteprouteEventsHeld, err = builder.meter.Int64Counter(
		"otelcol_processor_steproute_events_held",
		metric.WithDescription("Number of step events held while waiting for the run id of their trace [Development]"),
		metric.WithUnit("{event}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSteprouteEventsReleased, err = builder.meter.Int64Counter(
		"otelcol_processor_steproute_events_released",
		metric.WithDescription("Number of held step events released with a run id learned while waiting [Development]"),
		metric.WithUnit("{event}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSteprouteEventsTimedOut, err = builder.meter.Int64Counter(
		"otelcol_processor_steproute_events_timed_out",
		metric.WithDescription("Number of held step events sent with the fallback run id, by reason [Development]"),
		metric.WithUnit("{event}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSteprouteHoldCorruptRecords, err = builder.meter.Int64Counter(
		"otelcol_processor_steproute_hold_corrupt_records",
		metric.WithDescription("Number of corrupt or torn stretches skipped when replaying the hold log [Development]"),
		metric.WithUnit("{record}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSteprouteHoldWriteErrors, err = builder.meter.Int64Counter(
		"otelcol_processor_steproute_hold_write_errors",
		metric.WithDescription("Number of calls refused because their held step events could not be stored in the hold log [Development]"),
		metric.WithUnit("{call}"),
	)
	errs = errors.Join(errs, err)
	return &builder, errs
}
