package main

import (
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/runledger/runledger/internal/insights"
	"github.com/runledger/runledger/internal/reportclient"
	"github.com/runledger/runledger/internal/runindex"
)

func newInsightsCmd(stdout io.Writer) *cobra.Command {
	var c common
	var since, until, service, kind, format string
	cmd := &cobra.Command{
		Use:   "insights",
		Short: "Across runs: top stop causes, stage failure rates, what failing runs share, regressions",
		Long: `Insights across the runs that started in a window (default the last 24 h):
runs by status and stop category, the top root causes (stage, kind, error
code) with example runs and a remediation, per-stage failure rates and
p50/p95 durations, values (service, resource.*, low-cardinality attrs.*)
that failing runs have more often than the others, and stages that got worse
than in the previous window of the same length. --since and --until take
RFC 3339 times, dates or durations back from now (90m, 36h, 7d).`,
		Example: `  runledger insights --since 7d --format md
  runledger insights --service retriever --kind ann`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(&format); err != nil {
				return err
			}
			if err := c.checkSource(cmd); err != nil {
				return err
			}
			v := url.Values{}
			for k, s := range map[string]string{"since": since, "until": until, "service": service, "kind": kind} {
				if s != "" {
					v.Set(k, s)
				}
			}
			now := time.Now()
			q, err := insights.ParseQuery(v, now)
			if err != nil {
				return usageError("%v", err)
			}
			if c.server != "" {
				return c.printRaw(stdout, func(cl *reportclient.Client) ([]byte, error) {
					return cl.RawInsights(cmd.Context(), v, reportclient.Format(format))
				})
			}
			if err := c.checkLedgerDir(cmd); err != nil {
				return err
			}
			ix := runindex.New(c.ledgerDir, runindex.Options{StallAfter: c.stallAfter})
			if _, err := ix.Refresh(); err != nil {
				return fmt.Errorf("index %s: %w", c.ledgerDir, err)
			}
			in, err := insights.NewEngine().Compute(ix, q, now, nil)
			if err != nil {
				return usageError("%v", err)
			}
			if format == "md" {
				_, err = io.WriteString(stdout, in.Markdown())
				return err
			}
			return writeJSON(stdout, in)
		},
	}
	c.register(cmd, true)
	f := cmd.Flags()
	f.StringVar(&since, "since", "24h", "start of the window: RFC 3339, a date, or a duration back from now")
	f.StringVar(&until, "until", "", "end of the window (default now)")
	f.StringVar(&service, "service", "", "only runs with a step from this service")
	f.StringVar(&kind, "kind", "", "only runs with a step of this kind or stage")
	f.StringVar(&format, "format", "json", "output format: json or md (markdown)")
	return cmd
}
