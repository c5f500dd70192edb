package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpSession runs `runledger mcp args...` in process on a pipe pair and
// connects the SDK's client to it.
func mcpSession(t *testing.T, args ...string) *mcp.ClientSession {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		root := NewRootCmd(outW, io.Discard)
		root.SetIn(inR)
		root.SetArgs(append([]string{"mcp"}, args...))
		err := root.ExecuteContext(ctx)
		outW.Close()
		done <- ExitCode(err)
	}()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx,
		&mcp.IOTransport{Reader: outR, Writer: inW}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cs.Close()
		inW.Close()
		cancel()
		if code := <-done; code != ExitOK {
			t.Errorf("runledger mcp exited %d", code)
		}
	})
	return cs
}

func callText(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) (string, bool) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError
}

// `runledger mcp` over stdio, reading the ledger directory and through a
// reportapi server: the same tools and answers.
func TestMCPStdio(t *testing.T) {
	for name, args := range map[string][]string{
		"ledger-dir": {"--ledger-dir", testLedgers},
		"server":     {"--server", startReportAPI(t, testLedgers)},
	} {
		t.Run(name, func(t *testing.T) {
			cs := mcpSession(t, args...)
			tools, err := cs.ListTools(context.Background(), nil)
			if err != nil || len(tools.Tools) != 5 {
				t.Fatalf("tools %v %v", tools, err)
			}
			if out, isErr := callText(t, cs, "get_run_report", map[string]any{"run_id": "r-embed-oom", "format": "md"}); isErr ||
				!strings.Contains(out, "code `oom`") {
				t.Fatalf("report: %v %s", isErr, out)
			}
			if out, isErr := callText(t, cs, "list_runs", map[string]any{"error_code": "oom"}); isErr || !strings.Contains(out, "r-embed-oom") {
				t.Fatalf("list_runs: %v %s", isErr, out)
			}
			if out, isErr := callText(t, cs, "get_run_ledger", map[string]any{"run_id": "r-embed-oom", "limit": 2}); isErr ||
				!strings.Contains(out, `"next_offset":2`) {
				t.Fatalf("ledger: %v %s", isErr, out)
			}
			if out, isErr := callText(t, cs, "get_run_report", map[string]any{"run_id": "no-such-run"}); !isErr || !strings.Contains(out, "not found") {
				t.Fatalf("unknown run: %v %s", isErr, out)
			}
		})
	}
}

func TestMCPUsage(t *testing.T) {
	if code, _, errOut := runCLI(t, "mcp", "--ledger-dir", "/nonexistent-runledger"); code != ExitError || !strings.Contains(errOut, "/nonexistent-runledger") {
		t.Fatalf("missing dir: exit %d %q", code, errOut)
	}
	if code, _, _ := runCLI(t, "mcp", "--ledger-dir", testLedgers, "--server", "http://127.0.0.1:1"); code != ExitUsage {
		t.Fatalf("both sources: exit %d", code)
	}
}
