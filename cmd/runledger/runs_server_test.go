package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// With --server, the cursor is the server's: a reportapi with peers
// answers a federated cursor the local index would not parse, and the CLI
// passes it on as given.
func TestRunsListPassesTheServersCursor(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got.Store(req.URL.Query().Get("cursor"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"runs":[],"matched":0,"indexing":false}`))
	}))
	defer srv.Close()
	code, _, errOut := runCLI(t, "runs", "list", "--server", srv.URL, "--cursor", "f1.eyJwIjp7fX0", "--format", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if c, _ := got.Load().(string); c != "f1.eyJwIjp7fX0" {
		t.Fatalf("server got cursor %q", c)
	}
	// Without a server the cursor is the local index's, checked.
	if code, _, errOut := runCLI(t, "runs", "list", "--ledger-dir", t.TempDir(), "--cursor", "f1.eyJwIjp7fX0"); code != ExitUsage || !strings.Contains(errOut, "cursor") {
		t.Fatalf("local: exit %d: %s", code, errOut)
	}
}
