package main

import (
	"errors"
	"io"

	"github.com/spf13/cobra"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/reportclient"
)

// newChainCmd is `runledger runs chain`: the runs a run follows by
// previous_run (session.previous_id), newest first.
func newChainCmd(stdout io.Writer) *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "chain <run_id>",
		Short: "The runs a run follows (previous_run from session.previous_id), newest first, as JSON",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.checkSource(cmd); err != nil {
				return err
			}
			id := args[0]
			if c.server != "" {
				return c.printRaw(stdout, func(cl *reportclient.Client) ([]byte, error) {
					return cl.RawChain(cmd.Context(), id)
				})
			}
			if err := c.checkLedgerDir(cmd); err != nil {
				return err
			}
			chain, err := report.Chain(id, func(run string) (string, error) { return ledger.FindRun(c.ledgerDir, run) },
				report.Options{StallAfter: c.stallAfter})
			if errors.Is(err, report.ErrNoEvents) {
				return notFoundError("run %q not found in %s", id, c.ledgerDir)
			}
			if err != nil {
				return err
			}
			return writeJSON(stdout, map[string]any{"runs": chain})
		},
	}
	c.register(cmd, true)
	return cmd
}
