package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/runledger/runledger/internal/termsafe"
)

// Markdown renders the report as Markdown: a headline with the status and
// stop reason, the remediation, a summary, the stage table, errors,
// resources and the timeline page held by the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	_ = r.WriteMarkdown(&b)
	return b.String()
}

// WriteMarkdown writes Markdown() to w.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	sr := r.StopReason
	fmt.Fprintf(&b, "# Run %s: %s\n\n", mdInline(r.RunID), r.Status)
	fmt.Fprintf(&b, "**Stop reason:** %s\n\n", stopHeadline(sr))
	if sr.Detail != "" {
		fmt.Fprintf(&b, "> %s\n\n", mdQuote(sr.Detail))
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "**Warning:** %s\n\n", mdText(w))
	}
	if sr.Remediation != "" {
		fmt.Fprintf(&b, "**Remediation:** %s\n\n", mdText(sr.Remediation))
	}
	if sr.ErrorCategory != "" {
		fmt.Fprintf(&b, "**Error class:** %s\n\n", mdText(errorClass(sr)))
	}
	if len(sr.Resources) > 0 {
		fmt.Fprintf(&b, "**Failing step resources:** %s\n\n", mdText(kvString(sr.Resources)))
	}
	if len(sr.Evidence) > 0 {
		b.WriteString("Evidence:\n\n")
		for _, e := range sr.Evidence {
			fmt.Fprintf(&b, "- seq %d `%s`: %s\n", e.Seq, MarkdownCode(e.Kind), mdText(e.Note))
		}
		b.WriteString("\n")
	}

	b.WriteString("## Summary\n\n| field | value |\n|---|---|\n")
	row := func(k, v string) { fmt.Fprintf(&b, "| %s | %s |\n", k, mdCell(v)) }
	row("status", r.Status)
	row("started", fmtTime(r.StartedAt))
	row("ended", fmtTime(r.EndedAt))
	row("last event", fmtTime(r.LastEventAt))
	row("duration", fmtMS(r.DurationMS))
	row("events", strconv.Itoa(r.EventCount))
	row("errors", strconv.Itoa(r.ErrorCount))
	row("services", strings.Join(r.Services, ", "))
	traces := strings.Join(r.TraceIDs, ", ")
	if r.TraceIDCount > len(r.TraceIDs) {
		traces += fmt.Sprintf(" (+%d more)", r.TraceIDCount-len(r.TraceIDs))
	}
	row("trace ids", traces)
	for _, id := range r.TraceIDs {
		if u := r.TraceURLs[id]; u != "" {
			row("trace "+id[:min(len(id), 8)], u)
		}
	}
	row("ledger", r.LedgerPath)
	row("skipped lines", strconv.Itoa(r.SkippedLines))
	if r.PartialBytes > 0 {
		row("torn last line", fmt.Sprintf("%d bytes (not parsed)", r.PartialBytes))
	}
	b.WriteString("\n## Stages\n\n")
	if len(r.Stages) == 0 {
		b.WriteString("No steps.\n")
	} else {
		b.WriteString("| kind | count | failed | total | p50 | p95 | max | sizes | resources |\n|---|---:|---:|---:|---:|---:|---:|---|---|\n")
		for _, s := range r.Stages {
			fmt.Fprintf(&b, "| `%s` | %d | %d | %s | %s | %s | %s | %s | %s |\n",
				MarkdownCode(s.Kind), s.Count, s.Failed, durCell(s, s.TotalMS), durCell(s, s.P50MS), durCell(s, s.P95MS),
				durCell(s, s.MaxMS), mdCell(sizesString(s.Sizes)), mdCell(resString(s.Resources, 3)))
		}
	}
	b.WriteString("\n## Errors\n\n")
	if len(r.Errors) == 0 {
		b.WriteString("No failed steps.\n")
	} else {
		b.WriteString("| seq | ts | kind | code | detail |\n|---:|---|---|---|---|\n")
		for _, e := range r.Errors {
			code := e.ErrorCode
			det := e.Detail
			if e.Recovered {
				det = "(recovered) " + det
			}
			fmt.Fprintf(&b, "| %d | %s | `%s` | %s | %s |\n", e.Seq, mdTime(e.TS), MarkdownCode(e.Kind),
				mdCell(code), mdCell(truncate(det, 300)))
		}
		if r.ErrorCount > len(r.Errors) {
			fmt.Fprintf(&b, "\n%d more failed steps not listed.\n", r.ErrorCount-len(r.Errors))
		}
	}
	b.WriteString("\n## Resources\n\n")
	if len(r.Resources) == 0 {
		b.WriteString("No resources.\n")
	} else {
		for _, stage := range slices.Sorted(maps.Keys(r.Resources)) {
			fmt.Fprintf(&b, "- **%s**: %s\n", mdText(stage), mdText(resString(r.Resources[stage], 10)))
		}
	}
	r.writeWaterfall(&b)
	t := r.Timeline
	fmt.Fprintf(&b, "\n## Timeline\n\n")
	if len(t.Events) == 0 {
		fmt.Fprintf(&b, "No events on this page (offset %d of %d).\n", t.Offset, t.Total)
	} else {
		fmt.Fprintf(&b, "Events %d-%d of %d, ordered by time then seq.\n\n", t.Offset+1, t.Offset+len(t.Events), t.Total)
		b.WriteString("| ts | seq | kind | status | duration | detail |\n|---|---:|---|---|---:|---|\n")
		for _, e := range t.Events {
			dur := ""
			if e.DurationMS != nil {
				dur = fmtMS(*e.DurationMS)
			}
			det := e.Detail
			if e.ErrorCode != "" {
				det = "[" + e.ErrorCode + "] " + det
			}
			fmt.Fprintf(&b, "| %s | %d | `%s` | %s | %s | %s |\n", mdTime(e.TS), e.Seq, MarkdownCode(e.Kind),
				mdCell(e.Status), dur, mdCell(truncate(det, 200)))
		}
		if t.NextOffset != nil {
			fmt.Fprintf(&b, "\n%d more events (next offset %d).\n", t.Total-t.Offset-len(t.Events), *t.NextOffset)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func stopHeadline(sr StopReason) string {
	var b strings.Builder
	b.WriteString(sr.Category)
	if sr.AfterKind != "" {
		fmt.Fprintf(&b, " after `%s`", MarkdownCode(sr.AfterKind))
		if sr.Stage != "" {
			fmt.Fprintf(&b, "; stage `%s` never reported", MarkdownCode(sr.Stage))
			if sr.UsualFrom != "" {
				fmt.Fprintf(&b, " (it came next in run `%s`)", MarkdownCode(termsafe.Clip(sr.UsualFrom, 64)))
			}
		}
	} else if sr.Stage != "" {
		fmt.Fprintf(&b, " at stage `%s`", MarkdownCode(sr.Stage))
	}
	var parts []string
	if sr.Kind != "" {
		parts = append(parts, "`"+MarkdownCode(sr.Kind)+"`")
	}
	if sr.ErrorCode != "" {
		parts = append(parts, "code `"+MarkdownCode(sr.ErrorCode)+"`")
	}
	if sr.EventSeq != nil {
		parts = append(parts, "seq "+strconv.FormatUint(*sr.EventSeq, 10))
	}
	if len(parts) > 0 {
		b.WriteString(" (" + strings.Join(parts, ", ") + ")")
	}
	b.WriteString(", confidence " + sr.Confidence)
	return b.String()
}

// mdTimeLayout is the human form of a time: UTC with milliseconds always
// shown, so the columns of a table line up (JSON keeps the exact time).
const mdTimeLayout = "2006-01-02T15:04:05.000Z"

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return mdTime(*t)
}

func mdTime(t time.Time) string { return t.UTC().Format(mdTimeLayout) }

func fmtMS(ms float64) string {
	switch {
	case ms >= 60000:
		return (time.Duration(ms) * time.Millisecond).Round(time.Second).String()
	case ms >= 1000:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + " s"
	case ms >= 100:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	case ms >= 1:
		// One decimal at most: 12.3 ms, 5 ms (not 12.345678 ms).
		return strings.TrimSuffix(strconv.FormatFloat(ms, 'f', 1, 64), ".0") + " ms"
	}
	return strconv.FormatFloat(ms, 'g', 3, 64) + " ms"
}

func durCell(s StageStats, v float64) string {
	if s.Timed == 0 {
		return "-"
	}
	return fmtMS(v)
}

func sizesString(m map[string]float64) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+strconv.FormatFloat(m[k], 'f', -1, 64))
	}
	return strings.Join(parts, " ")
}

