package mcptools

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
)

// testDir copies some of the report package's testdata ledgers into a
// ledger directory.
func testDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"failed_embed_oom", "completed", "failed_with_spans"} {
		b, err := os.ReadFile(filepath.Join("..", "report", "testdata", name+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var first ledger.Line
		if err := ledger.DecodeLine([]byte(strings.SplitN(string(b), "\n", 2)[0]), &first); err != nil {
			t.Fatal(err)
		}
		p := ledger.RunPath(dir, first.TS, first.RunID)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// connect returns a client session to NewServer(b) over an in-memory
// transport.
func connect(t *testing.T, b Backend) *mcp.ClientSession {
	t.Helper()
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := NewServer(b, "test").Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// call calls a tool and decodes its structured output into out; it returns
// the result.
func call(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any, out any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: protocol error %v", name, err)
	}
	if out != nil && !res.IsError {
		b, err := json.Marshal(res.StructuredContent)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: structured output %s: %v", name, b, err)
		}
	}
	return res
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// exerciseTools checks every tool against the testdata ledgers through cs.
func exerciseTools(t *testing.T, cs *mcp.ClientSession) {
	t.Helper()
	ctx := context.Background()
	lt, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]*mcp.Tool{}
	for _, tool := range lt.Tools {
		names[tool.Name] = tool
	}
	for _, n := range []string{"list_runs", "get_run_report", "get_run_ledger", "get_insights", "diff_runs"} {
		tool := names[n]
		if tool == nil || tool.InputSchema == nil || tool.OutputSchema == nil || tool.Description == "" {
			t.Fatalf("tool %s missing or without schemas/description: %+v", n, tool)
		}
	}

	var page struct {
		Runs []struct {
			RunID         string `json:"run_id"`
			Status        string `json:"status"`
			StopErrorCode string `json:"stop_error_code"`
		} `json:"runs"`
		Matched int `json:"matched"`
	}
	call(t, cs, "list_runs", map[string]any{"status": "failed"}, &page)
	if page.Matched != 2 || len(page.Runs) != 2 {
		t.Fatalf("failed runs: %+v", page)
	}
	page.Runs = nil
	call(t, cs, "list_runs", map[string]any{"error_code": "oom"}, &page)
	if len(page.Runs) != 1 || page.Runs[0].RunID != "r-embed-oom" {
		t.Fatalf("error_code oom: %+v", page)
	}

	var rep struct {
		Report *report.Report `json:"report"`
	}
	call(t, cs, "get_run_report", map[string]any{"run_id": "r-embed-oom"}, &rep)
	if rep.Report == nil || rep.Report.StopReason.ErrorCode != "oom" || rep.Report.StopReason.Remediation == "" {
		t.Fatalf("report: %+v", rep.Report)
	}
	res := call(t, cs, "get_run_report", map[string]any{"run_id": "r-spans", "format": "md"}, nil)
	if res.IsError || !strings.Contains(text(res), "## Spans") || !strings.Contains(text(res), "index_not_found") {
		t.Fatalf("markdown report: %s", text(res))
	}

	var led struct {
		Lines      []json.RawMessage `json:"lines"`
		NextOffset *int              `json:"next_offset"`
	}
	call(t, cs, "get_run_ledger", map[string]any{"run_id": "r-spans", "limit": 3}, &led)
	if len(led.Lines) != 3 || led.NextOffset == nil || *led.NextOffset != 3 {
		t.Fatalf("ledger page: %d lines, next %v", len(led.Lines), led.NextOffset)
	}
	led.Lines, led.NextOffset = nil, nil
	call(t, cs, "get_run_ledger", map[string]any{"run_id": "r-spans", "offset": 3}, &led)
	if len(led.Lines) != 5 || led.NextOffset != nil || !strings.Contains(string(led.Lines[4]), `"rec":"span"`) {
		t.Fatalf("ledger rest: %d lines, next %v", len(led.Lines), led.NextOffset)
	}

	var ins struct {
		Runs      int `json:"runs"`
		TopCauses []struct {
			ErrorCode string `json:"error_code"`
		} `json:"top_causes"`
	}
	call(t, cs, "get_insights", map[string]any{"since": "2026-11-01", "until": "2026-12-01"}, &ins)
	if ins.Runs != 3 || len(ins.TopCauses) != 2 {
		t.Fatalf("insights: %+v", ins)
	}
	var diff struct {
		FirstDivergence *struct {
			Kind string `json:"kind"`
		} `json:"first_divergence"`
	}
	call(t, cs, "diff_runs", map[string]any{"a": "r-embed-oom", "b": "r-completed"}, &diff)
	if diff.FirstDivergence == nil || diff.FirstDivergence.Kind == "" {
		t.Fatalf("diff: %+v", diff)
	}

	// Unknown runs and bad arguments are tool errors that say what is wrong.
	for _, c := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"get_run_report", map[string]any{"run_id": "no-such-run"}, "not found"},
		{"get_run_ledger", map[string]any{"run_id": "no-such-run"}, "not found"},
		{"get_run_report", map[string]any{}, "run_id"},
		{"get_run_report", map[string]any{"run_id": "r-embed-oom", "format": "xml"}, "format"},
		{"get_run_report", map[string]any{"run_id": 42}, "run_id"},
		{"get_run_ledger", map[string]any{"run_id": "r-spans", "limit": 5000}, "limit"},
		{"list_runs", map[string]any{"since": "yesterday-ish"}, "since"},
		{"list_runs", map[string]any{"status": "exploded"}, "status"},
		{"get_insights", map[string]any{"since": "soon"}, "since"},
		{"diff_runs", map[string]any{"a": "no-such-run", "b": "r-embed-oom"}, "not found"},
		{"diff_runs", map[string]any{}, `"a"`},
	} {
		res := call(t, cs, c.tool, c.args, nil)
		if !res.IsError || !strings.Contains(text(res), c.want) {
			t.Errorf("%s %v: IsError %v %q, want a tool error mentioning %q", c.tool, c.args, res.IsError, text(res), c.want)
		}
	}
}

func TestToolsOverDirectory(t *testing.T) {
	cs := connect(t, NewDirBackend(testDir(t), report.Options{StallAfter: time.Hour}))
	exerciseTools(t, cs)
}
