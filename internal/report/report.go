// Package report builds the run report of docs/design.md §3 from a run's
// ledger: summary, per-stage statistics, errors, resources, a paged timeline
// and the inferred stop reason with a remediation. The reportapi extension and
// the runledger CLI both use it.
//
// Terms used throughout:
//
//   - kind: the step's dotted kind as written in the ledger ("embed.vllm").
//   - stage: the first dotted component of the kind ("embed.vllm" -> "embed",
//     "ann.faiss.search" -> "ann", "run.end" -> "run"). Stage statistics are
//     kept per kind (one row per kind, each row naming its stage); resources
//     are grouped per stage; remediation patterns match either.
//
// The builder is streaming: feed it lines with Builder.Add (directly usable as
// the ledger.ReadFile callback) and call Builder.Report at the end.
package report

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// Run statuses of a report.
const (
	StatusCompleted  = "completed"
	StatusFailed     = "failed"
	StatusCancelled  = "cancelled"
	StatusInProgress = "in_progress"
	StatusStalled    = "stalled"
)

// Stop reason categories.
const (
	CategoryCompleted  = "completed"
	CategoryError      = "error"
	CategoryTimeout    = "timeout"
	CategoryCancelled  = "cancelled"
	CategoryStalled    = "stalled"
	CategoryInProgress = "in_progress"
)

// Confidence levels of a stop reason.
const (
	ConfidenceHigh   = "high"
	ConfidenceMedium = "medium"
	ConfidenceLow    = "low"
)

// Defaults of Options.
const (
	// DefaultStallAfter is how long a run without run.end may be silent
	// before it is reported as stalled.
	DefaultStallAfter = 5 * time.Minute
	// DefaultTimelineLimit is the timeline page size when none is given.
	DefaultTimelineLimit = 100
	// DefaultMaxErrors bounds the errors list of a report.
	DefaultMaxErrors = 1000
	// DefaultMaxResourceValues bounds the distinct values kept per resource
	// name, per kind and per stage.
	DefaultMaxResourceValues = 100
	// DefaultMaxTraceIDs bounds the trace ids listed in a report.
	DefaultMaxTraceIDs = 1000
)

// Bounds of the numbers in a report, so that hostile ledger values (such as
// step.duration_ms = 1e308) keep every sum and percentile finite and the
// report encodable as JSON. A duration above MaxDurationMS (or a size above
// MaxSize) counts as that bound and is counted in StageStats.Clamped; the
// run duration is capped at MaxDurationMS too, so sums of capped values
// stay finite (they would need ~1e296 events to overflow). Negative,
// NaN and infinite durations and sizes are ignored (the step counts as
// untimed) and counted in StageStats.Dropped.
const (
	// MaxDurationMS is 1e12 ms, about 31.7 years.
	MaxDurationMS = 1e12
	// MaxSize bounds one step.size.<name> value.
	MaxSize = 1e18
)

// Options tune a report. The zero value is usable.
type Options struct {
	// RunID, when set, is the run being reported; lines of another run are
	// skipped and counted in SkippedLines. When empty, the first line's
	// run id is used.
	RunID string
	// LedgerPath is copied into the report.
	LedgerPath string
	// Now is the clock used for stall detection and generated_at
	// (default time.Now).
	Now func() time.Time
	// StallAfter is the silence after which a run without run.end is
	// stalled (default DefaultStallAfter).
	StallAfter time.Duration
	// TimelineOffset and TimelineLimit select the timeline page
	// (limit <= 0: DefaultTimelineLimit).
	TimelineOffset int
	TimelineLimit  int
	// MaxErrors bounds the errors list (<= 0: DefaultMaxErrors); the total
	// stays in ErrorCount.
	MaxErrors int
	// MaxResourceValues bounds distinct values per resource name
	// (<= 0: DefaultMaxResourceValues).
	MaxResourceValues int
	// Remediations is the remediation table; nil uses the built-in table.
	Remediations *RemediationTable
	// TraceURL is the trace_url template (see ValidateTraceURL) that
	// renders TraceURLs; empty for none.
	TraceURL string
}

