// Code written by hand in the style of mdatagen output.

// Package metadata contains the telemetry and build information of the
// runmetrics connector, laid out the way mdatagen generates it.
package metadata

import (
	"go.opentelemetry.io/collector/component"
)

var (
	// Type is the component type of the connector in collector configs.
	Type = component.MustNewType("runmetrics")
	// ScopeName is the instrumentation scope of the connector's own
	// telemetry and of the metrics it produces.
	ScopeName = "github.com/runledger/runledger/connector/runmetrics"
)

const (
	// TracesToMetricsStability is the stability of the traces to metrics
	// connector.
	TracesToMetricsStability = component.StabilityLevelDevelopment
	// LogsToMetricsStability is the stability of the logs to metrics
	// connector.
	LogsToMetricsStability = component.StabilityLevelDevelopment
)
