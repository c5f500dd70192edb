package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/runledger/runledger/internal/insights"
	"github.com/runledger/runledger/internal/reportclient"
	"github.com/runledger/runledger/internal/runindex"
)

func newDiffCmd(stdout io.Writer) *cobra.Command {
	var c common
	var baseline, format string
	cmd := &cobra.Command{
		Use:   "diff <run_a> [<run_b>]",
		Short: "What differs between two runs: first divergence, stages, resources, sizes",
		Long: `Compare two runs: where their steps first diverge, the stages whose count,
status or duration differ, and the resources and sizes that changed. With
--baseline auto (or no second run) run_a is compared with the newest
completed run of its service that has the most kinds in common.`,
		Example: `  runledger diff r-bad r-good --format md
  runledger diff r-bad --baseline auto`,
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(&format); err != nil {
				return err
			}
			a, b := args[0], ""
			if len(args) == 2 {
				if baseline != "" {
					return usageError("give a second run or --baseline auto, not both")
				}
				b = args[1]
			} else if baseline != "" && baseline != "auto" {
				return usageError("--baseline %q: only auto", baseline)
			}
			if err := c.checkSource(cmd); err != nil {
				return err
			}
			if c.server != "" {
				return c.printRaw(stdout, func(cl *reportclient.Client) ([]byte, error) {
					return cl.RawDiff(cmd.Context(), a, b, reportclient.Format(format))
				})
			}
			if err := c.checkLedgerDir(cmd); err != nil {
				return err
			}
			ix := runindex.New(c.ledgerDir, runindex.Options{StallAfter: c.stallAfter})
			if b == "" {
				if _, err := ix.Refresh(); err != nil {
					return fmt.Errorf("index %s: %w", c.ledgerDir, err)
				}
			}
			d, err := insights.DiffRuns(ix, c.ledgerDir, a, b)
			if err != nil {
				return err
			}
			if format == "md" {
				_, err = io.WriteString(stdout, d.Markdown())
				return err
			}
			return writeJSON(stdout, d)
		},
	}
	c.register(cmd, true)
	cmd.Flags().StringVar(&baseline, "baseline", "", "auto: compare with the newest similar completed run of the same service")
	cmd.Flags().StringVar(&format, "format", "json", "output format: json or md (markdown)")
	return cmd
}
