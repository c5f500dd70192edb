// Code written by hand in the style of mdatagen output.

// Package metadata contains the build information of the steplogs
// connector, laid out the way mdatagen generates it.
package metadata

import (
	"go.opentelemetry.io/collector/component"
)

var (
	// Type is the component type of the connector in collector configs.
	Type = component.MustNewType("steplogs")
	// ScopeName is the instrumentation scope of the connector.
	ScopeName = "github.com/runledger/runledger/connector/steplogs"
)

const (
	// TracesToLogsStability is the stability of the traces to logs
	// connector.
	TracesToLogsStability = component.StabilityLevelDevelopment
	// LogsToLogsStability is the stability of the logs to logs connector.
	LogsToLogsStability = component.StabilityLevelDevelopment
)
