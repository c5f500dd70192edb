package insights

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/runledger/runledger/internal/report"
)

// Markdown renders the insights for a human.
func (in *Insights) Markdown() string {
	var b strings.Builder
	cell := report.MarkdownCode
	fmt.Fprintf(&b, "# Insights %s to %s\n\n", in.Window.Since.Format(time.RFC3339), in.Window.Until.Format(time.RFC3339))
	if in.Runs == 0 {
		b.WriteString("No runs in this window.\n")
		return b.String()
	}
	fmt.Fprintf(&b, "%d runs", in.Runs)
	for _, st := range slices.Sorted(maps.Keys(in.ByStatus)) {
		fmt.Fprintf(&b, " · %s %d", cell(st), in.ByStatus[st])
	}
	b.WriteString("\n\n## Top causes\n\n")
	if len(in.TopCauses) == 0 {
		b.WriteString("No failing runs.\n")
	} else {
		b.WriteString("| runs | share | stage | kind | code | last seen | examples | remediation |\n|---:|---:|---|---|---|---|---|---|\n")
		for _, c := range in.TopCauses {
			fmt.Fprintf(&b, "| %d | %.0f%% | %s | %s | %s | %s | %s | %s |\n", c.Runs, 100*c.Share, cell(c.Stage), cell(c.Kind),
				cell(c.ErrorCode), c.LastSeen.UTC().Format(time.RFC3339), cell(strings.Join(c.ExampleRuns, ", ")), cell(c.Remediation))
		}
	}
	b.WriteString("\n## Stages\n\n| kind | runs | failed | failure rate | p50 | p95 |\n|---|---:|---:|---:|---:|---:|\n")
	for _, s := range in.Stages {
		fmt.Fprintf(&b, "| %s | %d | %d | %.1f%% | %.1f ms | %.1f ms |\n", cell(s.Kind), s.Runs, s.FailedRuns, 100*s.FailureRate, s.P50MS, s.P95MS)
	}
	b.WriteString("\n## What failing runs have in common\n\n")
	if len(in.Differences) == 0 {
		b.WriteString("Nothing stands out.\n")
	} else {
		b.WriteString("| key | value | runs | failing | failure rate | others | lift |\n|---|---|---:|---:|---:|---:|---:|\n")
		for _, d := range in.Differences[:min(len(in.Differences), 20)] {
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %.0f%% | %.0f%% | %.1fx |\n", cell(d.Key), cell(d.Value), d.Runs, d.FailingRuns,
				100*d.FailureRate, 100*d.BaselineFailureRate, d.Lift)
		}
	}
	b.WriteString("\n## Regressions against the previous window\n\n")
	if len(in.Regressions) == 0 {
		b.WriteString("None.\n")
	}
	for _, r := range in.Regressions {
		fmt.Fprintf(&b, "- %s: %s\n", cell(r.Kind), cell(r.Note))
	}
	if in.Unreadable > 0 {
		fmt.Fprintf(&b, "\n%d runs could not be read and are left out.\n", in.Unreadable)
	}
	return b.String()
}