func (o *Options) normalise() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StallAfter <= 0 {
		o.StallAfter = DefaultStallAfter
	}
	if o.TimelineLimit <= 0 {
		o.TimelineLimit = DefaultTimelineLimit
	}
	if o.TimelineOffset < 0 {
		o.TimelineOffset = 0
	}
	if o.MaxErrors <= 0 {
		o.MaxErrors = DefaultMaxErrors
	}
	if o.MaxResourceValues <= 0 {
		o.MaxResourceValues = DefaultMaxResourceValues
	}
	if o.Remediations == nil {
		o.Remediations = DefaultRemediations()
	}
}

// Report is the run report of docs/design.md §3.
type Report struct {
	RunID  string `json:"run_id"`
	Status string `json:"status"`
	// PreviousRun is the run this one follows (the session.previous_id
	// steproute wrote as attrs.previous_run), when a step said so.
	PreviousRun string `json:"previous_run,omitempty"`
	// StartedAt is the earliest event time.
	StartedAt *time.Time `json:"started_at"`
	// EndedAt is the run.end time, or the last event time of a run that
	// stopped on a failure without run.end; null while the run is open.
	EndedAt *time.Time `json:"ended_at"`
	// LastEventAt is the latest event time.
	LastEventAt *time.Time `json:"last_event_at"`
	// DurationMS spans StartedAt to EndedAt (or to LastEventAt when open),
	// capped at MaxDurationMS.
	DurationMS float64 `json:"duration_ms"`
	// Clamped is true when a number of the report was capped at its bound
	// (MaxDurationMS, MaxSize): the run duration or a stage's value.
	Clamped bool `json:"clamped,omitempty"`
	// InvalidTimestamps counts events whose ts is not a usable time (at or
	// before the Unix epoch, or after 2262-04-11 that int64 nanoseconds
	// hold). They stay in the timeline but are ignored for StartedAt,
	// EndedAt, LastEventAt and DurationMS, which are null and 0 when no
	// event has a usable time.
	InvalidTimestamps int      `json:"invalid_timestamps,omitempty"`
	EventCount        int      `json:"event_count"`
	Services          []string `json:"services"`
	TraceIDs          []string `json:"trace_ids"`
	// TraceIDCount is the number of distinct trace ids (TraceIDs is capped).
	TraceIDCount int `json:"trace_id_count"`
	// TraceURLs maps a trace id of TraceIDs to its page in the user's trace
	// backend, rendered from the configured trace_url template; omitted
	// when no template is configured.
	TraceURLs  map[string]string `json:"trace_urls,omitempty"`
	LedgerPath string            `json:"ledger_path,omitempty"`
	// SkippedLines counts complete lines that could not be parsed (or that
	// belong to another run).
	SkippedLines int `json:"skipped_lines"`
	// PartialBytes is the size of a trailing fragment without newline: a
	// line being written, or one torn by a crash.
	PartialBytes int        `json:"partial_bytes"`
	GeneratedAt  time.Time  `json:"generated_at"`
	StopReason   StopReason `json:"stop_reason"`
	// Warnings lists what makes the report doubtful, e.g. a run id reused
	// for a second run.
	Warnings []string `json:"warnings,omitempty"`
	// Stages has one row per kind, in order of first appearance.
	Stages []StageStats `json:"stages"`
	// Errors lists failed steps in timeline order (capped; see ErrorCount).
	Errors     []ErrorEvent `json:"errors"`
	ErrorCount int          `json:"error_count"`
	// Resources maps stage -> resource name -> distinct values (sorted).
	Resources map[string]map[string][]string `json:"resources"`
	// Spans are the run's spans that carried step events and their
	// ancestors, ordered by start (spans without a known start last).
	Spans []Span `json:"spans"`
	// SpansOmitted counts spans past MaxSpans, not in Spans.
	SpansOmitted int      `json:"spans_omitted,omitempty"`
	Timeline     Timeline `json:"timeline"`
}

