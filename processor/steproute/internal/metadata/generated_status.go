// Code written by hand in the style of mdatagen output.

// Package metadata contains the telemetry and build information of the
// steproute processor, laid out the way mdatagen generates it.
package metadata

import (
	"go.opentelemetry.io/collector/component"
)

var (
	// Type is the component type of the processor in collector configs.
	Type = component.MustNewType("steproute")
	// ScopeName is the instrumentation scope of the processor's own telemetry.
	ScopeName = "github.com/runledger/runledger/processor/steproute"
)

const (
	// TracesStability is the stability of the traces processor.
	TracesStability = component.StabilityLevelDevelopment
	// LogsStability is the stability of the logs processor.
	LogsStability = component.StabilityLevelDevelopment
)