func kvString(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

func resString(m map[string][]string, maxVals int) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		vals := m[k]
		s := strings.Join(vals[:min(len(vals), maxVals)], ", ")
		if len(vals) > maxVals {
			s += fmt.Sprintf(" (+%d)", len(vals)-maxVals)
		}
		parts = append(parts, k+"="+s)
	}
	return strings.Join(parts, "; ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// mdCell escapes text for a table cell: no newlines, no pipes.
func mdCell(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "|", `\|`).Replace(s)
	return mdText(s)
}

// mdText neutralises characters that would start HTML in rendered Markdown
// and escapes terminal controls: reports are printed to terminals too.
func mdText(s string) string {
	return strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(termsafe.String(s))
}

func mdQuote(s string) string {
	return strings.ReplaceAll(mdText(truncate(s, 2000)), "\n", "\n> ")
}

func mdInline(s string) string {
	return mdText(strings.NewReplacer("\n", " ", "\r", " ").Replace(s))
}

// MarkdownCode makes producer text safe as one line inside a Markdown code
// span, table cell or fenced block: no terminal controls, no backtick, no
// line break, pipes escaped. Other Markdown renderings (insights) use it
// too, so producer text is escaped by one rule everywhere.
func MarkdownCode(s string) string {
	return termsafe.Line(strings.NewReplacer("`", "'", "\n", " ", "|", `\|`).Replace(s))
}

// errorClass is the stop reason's taxonomy in words: "dependency,
// retryable, owner search-team".
func errorClass(sr StopReason) string {
	parts := []string{sr.ErrorCategory}
	if sr.Retryable != nil {
		if *sr.Retryable {
			parts = append(parts, "retryable")
		} else {
			parts = append(parts, "not retryable")
		}
	}
	if sr.Owner != "" {
		parts = append(parts, "owner "+sr.Owner)
	}
	return strings.Join(parts, ", ")
}