// Span is one span of the run's traces: one that carried step events, or an
// ancestor of one. Start, End and the status come from the span itself and
// are null/empty while it has not arrived (a span is exported when it ends,
// so its steps, or log-based steps, can come first).
type Span struct {
	TraceID      string     `json:"trace_id"`
	SpanID       string     `json:"span_id"`
	ParentSpanID string     `json:"parent_span_id,omitempty"`
	Name         string     `json:"name"`
	Service      string     `json:"service,omitempty"`
	Start        *time.Time `json:"start"`
	End          *time.Time `json:"end"`
	// DurationMS is End - Start, 0 while either is unknown.
	DurationMS float64 `json:"duration_ms"`
	// Status is the span status: "unset", "ok" or "error"; empty while the
	// span has not arrived.
	Status        string `json:"status"`
	StatusMessage string `json:"status_message,omitempty"`
	// StepCount and FailedSteps count the run's step events on this span.
	StepCount   int `json:"step_count"`
	FailedSteps int `json:"failed_steps,omitempty"`
}

// StopReason says why the run stopped (or that it has not).
type StopReason struct {
	Category string `json:"category"`
	// Kind is the step the run stopped at (the root cause, the cancelling
	// step, run.end); empty for stalled and in_progress runs, whose last
	// step is AfterKind.
	Kind string `json:"kind,omitempty"`
	// Stage is Kind's stage; for a stalled or in_progress run, the first
	// stage the producer declared (run.start attrs.stages) that never
	// reported, or else the stage that came next in the service's latest
	// completed run (see UsualFrom), when known.
	Stage string `json:"stage,omitempty"`
	// UsualFrom is the completed run whose stage order named Stage for a
	// stalled or in_progress run that declared no stages.
	UsualFrom string `json:"usual_from,omitempty"`
	// AfterKind is the last step of a stalled or in_progress run: it
	// reported, and nothing came after it.
	AfterKind   string `json:"after_kind,omitempty"`
	ErrorCode   string `json:"error_code,omitempty"`
	Detail      string `json:"detail,omitempty"`
	Remediation string `json:"remediation,omitempty"`
	// ErrorCategory, Retryable and Owner are the failure's taxonomy (from
	// the remediation table) for a run that stopped on a failed or
	// cancelled step: ErrorCategory "unknown" when no rule classifies the
	// code, Retryable omitted when not known. Category above is the stop
	// category, not this one.
	ErrorCategory string `json:"error_category,omitempty"`
	Retryable     *bool  `json:"retryable,omitempty"`
	Owner         string `json:"owner,omitempty"`
	// Resources are the resource identifiers of the step named by Kind.
	Resources  map[string]string `json:"resources,omitempty"`
	EventSeq   *uint64           `json:"event_seq"`
	Confidence string            `json:"confidence"`
	Evidence   []Evidence        `json:"evidence"`
}

// Evidence is one ledger line the stop reason relied on, and why.
type Evidence struct {
	Seq  uint64 `json:"seq"`
	Kind string `json:"kind"`
	Note string `json:"note"`
}

// StageStats aggregates the steps of one kind.
type StageStats struct {
	Kind   string `json:"kind"`
	Stage  string `json:"stage"`
	Count  int    `json:"count"`
	Failed int    `json:"failed"`
	// Timed is the number of steps that carried a duration.
	Timed   int     `json:"timed"`
	TotalMS float64 `json:"total_ms"`
	P50MS   float64 `json:"p50_ms"`
	P95MS   float64 `json:"p95_ms"`
	MaxMS   float64 `json:"max_ms"`
	// Sizes sums every step.size.<name> of the kind.
	Sizes map[string]float64 `json:"sizes"`
	// Resources lists distinct values per resource name (sorted, capped).
	Resources map[string][]string `json:"resources"`
	// Clamped counts durations and sizes capped at MaxDurationMS or MaxSize.
	Clamped int `json:"clamped,omitempty"`
	// Dropped counts negative, NaN and infinite durations and sizes, left
	// out of Timed, the duration statistics and Sizes.
	Dropped int `json:"dropped,omitempty"`
}

