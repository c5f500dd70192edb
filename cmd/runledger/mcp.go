package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/runledger/runledger/internal/mcptools"
	"github.com/runledger/runledger/internal/report"
)

// mcpTimeout bounds each request to a reportapi server made for a tool call.
const mcpTimeout = 30 * time.Second

func newMCPCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve runledger's tools to an AI agent over MCP (stdio)",
		Long: `Serve runledger's tools to an AI agent over the Model Context Protocol on
stdin/stdout: list_runs, get_run_report (json or md) and get_run_ledger.

Reads the ledger directory directly, or a reportapi server with --server
(which also serves the same tools over streamable HTTP at /mcp). Add it to an
MCP client as the command "runledger mcp --ledger-dir <dir>".`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.checkSource(cmd); err != nil {
				return err
			}
			if err := report.ValidateTraceURL(c.traceURL); err != nil {
				return usageError("--trace-url: %v", err)
			}
			var b mcptools.Backend
			if c.server != "" {
				cl, err := c.client(mcpTimeout)
				if err != nil {
					return err
				}
				b = cl
			} else {
				if err := c.checkLedgerDir(cmd); err != nil {
					return err
				}
				b = mcptools.NewDirBackend(c.ledgerDir, report.Options{StallAfter: c.stallAfter, TraceURL: c.traceURL})
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			t := &mcp.IOTransport{Reader: io.NopCloser(cmd.InOrStdin()), Writer: nopWriteCloser{cmd.OutOrStdout()}}
			err := mcptools.NewServer(b, mcptools.Version).Run(ctx, t)
			if err != nil && (errors.Is(err, io.EOF) || errors.Is(err, context.Canceled)) {
				return nil // the client went away
			}
			return err
		},
	}
	c.register(cmd, true)
	return cmd
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
