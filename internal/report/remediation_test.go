package report

import (
	"strings"
	"testing"
)

func TestRemediationBuiltins(t *testing.T) {
	tab := DefaultRemediations()
	cases := []struct{ kind, code, detail, has string }{
		{"embed.vllm", "timeout", "", "did not answer in time"},
		{"embed.vllm", "HTTP 502", "", "failed or was unreachable"},
		{"embed.vllm", "", "CUDA out of memory", "out of (GPU) memory"},
		{"ann.faiss.search", "index_not_found", "", "ANN index was not found"},
		{"ann.faiss.search", "", "dimension mismatch: 768 vs 1024", "different embedding model"},
		{"hydrate.duckdb", "", "Catalog Error: Table with name x does not exist!", "DuckDB table is missing"},
		{"hydrate.duckdb", "", "database is locked", "locked by another process"},
		{"git.blame", "", "fatal: no such path 'a.go' in HEAD", "does not exist at that revision"},
		{"retrieval.hybrid", "empty_channel", "", "empty channel"},
		{"rerank.cross", "http_429", "", "rate or quota"},
		{"anything", "deadline_exceeded", "", "The step timed out"},
	}
	for _, c := range cases {
		r := tab.Lookup(c.kind, c.code, c.detail)
		if !r.Specific || !strings.Contains(r.Text, c.has) {
			t.Errorf("Lookup(%q, %q, %q) = %+v, want text with %q", c.kind, c.code, c.detail, r, c.has)
		}
	}
	if r := tab.Lookup("embed.vllm", "frobnicated", "no idea"); r.Specific || r.Text != GenericRemediation {
		t.Errorf("unknown code: %+v", r)
	}
}

func TestRemediationConfigOverrides(t *testing.T) {
	cfg := RemediationConfig{Rules: []RemediationRule{
		{Stage: "embed", Code: "timeout", Text: "Page the GPU on-call."},
		{Stage: "ann.faiss.*", Code: "frob*", Text: "Run make reindex."},
		{Stage: "git", Text: "Ask #code-search."},
	}}
	tab, err := cfg.Table()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ kind, code, want string }{
		{"embed.vllm", "timeout", "Page the GPU on-call."},
		{"ann.faiss.search", "frobnicated", "Run make reindex."},
		{"git.blame", "path_not_found", "Ask #code-search."},
		{"git.blame", "", "Ask #code-search."},
	} {
		if r := tab.Lookup(c.kind, c.code, ""); r.Text != c.want || !r.Specific {
			t.Errorf("Lookup(%s, %s) = %+v, want %q", c.kind, c.code, r, c.want)
		}
	}
	// Built-ins still answer what the user did not override.
	if r := tab.Lookup("hydrate.duckdb", "locked", ""); !strings.Contains(r.Text, "locked by another process") {
		t.Errorf("builtin lost: %+v", r)
	}
	cfg.DisableBuiltin = true
	tab, _ = cfg.Table()
	if r := tab.Lookup("hydrate.duckdb", "locked", ""); r.Specific {
		t.Errorf("disable_builtin: %+v", r)
	}
}

func TestRemediationConfigValidate(t *testing.T) {
	bad := RemediationConfig{Rules: []RemediationRule{{Stage: "[", Code: "x", Text: "t"}, {Stage: "a", Code: "b"}}}
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "bad pattern") || !strings.Contains(err.Error(), "text is empty") {
		t.Fatalf("Validate: %v", err)
	}
}

func TestBuildUsesConfiguredTable(t *testing.T) {
	cfg := RemediationConfig{Rules: []RemediationRule{{Stage: "embed", Code: "oom", Text: "Use the A100 pool."}}}
	tab, err := cfg.Table()
	if err != nil {
		t.Fatal(err)
	}
	r := buildTestdata(t, "failed_embed_oom", Options{Remediations: tab})
	if r.StopReason.Remediation != "Use the A100 pool." {
		t.Fatalf("remediation %q", r.StopReason.Remediation)
	}
}
