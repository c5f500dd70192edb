package reportapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
)

type headerTransport struct {
	base   http.RoundTripper
	header string
}

func (h headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", h.header)
	return h.base.RoundTrip(req)
}

func mcpConnect(s *server, client *http.Client) (*mcp.ClientSession, error) {
	return mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: s.base + routeMCP, HTTPClient: client, MaxRetries: -1}, nil)
}

// The MCP tools over streamable HTTP at /mcp: the SDK's client lists and
// calls them on the extension's own runs, and the route sits behind the
// same authenticator as the others.
func TestMCPRoute(t *testing.T) {
	s := startServer(t, nil, nil)
	s.writeRun(t, "r-mcp", t0, failedRun...)
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(string(get(t, s.base+"/reports/runs").body), "r-mcp") })
	cs, err := mcpConnect(s, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil || len(tools.Tools) < 3 {
		t.Fatalf("tools: %v %v", tools, err)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_run_report", Arguments: map[string]any{"run_id": "r-mcp", "format": "md"}})
	if err != nil || res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "deadline_exceeded") {
		t.Fatalf("report: %+v %v", res, err)
	}
	res, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "list_runs", Arguments: map[string]any{"status": "failed"}})
	if err != nil || res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "r-mcp") {
		t.Fatalf("list_runs: %+v %v", res, err)
	}
	res, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_run_ledger", Arguments: map[string]any{"run_id": "../../etc/passwd"}})
	if err != nil || !res.IsError {
		t.Fatalf("hostile run id: %+v %v", res, err)
	}
}

func TestMCPRouteNeedsAuth(t *testing.T) {
	host := authHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{
		component.MustNewID("testauth"): testAuth{token: "s3cret"}}}
	s := startServer(t, host, func(c *Config) {
		c.ServerConfig.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: component.MustNewID("testauth")}})
	})
	if _, err := mcpConnect(s, http.DefaultClient); err == nil {
		t.Fatal("connected without a token")
	}
	cs, err := mcpConnect(s, &http.Client{Transport: headerTransport{http.DefaultTransport, "Bearer s3cret"}})
	if err != nil {
		t.Fatalf("with the token: %v", err)
	}
	cs.Close()
}
