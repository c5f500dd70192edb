// Package tui is the terminal UI of runledger (`runledger tui`): a live run
// list, a run view with the stop reason and remediation on top, a stage
// table, a waterfall of the steps grouped by trace and span, a step pane
// with every attribute, jump to the first error, follow mode and report
// export. It reads a ledger directory directly or asks a reportapi server,
// and is built on bubbletea, bubbles and lipgloss.
package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/spf13/cobra"
)

// Defaults of Options.
const (
	DefaultLedgerDir       = "data/telemetry/runs"
	DefaultReportsDir      = "out/run_reports"
	DefaultRefreshInterval = time.Second
)

// Options configure Run.
type Options struct {
	// LedgerDir is the ledger directory read when Server is empty
	// (default DefaultLedgerDir).
	LedgerDir string
	// Server is the base URL of a reportapi server; when set the ledger
	// directory is not read.
	Server string
	// ReportsDir is where `x` exports reports (default DefaultReportsDir).
	ReportsDir string
	// Input and Output default to the process's terminal (stdin/stdout).
	Input  io.Reader
	Output io.Writer
	// NoColor disables colours; they are also off when NO_COLOR is set.
	NoColor bool
	// Mouse enables mouse support (wheel scrolling, click to select);
	// off by default so the terminal keeps its own text selection.
	Mouse bool
	// RefreshInterval is how often the run list and a live run are
	// re-read (default DefaultRefreshInterval; negative disables).
	RefreshInterval time.Duration
	// HTTPClient is used in server mode (default: 15s timeout).
	HTTPClient *http.Client
}

func (o *Options) normalise() {
	if o.LedgerDir == "" {
		o.LedgerDir = DefaultLedgerDir
	}
	if o.ReportsDir == "" {
		o.ReportsDir = DefaultReportsDir
	}
	if o.RefreshInterval == 0 {
		o.RefreshInterval = DefaultRefreshInterval
	}
	if o.Output == nil {
		o.Output = os.Stdout
	}
	if os.Getenv("NO_COLOR") != "" {
		o.NoColor = true
	}
}

// NewSource returns the Source the options select: the reportapi server when
// Server is set, else the ledger directory.
func NewSource(opts Options) (Source, error) {
	if opts.Server != "" {
		return NewHTTPSource(opts.Server, opts.HTTPClient)
	}
	dir := opts.LedgerDir
	if dir == "" {
		dir = DefaultLedgerDir
	}
	return NewDirSource(dir), nil
}

// Run runs the terminal UI until the user quits or ctx is done. A cancelled
// ctx is not an error.
func Run(ctx context.Context, opts Options) error {
	opts.normalise()
	src, err := NewSource(opts)
	if err != nil {
		return err
	}
	r := lipgloss.NewRenderer(opts.Output)
	m := newModel(ctx, src, r, opts)
	popts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithAltScreen(), tea.WithOutput(opts.Output)}
	if opts.Input != nil {
		popts = append(popts, tea.WithInput(opts.Input))
	}
	if opts.Mouse {
		popts = append(popts, tea.WithMouseCellMotion())
	}
	_, err = tea.NewProgram(m, popts...).Run()
	if err != nil && (errors.Is(err, tea.ErrProgramKilled) || errors.Is(err, tea.ErrInterrupted)) && ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tui: %w", err)
	}
	return nil
}

// NewCommand returns the `tui` command for the runledger CLI.
func NewCommand() *cobra.Command {
	opts := Options{}
	cmd := &cobra.Command{
		Use:   "tui",
		Short: "Browse runs in a terminal UI: stop reasons, stages, waterfall, steps",
		Long: `Browse runs in a terminal UI.

The run list refreshes every second as runs arrive; open a run to see why it
stopped and what to do about it, its stage table and a waterfall of its steps
grouped by trace and span. Press ? inside for the key bindings.

Reads the ledger directory directly, or a reportapi server with --server.
Colours are off when NO_COLOR is set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("ledger-dir") && opts.Server != "" {
				return errors.New("--ledger-dir and --server are exclusive")
			}
			opts.Input = cmd.InOrStdin()
			opts.Output = cmd.OutOrStdout()
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return Run(ctx, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.LedgerDir, "ledger-dir", DefaultLedgerDir, "ledger directory to read")
	f.StringVar(&opts.Server, "server", "", "reportapi base URL (e.g. http://localhost:4320); reads over HTTP instead of the ledger directory")
	f.StringVar(&opts.ReportsDir, "out", DefaultReportsDir, "directory the x key exports reports to")
	f.BoolVar(&opts.NoColor, "no-color", false, "disable colours (also when NO_COLOR is set)")
	f.BoolVar(&opts.Mouse, "mouse", false, "enable mouse: wheel scrolls, click selects")
	return cmd
}
