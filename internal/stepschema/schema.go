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

// Conventions of the wider ecosystem that runledger reads (docs/attributes.md).
const (
	// AttrSessionID is the OpenTelemetry semantic conventions' session id.
	AttrSessionID = "session.id"
	// AttrSessionPreviousID is the session that the current one follows.
	AttrSessionPreviousID = "session.previous_id"
	// AttrGenAIConversationID is the GenAI semantic conventions' conversation id.
	AttrGenAIConversationID = "gen_ai.conversation.id"
	// AttrLangfuseSessionID is Langfuse's session attribute.
	AttrLangfuseSessionID = "langfuse.session.id"
	// AttrErrorType is the stable semantic conventions' error class; it is
	// read as the step's error code when step.error.code is absent.
	AttrErrorType = "error.type"
	// AttrExceptionType, AttrExceptionMessage and AttrExceptionStacktrace
	// are what an SDK's RecordException writes on its "exception" event.
	AttrExceptionType       = "exception.type"
	AttrExceptionMessage    = "exception.message"
	AttrExceptionStacktrace = "exception.stacktrace"
	// EventNameException is the span event name RecordException uses.
	EventNameException = "exception"
)

// DefaultRunIDKeys are the attributes read for a step's run id, in order:
// runledger's own key, then the session and conversation keys of the
// semantic conventions and of Langfuse.
func DefaultRunIDKeys() []string {
	return []string{AttrRunID, AttrSessionID, AttrGenAIConversationID, AttrLangfuseSessionID}
}

// Attributes steproute adds while normalising; they land under "attrs".
const (
	// AttrDetailTruncated is true when step.detail was cut to the limit.
	AttrDetailTruncated = "detail_truncated"
	// AttrStatusRaw keeps an unknown step.status value that was mapped to ok.
	AttrStatusRaw = "status_raw"
	// AttrRunKey names the attribute the run id was read from, when it was
	// not run.id.
	AttrRunKey = "run_key"
	// AttrPreviousRun is the run a run follows (from session.previous_id).
	AttrPreviousRun = "previous_run"
	// AttrStacktrace keeps a captured exception's stack trace, cut as
	// details are.
	AttrStacktrace = "stacktrace"
	// KindException is the kind of a step made from a recorded exception
	// (or <stage>.exception).
	KindException = "exception"
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
