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
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/runledger/runledger/internal/reportclient"
)

// Defaults of Options.
const (
	DefaultReportsDir      = "out/run_reports"
	DefaultRefreshInterval = time.Second
)

// Options configure Run.
type Options struct {
	// LedgerDir is the ledger directory read when Client is nil.
	LedgerDir string
	// Client reads from a reportapi server instead of LedgerDir when set.
	Client *reportclient.Client
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
	// TraceURL is the trace_url template (report.ValidateTraceURL) that
	// links a ledger directory's runs to the trace backend; a server
	// renders its own.
	TraceURL string
}

func (o *Options) normalise() {
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
// Client is set, else the ledger directory.
func NewSource(opts Options) (Source, error) {
	if opts.Client != nil {
		return NewHTTPSource(opts.Client), nil
	}
	if opts.LedgerDir == "" {
		return nil, errors.New("no ledger directory and no server to read runs from")
	}
	src := NewDirSource(opts.LedgerDir)
	src.TraceURL = opts.TraceURL
	return src, nil
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
