// Code written by hand in the style of mdatagen output.

package metadata

import (
	"errors"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"go.opentelemetry.io/collector/component"
)

// Meter returns the meter of the connector's own telemetry.
func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter(ScopeName)
}

// Tracer returns the tracer of the connector's own telemetry.
func Tracer(settings component.TelemetrySettings) trace.Tracer {
	return settings.TracerProvider.Tracer(ScopeName)
}

// TelemetryBuilder provides an interface for components to report telemetry
// as defined in metadata and user config.
type TelemetryBuilder struct {
	meter metric.Meter
	// ConnectorRunmetricsRunStateEvictions counts runs whose per-run state
	// was dropped before their run.end, by attribute "reason" (size or
	// ttl).
	ConnectorRunmetricsRunStateEvictions metric.Int64Counter
	// ConnectorRunmetricsOverflow counts observations folded into a
	// metric's overflow data point, by attribute "metric".
	ConnectorRunmetricsOverflow metric.Int64Counter
	// ConnectorRunmetricsExportErrors counts flushes the next consumer
	// refused.
	ConnectorRunmetricsExportErrors metric.Int64Counter
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
// connector has none, so it only exists for symmetry with mdatagen output.
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
	builder.ConnectorRunmetricsRunStateEvictions, err = builder.meter.Int64Counter(
		"otelcol_connector_runmetrics_run_state_evictions",
		metric.WithDescription("Number of runs whose per-run state was dropped before their run.end, by reason [Development]"),
		metric.WithUnit("{run}"),
	)
	errs = errors.Join(errs, err)
	builder.ConnectorRunmetricsOverflow, err = builder.meter.Int64Counter(
		"otelcol_connector_runmetrics_overflow",
		metric.WithDescription("Number of observations folded into a metric's overflow data point (otel.metric.overflow), by metric [Development]"),
		metric.WithUnit("{observation}"),
	)
	errs = errors.Join(errs, err)
	builder.ConnectorRunmetricsExportErrors, err = builder.meter.Int64Counter(
		"otelcol_connector_runmetrics_export_errors",
		metric.WithDescription("Number of metric flushes refused by the next consumer [Development]"),
		metric.WithUnit("{flush}"),
	)
	errs = errors.Join(errs, err)
	return &builder, errs
}
