package report

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/stepschema"
)

// MaxSpans bounds the spans a report keeps: a run with more (a fan-out of
// hundreds of thousands of spans) keeps the first MaxSpans seen and counts
// the rest in SpansOmitted.
const MaxSpans = 20000

// spanKey names a span of the run.
type spanKey struct{ trace, span string }

// spanAgg is what the builder knows of one span: from its span record, if
// it arrived, and from the step lines on it.
type spanAgg struct {
	Span
	recorded bool
}

// span returns the aggregate of span k, creating it unless MaxSpans are
// kept already (then nil).
func (b *Builder) span(trace, span string) *spanAgg {
	k := spanKey{trace, span}
	if a := b.spans[k]; a != nil {
		return a
	}
	if len(b.spans) >= MaxSpans {
		b.spansOmitted++
		return nil
	}
	if b.spans == nil {
		b.spans = map[spanKey]*spanAgg{}
	}
	k = spanKey{strings.Clone(trace), strings.Clone(span)}
	a := &spanAgg{Span: Span{TraceID: k.trace, SpanID: k.span}}
	b.spans[k] = a
	return a
}

// addStepSpan counts step line l on its span.
func (b *Builder) addStepSpan(l *ledger.Line) {
	if l.SpanID == "" {
		return
	}
	// Steps of one span mostly come together: skip the map for a run of them.
	a := b.lastSpan
	if a == nil || a.SpanID != l.SpanID || a.TraceID != l.TraceID {
		if a = b.span(l.TraceID, l.SpanID); a == nil {
			return
		}
		b.lastSpan = a
	}
	a.StepCount++
	if l.Status == stepschema.StatusFailed {
		a.FailedSteps++
	}
	if !a.recorded {
		if a.Name == "" && l.SpanName != "" {
			a.Name = strings.Clone(l.SpanName)
		}
		if a.Service == "" && l.Service != "" {
			a.Service = strings.Clone(l.Service)
		}
	}
}

// AddSpan adds a span record of the run's ledger (see ledger.ReadSpans).
// A span recorded twice keeps its last record.
func (b *Builder) AddSpan(s *ledger.SpanRecord) error {
	if b.runID != "" && s.RunID != b.runID {
		return nil
	}
	a := b.span(s.TraceID, s.SpanID)
	if a == nil {
		return nil
	}
	// The record's strings are its own (DecodeSpan gives each line a new
	// copy), so they are kept without cloning.
	a.recorded = true
	a.ParentSpanID, a.Name, a.Service = s.ParentSpanID, s.Name, s.Service
	a.Status, a.StatusMessage = s.Status, s.StatusMessage
	a.Start, a.End = usableTime(s.Start), usableTime(s.End)
	a.DurationMS = 0
	if a.Start != nil && a.End != nil && !a.End.Before(*a.Start) {
		a.DurationMS = min(float64(a.End.Sub(*a.Start))/float64(time.Millisecond), MaxDurationMS)
	}
	return nil
}

// usableTime returns t in UTC, or nil for a time reports ignore (see
// Report.InvalidTimestamps).
func usableTime(t time.Time) *time.Time {
	if n := nanos(t); n <= 0 {
		return nil
	}
	u := t.UTC()
	return &u
}

// spanList returns the spans ordered by start (spans not recorded, whose
// start is unknown, last), then trace and span id.
func (b *Builder) spanList() []Span {
	out := make([]Span, 0, len(b.spans))
	for _, a := range b.spans {
		out = append(out, a.Span)
	}
	slices.SortFunc(out, func(x, y Span) int {
		switch {
		case x.Start == nil && y.Start != nil:
			return 1
		case x.Start != nil && y.Start == nil:
			return -1
		case x.Start != nil && y.Start != nil:
			if c := x.Start.Compare(*y.Start); c != 0 {
				return c
			}
		}
		return cmp.Or(cmp.Compare(x.TraceID, y.TraceID), cmp.Compare(x.SpanID, y.SpanID))
	})
	return out
}

// ValidateTraceURL checks a trace_url template: an http(s) URL containing
// {trace_id}, e.g. http://jaeger:16686/trace/{trace_id}.
func ValidateTraceURL(tmpl string) error {
	if tmpl == "" {
		return nil
	}
	if !strings.Contains(tmpl, "{trace_id}") {
		return fmt.Errorf("trace_url %q has no {trace_id} placeholder", tmpl)
	}
	u, err := url.Parse(strings.ReplaceAll(tmpl, "{trace_id}", "0"))
	if err != nil {
		return fmt.Errorf("trace_url %q: %w", tmpl, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("trace_url %q must be an http:// or https:// URL", tmpl)
	}
	return nil
}

// TraceURLs renders tmpl (see ValidateTraceURL) for each trace id; nil when
// tmpl is empty.
func TraceURLs(tmpl string, traceIDs []string) map[string]string {
	if tmpl == "" || len(traceIDs) == 0 {
		return nil
	}
	out := make(map[string]string, len(traceIDs))
	for _, id := range traceIDs {
		out[id] = strings.ReplaceAll(tmpl, "{trace_id}", url.PathEscape(id))
	}
	return out
}
