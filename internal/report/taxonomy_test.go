package report

import (
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

func TestTaxonomyBuiltins(t *testing.T) {
	tab := DefaultRemediations()
	for _, c := range []struct {
		kind, code, detail, category string
		retryable                    bool
	}{
		{"embed.vllm", "timeout", "", ErrorCategoryDependency, true},
		{"embed.vllm", "http_503", "", ErrorCategoryDependency, true},
		{"embed.vllm", "", "CUDA out of memory", ErrorCategoryInfra, false},
		{"ann.faiss.search", "index_not_found", "", ErrorCategoryConfig, false},
		{"ann.faiss.search", "dimension_mismatch", "", ErrorCategoryModel, false},
		{"hydrate.duckdb", "locked", "", ErrorCategoryInfra, true},
		{"git.blame", "path_not_found", "", ErrorCategoryConfig, false},
		{"retrieval.hybrid", "empty_channel", "", ErrorCategoryConfig, false},
		{"api.handler", "invalid_argument", "", ErrorCategoryUser, false},
	} {
		r := tab.Lookup(c.kind, c.code, c.detail)
		if r.Category != c.category || r.Retryable == nil || *r.Retryable != c.retryable {
			t.Errorf("Lookup(%q, %q, %q) taxonomy = %+v, want %s retryable=%v", c.kind, c.code, c.detail, r.Taxonomy, c.category, c.retryable)
		}
	}
	if r := tab.Lookup("embed.vllm", "frobnicated", "no idea"); r.Category != ErrorCategoryUnknown || r.Retryable != nil {
		t.Errorf("unknown code classified: %+v", r.Taxonomy)
	}
}

func TestTaxonomyConfig(t *testing.T) {
	yes := true
	cfg := RemediationConfig{Rules: []RemediationRule{
		// Advice only: the built-in class stays.
		{Stage: "embed", Code: "timeout", Text: "Page the GPU on-call."},
		// A class of its own, with an owner.
		{Stage: "ann*", Code: "index_not_found", Text: "Run make reindex.", Category: "internal", Retryable: &yes, Owner: "search-team"},
		{Stage: "billing", Code: "card_declined", Text: "Ask the user for another card.", Category: "user"},
	}}
	tab, err := cfg.Table()
	if err != nil {
		t.Fatal(err)
	}
	if r := tab.Lookup("embed.vllm", "timeout", ""); r.Text != "Page the GPU on-call." || r.Category != ErrorCategoryDependency {
		t.Errorf("advice-only override: %+v", r)
	}
	if r := tab.Lookup("ann.faiss.search", "index_not_found", ""); r.Category != ErrorCategoryInternal || r.Owner != "search-team" || !*r.Retryable {
		t.Errorf("user class: %+v", r)
	}
	if r := tab.Lookup("billing.charge", "card_declined", ""); r.Category != ErrorCategoryUser || r.Retryable != nil {
		t.Errorf("user rule without retryable: %+v", r)
	}
	bad := RemediationConfig{Rules: []RemediationRule{{Text: "t", Category: "network"}, {Text: "t", Category: "unknown"}}}
	if err := bad.Validate(); err == nil || strings.Count(err.Error(), "is not one of") != 2 {
		t.Fatalf("Validate: %v", err)
	}
}

// The report shows the class in stop_reason and in each errors entry.
func TestReportCarriesTaxonomy(t *testing.T) {
	r := buildTestdata(t, "failed_embed_http503", Options{})
	sr := r.StopReason
	if sr.ErrorCategory != ErrorCategoryDependency || sr.Retryable == nil || !*sr.Retryable {
		t.Fatalf("stop reason taxonomy %+v", sr)
	}
	if len(r.Errors) == 0 || r.Errors[0].ErrorCategory != ErrorCategoryDependency {
		t.Fatalf("errors %+v", r.Errors)
	}
	if md := r.Markdown(); !strings.Contains(md, "**Error class:** dependency, retryable") {
		t.Fatalf("Markdown:\n%s", md)
	}
	if u := buildTestdata(t, "failed_unknown_code", Options{}); u.StopReason.ErrorCategory != ErrorCategoryUnknown {
		t.Fatalf("unknown code: %+v", u.StopReason)
	}
}

// A recorded exception is weaker evidence than a step the producer
// reported failed: it is the root cause only when nothing else is.
func TestExceptionsRankAfterFailedSteps(t *testing.T) {
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	exc := ledger.Line{V: 1, RunID: "s", Seq: 2, TS: ts.Add(time.Second), Kind: "embed.exception", Status: "failed",
		ErrorCode: "*url.Error", Detail: "Post http://vllm: connection refused"}
	step := ledger.Line{V: 1, RunID: "s", Seq: 3, TS: ts.Add(2 * time.Second), Kind: "ann.faiss.search", Status: "failed", ErrorCode: "index_not_found"}
	end := ledger.Line{V: 1, RunID: "s", Seq: 4, TS: ts.Add(3 * time.Second), Kind: "run.end", Status: "failed"}
	start := ledger.Line{V: 1, RunID: "s", Seq: 1, TS: ts, Kind: "run.start", Status: "ok"}

	both := Build([]ledger.Line{start, exc, step, end}, Options{})
	if sr := both.StopReason; sr.Kind != "ann.faiss.search" || sr.ErrorCategory != ErrorCategoryConfig {
		t.Fatalf("failed step first: %+v", sr)
	}
	alone := Build([]ledger.Line{start, exc, end}, Options{})
	sr := alone.StopReason
	if sr.Category != CategoryError || sr.Kind != "embed.exception" || sr.ErrorCode != "*url.Error" {
		t.Fatalf("exception alone: %+v", sr)
	}
	// The type names no code the table knows; the message does.
	if sr.ErrorCategory != ErrorCategoryDependency || !strings.Contains(sr.Remediation, "unreachable") {
		t.Fatalf("exception classified from its message: %+v", sr)
	}
}

// session.previous_id, written by steproute as attrs.previous_run, links a
// run to the one it follows.
func TestPreviousRun(t *testing.T) {
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	r := Build([]ledger.Line{
		{V: 1, RunID: "s-2", Seq: 1, TS: ts, Kind: "run.start", Status: "ok"},
		{V: 1, RunID: "s-2", Seq: 2, TS: ts, Kind: "embed.vllm", Status: "ok", Attrs: map[string]any{"run_key": "session.id", "previous_run": "s-1"}},
	}, Options{})
	if r.PreviousRun != "s-1" {
		t.Fatalf("previous_run %q", r.PreviousRun)
	}
	if Build([]ledger.Line{{V: 1, RunID: "x", Seq: 1, TS: ts, Kind: "a", Status: "ok"}}, Options{}).PreviousRun != "" {
		t.Fatal("previous_run without a link")
	}
}
