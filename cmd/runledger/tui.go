package main

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/tui"
)

// tuiTimeout bounds one request of the TUI: it re-reads every second, so a
// hung server should show as an error soon rather than freeze the refresh.
const tuiTimeout = 15 * time.Second

// needTerminal returns a usage error when the TUI's input or output is a
// file that is not a terminal (a pipe, /dev/null, a redirect): Bubble Tea
// would switch screens and then fail to read keys. Readers and writers that
// are not files were handed over by the embedding program (the tests drive
// the TUI over io.Pipe) and are taken as they are.
func needTerminal(in io.Reader, out io.Writer) error {
	for _, s := range []struct {
		name string
		v    any
	}{{"stdin", in}, {"stdout", out}} {
		if f, ok := s.v.(*os.File); ok && !term.IsTerminal(f.Fd()) {
			return usageError("runledger tui needs a terminal, and %s is not one; "+
				"for scripts use runledger runs list, report run or tail", s.name)
		}
	}
	return nil
}

func newTUICmd() *cobra.Command {
	var c common
	opts := tui.Options{}
	cmd := &cobra.Command{
		Use:   "tui",
		Short: "Browse runs in a terminal UI: stop reasons, stages, waterfall, steps",
		Long: `Browse runs in a terminal UI.

The run list refreshes every second as runs arrive; open a run to see why it
stopped and what to do about it, its stage table and a waterfall of its steps
on the trace's time axis (v: spans nested by parent, failed ones marked,
u: the trace's link when --trace-url is set). Press ? inside for the key
bindings.

Reads the ledger directory directly, or a reportapi server with --server.
Colours are off when NO_COLOR is set.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.checkSource(cmd); err != nil {
				return err
			}
			opts.LedgerDir = c.ledgerDir
			if err := report.ValidateTraceURL(opts.TraceURL); err != nil {
				return usageError("--trace-url: %v", err)
			}
			if c.server == "" {
				if err := c.checkLedgerDir(cmd); err != nil {
					return err
				}
			} else {
				cl, err := c.client(tuiTimeout)
				if err != nil {
					return err
				}
				opts.Client = cl
			}
			opts.Input = cmd.InOrStdin()
			opts.Output = cmd.OutOrStdout()
			if err := needTerminal(opts.Input, opts.Output); err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return tui.Run(ctx, opts)
		},
	}
	c.registerLedgerDir(cmd)
	c.registerServer(cmd)
	f := cmd.Flags()
	f.StringVar(&opts.ReportsDir, "out", tui.DefaultReportsDir, "directory the x key exports reports to")
	f.BoolVar(&opts.NoColor, "no-color", false, "disable colours (also when NO_COLOR is set)")
	f.BoolVar(&opts.Mouse, "mouse", false, "enable mouse: wheel scrolls, click selects")
	f.StringVar(&opts.TraceURL, "trace-url", os.Getenv("RUNLEDGER_TRACE_URL"),
		"link template to your trace backend, e.g. http://jaeger:16686/trace/{trace_id} (ledger directory; a server uses its own; env RUNLEDGER_TRACE_URL)")
	return cmd
}
