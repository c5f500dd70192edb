// Code written by hand in the style of mdatagen output.

package metadata

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric"
	embeddedmetric "go.opentelemetry.io/otel/metric/embedded"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	embeddedtrace "go.opentelemetry.io/otel/trace/embedded"
	nooptrace "go.opentelemetry.io/otel/trace/noop"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
)

type mockMeter struct {
	noopmetric.Meter
	name string
}
type mockMeterProvider struct {
	embeddedmetric.MeterProvider
}

func (m mockMeterProvider) Meter(name string, _ ...metric.MeterOption) metric.Meter {
	return mockMeter{name: name}
}

type mockTracer struct {
	nooptrace.Tracer
	name string
}

type mockTracerProvider struct {
	embeddedtrace.TracerProvider
}

func (m mockTracerProvider) Tracer(name string, _ ...trace.TracerOption) trace.Tracer {
	return mockTracer{name: name}
}

func TestProviders(t *testing.T) {
	set := component.TelemetrySettings{
		MeterProvider:  mockMeterProvider{},
		TracerProvider: mockTracerProvider{},
	}

	meter := Meter(set)
	m, ok := meter.(mockMeter)
	require.True(t, ok, "returned Meter not mockMeter")
	require.Equal(t, ScopeName, m.name)

	tracer := Tracer(set)
	tr, ok := tracer.(mockTracer)
	require.True(t, ok, "returned Tracer not mockTracer")
	require.Equal(t, ScopeName, tr.name)
}

func TestNewTelemetryBuilder(t *testing.T) {
	set := componenttest.NewNopTelemetrySettings()
	applied := false
	tb, err := NewTelemetryBuilder(set, telemetryBuilderOptionFunc(func(*TelemetryBuilder) {
		applied = true
	}))
	require.NoError(t, err)
	require.True(t, applied)
	defer tb.Shutdown()
}

func TestTelemetryRecorded(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	tb, err := NewTelemetryBuilder(tel.NewTelemetrySettings())
	require.NoError(t, err)
	ctx := context.Background()
	tb.ConnectorRunmetricsRunStateEvictions.Add(ctx, 1)
	tb.ConnectorRunmetricsOverflow.Add(ctx, 1)
	tb.ConnectorRunmetricsExportErrors.Add(ctx, 1)
	for _, name := range []string{
		"otelcol_connector_runmetrics_run_state_evictions",
		"otelcol_connector_runmetrics_overflow",
		"otelcol_connector_runmetrics_export_errors",
	} {
		_, err := tel.GetMetric(name)
		require.NoError(t, err, name)
	}
}
