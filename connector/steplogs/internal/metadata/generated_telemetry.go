// Code written by hand in the style of mdatagen output.

package metadata

import (
	"go.opentelemetry.io/otel/metric"

	"go.opentelemetry.io/collector/component"
)

// Meter returns the meter of the connector's own telemetry.
func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter(ScopeName)
}

// TelemetryBuilder holds the connector's own metrics.
type TelemetryBuilder struct {
	meter metric.Meter
	// ConnectorSteplogsEventsDropped counts step events not carried
	// because they are larger than max_event_bytes.
	ConnectorSteplogsEventsDropped metric.Int64Counter
}

// Shutdown unregisters all registered callbacks for async instruments; the
// connector has none, so it only exists for symmetry with mdatagen output.
func (builder *TelemetryBuilder) Shutdown() {}

// NewTelemetryBuilder returns the connector's metrics on settings' meter.
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	builder := TelemetryBuilder{meter: Meter(settings)}
	var err error
	builder.ConnectorSteplogsEventsDropped, err = builder.meter.Int64Counter(
		"otelcol_connector_steplogs_events_dropped",
		metric.WithDescription("Number of step events not carried because they are larger than max_event_bytes [Development]"),
		metric.WithUnit("{event}"),
	)
	return &builder, err
}
