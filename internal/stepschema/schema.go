// Package stepschema holds the names and values of the StepEvent contract v1
// (docs/design.md §1) shared by the producer SDK, the steproute processor, the
// ledger exporter and the report engine, so that no component spells them on
// its own.
package stepschema

// Attribute keys a producer puts on a span event or log record.
const (
	// AttrKind marks a step event: a non-empty string makes an event a step.
	AttrKind = "step.kind"
	// AttrStatus is the step outcome, one of the Status* values.
	AttrStatus = "step.status"
	// AttrDetail is free human text, truncated by steproute.
	AttrDetail = "step.detail"
	// AttrDurationMS is the stage duration in milliseconds (double or int).
	AttrDurationMS = "step.duration_ms"
	// AttrErrorCode is a machine-readable error code such as "timeout".
	AttrErrorCode = "step.error.code"
	// PrefixSize prefixes size attributes, e.g. "step.size.hits".
	PrefixSize = "step.size."
	// PrefixResource prefixes resource identifiers, e.g. "step.resource.model".
	PrefixResource = "step.resource."
	// AttrRunID names the run a step belongs to; steproute always writes the
	// resolved id under this key, whatever key it was configured to read.
	AttrRunID = "run.id"
	// AttrServiceName is the OpenTelemetry resource attribute for the service.
	AttrServiceName = "service.name"
	// AttrEventName is the log record attribute that log-based events use.
	AttrEventName = "event.name"
)

// Attributes steproute adds while normalising; they land under "attrs".
const (
	// AttrDetailTruncated is true when step.detail was cut to the limit.
	AttrDetailTruncated = "detail_truncated"
	// AttrStatusRaw keeps an unknown step.status value that was mapped to ok.
	AttrStatusRaw = "status_raw"
)

// Step statuses.
const (
	StatusOK        = "ok"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
	StatusStarted   = "started"
	StatusCancelled = "cancelled"
)

// Run boundary kinds.
const (
	KindRunStart = "run.start"
	KindRunEnd   = "run.end"
)

// ValidStatus reports whether s is one of the contract's statuses.
func ValidStatus(s string) bool {
	switch s {
	case StatusOK, StatusFailed, StatusSkipped, StatusStarted, StatusCancelled:
		return true
	}
	return false
}