// ErrorEvent is one failed step.
type ErrorEvent struct {
	Seq       uint64    `json:"seq"`
	TS        time.Time `json:"ts"`
	Kind      string    `json:"kind"`
	Stage     string    `json:"stage"`
	ErrorCode string    `json:"error_code,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	// Recovered is true when a later ok step of the same stage followed.
	Recovered bool `json:"recovered,omitempty"`
	// ErrorCategory, Retryable and Owner are the step's taxonomy, as in
	// StopReason.
	ErrorCategory string `json:"error_category"`
	Retryable     *bool  `json:"retryable,omitempty"`
	Owner         string `json:"owner,omitempty"`
}

// Timeline is one page of the run's events ordered by ts, then seq.
type Timeline struct {
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
	// NextOffset is the offset of the next page, null on the last page.
	NextOffset *int            `json:"next_offset"`
	Events     []TimelineEvent `json:"events"`
}

// TimelineEvent is one ledger line in the timeline: the line itself, so
// the report carries every field the ledger has (span and event ids
// included) without a second struct to keep in step; durations and sizes
// are bounded as in the stage statistics.
type TimelineEvent = ledger.Line

// Stage returns the stage of a kind: its first dotted component.
func Stage(kind string) string {
	if i := strings.IndexByte(kind, '.'); i >= 0 {
		return kind[:i]
	}
	return kind
}

// Build builds the report of the given lines (one run, any order).
func Build(lines []ledger.Line, opts Options) *Report {
	b := NewBuilder(opts)
	for i := range lines {
		_ = b.Add(&lines[i])
	}
	if b.NeedsPagePass() {
		for i := range lines {
			_ = b.AddPage(&lines[i])
		}
	}
	return b.Report(ledger.ReadStats{Lines: len(lines)})
}

// ErrNoEvents is returned by BuildFile for a ledger without any valid line.
var ErrNoEvents = errors.New("ledger has no events")

// BuildFile builds the report of the ledger file at path. opts.LedgerPath
// defaults to path.
func BuildFile(path string, opts Options) (*Report, error) {
	if opts.LedgerPath == "" {
		opts.LedgerPath = path
	}
	b := NewBuilder(opts)
	st, err := ledger.ReadFileSpans(path, b.Add, b.AddSpan)
	if err != nil {
		return nil, err
	}
	if b.Events() == 0 {
		return nil, fmt.Errorf("report %q: %w", path, ErrNoEvents)
	}
	if b.NeedsPagePass() {
		// Lines appended since the first pass are past its end and ignored:
		// the page is cut from the events the first pass counted.
		if err := readUpTo(path, st.Offset, b.AddPage); err != nil {
			return nil, err
		}
	}
	return b.Report(st), nil
}

// readUpTo reads the complete lines of the ledger at path that end before
// byte end.
func readUpTo(path string, end int64, fn func(*ledger.Line) error) error {
	f, err := ledger.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := ledger.Read(io.LimitReader(f, end), 0, fn); err != nil {
		return fmt.Errorf("read ledger %q: %w", path, err)
	}
	return nil
}

// BuildMerged builds the report of a run from lines and span records held
// in memory (a run merged from several nodes, ledger.Merge): the lines in
// (ts, seq) order. It returns ErrNoEvents when there are no lines.
func BuildMerged(lines []ledger.Line, spans []ledger.SpanRecord, opts Options) (*Report, error) {
	b := NewBuilder(opts)
	for i := range lines {
		_ = b.Add(&lines[i])
	}
	if b.Events() == 0 {
		return nil, fmt.Errorf("report of run %q: %w", opts.RunID, ErrNoEvents)
	}
	for i := range spans {
		_ = b.AddSpan(&spans[i])
	}
	if b.NeedsPagePass() {
		for i := range lines {
			_ = b.AddPage(&lines[i])
		}
	}
	return b.Report(ledger.ReadStats{Lines: len(lines), Spans: len(spans)}), nil
}
