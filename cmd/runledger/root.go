package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/termsafe"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitError    = 1
	ExitUsage    = 2
	ExitNotFound = 3
)

// DefaultLedgerDir is the ledger directory of every command, the TUI's
// included, when neither --ledger-dir nor RUNLEDGER_LEDGER_DIR is set.
const DefaultLedgerDir = ledger.DefaultDirectory

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, a ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, a...)}
}

// checkFormat checks a report-style --format value (json, md, or markdown
// for md) and spells it as the commands and the report API do.
func checkFormat(format *string) error {
	switch *format {
	case "json", "md":
	case "markdown":
		*format = "md"
	default:
		return usageError("--format %q must be json or md", *format)
	}
	return nil
}

func notFoundError(format string, a ...any) error {
	return &exitError{code: ExitNotFound, err: fmt.Errorf(format, a...)}
}

// ExitCode maps an error returned by the command tree to an exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, ledger.ErrRunNotFound) {
		return ExitNotFound // a missing ledger, or a server's 404 on a run
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least",
		"invalid argument", "flag needs an argument", "required flag"} {
		if strings.HasPrefix(msg, p) {
			return ExitUsage
		}
	}
	return ExitError
}

// Run executes the command line args and returns the exit code. Errors are
// printed on stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := NewRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	code := ExitCode(err)
	if err != nil {
		// Errors quote run ids and server responses: escape them too.
		fmt.Fprintf(stderr, "runledger: %s\n", termsafe.String(err.Error()))
		if code == ExitUsage {
			fmt.Fprintln(stderr, "Run 'runledger --help' for usage.")
		}
	}
	return code
}

// common holds the flags shared by the commands that read runs.
type common struct {
	ledgerDir  string
	server     string
	token      string
	stallAfter time.Duration
	traceURL   string
}

func (c *common) register(cmd *cobra.Command, withServer bool) {
	c.registerLedgerDir(cmd)
	cmd.Flags().DurationVar(&c.stallAfter, "stall-after", report.DefaultStallAfter, "silence after which a run without run.end is stalled (local reads)")
	cmd.Flags().StringVar(&c.traceURL, "trace-url", os.Getenv("RUNLEDGER_TRACE_URL"),
		"link template to your trace backend, e.g. http://jaeger:16686/trace/{trace_id} (local reads; env RUNLEDGER_TRACE_URL)")
	if withServer {
		c.registerServer(cmd)
	}
}

// registerLedgerDir adds --ledger-dir, defaulting to RUNLEDGER_LEDGER_DIR.
func (c *common) registerLedgerDir(cmd *cobra.Command) {
	def := os.Getenv("RUNLEDGER_LEDGER_DIR")
	if def == "" {
		def = DefaultLedgerDir
	}
	cmd.Flags().StringVar(&c.ledgerDir, "ledger-dir", def, "ledger directory to read when no --server is given (env RUNLEDGER_LEDGER_DIR)")
}

// checkSource refuses --ledger-dir given together with --server: which
// of them to read would be a guess.
func (c *common) checkSource(cmd *cobra.Command) error {
	if cmd.Flags().Changed("ledger-dir") && c.server != "" {
		return usageError("--ledger-dir and --server are exclusive")
	}
	return nil
}

// checkLedgerDir returns an error naming the ledger directory, where its
// value came from and how to set it when it does not exist or is not a
// directory: read as is, a missing directory would list no runs and find
// none, which looks like an empty one.
func (c *common) checkLedgerDir(cmd *cobra.Command) error {
	fi, err := os.Stat(c.ledgerDir)
	if err == nil && fi.IsDir() {
		return nil
	}
	from := "the default"
	switch {
	case cmd.Flags().Changed("ledger-dir"):
		from = "from --ledger-dir"
	case os.Getenv("RUNLEDGER_LEDGER_DIR") != "":
		from = "from RUNLEDGER_LEDGER_DIR"
	}
	if !filepath.IsAbs(c.ledgerDir) {
		if wd, werr := os.Getwd(); werr == nil {
			from += ", relative to " + wd
		}
	}
	what := "does not exist"
	switch {
	case err == nil:
		what = "is not a directory"
	case !errors.Is(err, os.ErrNotExist):
		what = "cannot be read: " + err.Error()
	}
	return fmt.Errorf("ledger directory %q (%s) %s; point --ledger-dir or RUNLEDGER_LEDGER_DIR at the collector's ledger directory, or use --server",
		c.ledgerDir, from, what)
}

// registerServer adds --server and --token, defaulting to RUNLEDGER_TOKEN.
func (c *common) registerServer(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.server, "server", "", "reportapi base URL, e.g. http://localhost:4320; read the ledger directory when empty")
	cmd.Flags().StringVar(&c.token, "token", os.Getenv("RUNLEDGER_TOKEN"), "bearer token for --server (env RUNLEDGER_TOKEN)")
}

// NewRootCmd returns the runledger command tree writing to stdout and stderr.
func NewRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "runledger",
		Short: "Read run ledgers and run reports",
		Long: `runledger tells what happened in a run and why it stopped.

It reads the JSONL run ledgers written by the runledger collector
(data/telemetry/runs/<YYYY-MM-DD>/<run>.jsonl) directly, or asks the
collector's reportapi extension when --server is given.

Exit codes: 0 ok, 1 error, 2 usage, 3 run not found.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(stderr)
			_ = cmd.Help()
			return usageError("a command is required")
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: ExitUsage, err: err} })
	root.AddCommand(newReportCmd(stdout, stderr), newRunsCmd(stdout, stderr), newTailCmd(stdout, stderr), newTUICmd(), newMCPCmd(), newInsightsCmd(stdout), newDiffCmd(stdout))
	return root
}

// group returns a command that only holds subcommands.
func group(use, short string, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(stderr)
			_ = cmd.Help()
			return usageError("%s needs a subcommand", cmd.CommandPath())
		},
	}
}

// exactArgs is cobra.ExactArgs with a usage exit code.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
		return nil
	}
}

// rangeArgs is cobra.RangeArgs with a usage exit code.
func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.RangeArgs(lo, hi)(cmd, args); err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
		return nil
	}
}
