package report

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// RemediationRule maps (stage pattern, error code pattern) to advice.
//
// Stage is matched, case-insensitively, against both the step's stage
// ("embed") and its kind ("embed.vllm"); Code against the normalised error
// code (see NormalizeCode). Both are path.Match globs ("ann*", "http_5*"),
// may list alternatives separated by "|" ("index_not_found|not_found"), and
// match anything when empty or "*".
//
// Category, Retryable and Owner are the error taxonomy: what kind of
// failure the code is (one of the Category* values below), whether trying
// again can help, and who acts on it (free text, e.g. a team). A rule
// without a category leaves the taxonomy to the next matching rule that
// has one, so a rule that only rewrites the advice keeps the built-in
// category.
type RemediationRule struct {
	Stage     string `mapstructure:"stage"`
	Code      string `mapstructure:"code"`
	Text      string `mapstructure:"text"`
	Category  string `mapstructure:"category"`
	Retryable *bool  `mapstructure:"retryable"`
	Owner     string `mapstructure:"owner"`
}

// Error categories of the taxonomy (report field error_category). They
// are distinct from the stop categories (StopReason.Category).
const (
	// ErrorCategoryUser: the request or input was wrong.
	ErrorCategoryUser = "user"
	// ErrorCategoryConfig: the service is set up wrongly (paths, names,
	// missing index or table, credentials).
	ErrorCategoryConfig = "config"
	// ErrorCategoryDependency: a service called by the step failed or was
	// slow.
	ErrorCategoryDependency = "dependency"
	// ErrorCategoryInfra: the machine or platform (memory, disk, network,
	// locks).
	ErrorCategoryInfra = "infra"
	// ErrorCategoryModel: the model's behaviour or its fit to the data.
	ErrorCategoryModel = "model"
	// ErrorCategoryInternal: a bug in the service itself.
	ErrorCategoryInternal = "internal"
	// ErrorCategoryUnknown: no rule classifies the code.
	ErrorCategoryUnknown = "unknown"
)

// ValidErrorCategory reports whether c is one of the taxonomy's
// categories (unknown included).
func ValidErrorCategory(c string) bool {
	switch c {
	case ErrorCategoryUser, ErrorCategoryConfig, ErrorCategoryDependency, ErrorCategoryInfra,
		ErrorCategoryModel, ErrorCategoryInternal, ErrorCategoryUnknown:
		return true
	}
	return false
}

// RemediationConfig is the user part of the remediation table, embeddable in
// a component config (mapstructure tags). User rules are tried first, in
// order, before the built-in ones; a user rule for the same stage and code
// therefore overrides the built-in text.
type RemediationConfig struct {
	// Rules are the user's rules.
	Rules []RemediationRule `mapstructure:"rules"`
	// DisableBuiltin drops the built-in rules.
	DisableBuiltin bool `mapstructure:"disable_builtin"`
}

// Validate checks every rule: text present, patterns valid.
func (c *RemediationConfig) Validate() error {
	var errs []error
	for i, r := range c.Rules {
		if strings.TrimSpace(r.Text) == "" {
			errs = append(errs, fmt.Errorf("remediation rule %d: text is empty", i))
		}
		if r.Category != "" && (!ValidErrorCategory(r.Category) || r.Category == ErrorCategoryUnknown) {
			errs = append(errs, fmt.Errorf("remediation rule %d: category %q is not one of user, config, dependency, infra, model, internal", i, r.Category))
		}
		for _, p := range []string{r.Stage, r.Code} {
			for _, alt := range strings.Split(p, "|") {
				if _, err := path.Match(strings.ToLower(alt), ""); err != nil {
					errs = append(errs, fmt.Errorf("remediation rule %d: bad pattern %q: %w", i, alt, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Table returns the remediation table of this configuration.
func (c *RemediationConfig) Table() (*RemediationTable, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	t := &RemediationTable{}
	for _, r := range c.Rules {
		t.rules = append(t.rules, compileRule(r))
	}
	if !c.DisableBuiltin {
		t.rules = append(t.rules, builtin...)
	}
	return t, nil
}

// RemediationTable answers "what should I do about this failure".
type RemediationTable struct {
	rules []compiledRule
}

type compiledRule struct {
	stages []string
	codes  []string
	text   string
	tax    Taxonomy
}

// Taxonomy classifies a failure: the error category, whether it is worth
// retrying (nil: not known) and who acts on it.
type Taxonomy struct {
	Category  string
	Retryable *bool
	Owner     string
}

func compileRule(r RemediationRule) compiledRule {
	split := func(p string) []string {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" || p == "*" {
			return nil
		}
		return strings.Split(p, "|")
	}
	return compiledRule{stages: split(r.Stage), codes: split(r.Code), text: strings.TrimSpace(r.Text),
		tax: Taxonomy{Category: r.Category, Retryable: r.Retryable, Owner: strings.TrimSpace(r.Owner)}}
}

func matchAny(pats []string, vals ...string) bool {
	if pats == nil {
		return true
	}
	for _, p := range pats {
		for _, v := range vals {
			if ok, _ := path.Match(p, v); ok {
				return true
			}
		}
	}
	return false
}

// Remediation is the result of a table lookup.
type Remediation struct {
	// Text is the advice.
	Text string
	// Code is the code the matching rule was found with: the step's own
	// normalised code, or one inferred from the detail text.
	Code string
	// Specific is false when no rule matched and Text is the generic advice.
	Specific bool
	// Taxonomy is the failure's class; Category is ErrorCategoryUnknown
	// when no rule classifies it.
	Taxonomy
}

// GenericRemediation is the advice for failures no rule knows.
const GenericRemediation = "No specific remediation is known for this error. Read the detail and the failing step's " +
	"resources above, then the logs of the service around the failing time; add a rule for this stage and " +
	"code to the remediation table once the cause is understood."

// StalledRemediation is the advice for stalled runs.
const StalledRemediation = "The run stopped emitting events without run.end: the process may have crashed, hung " +
	"(deadlock, blocking call without timeout) or lost its connection to the collector. Check the service " +
	"logs and health around the last event, and whether the step after the last one was ever started."

// DefaultRemediations returns the built-in table.
func DefaultRemediations() *RemediationTable { return &RemediationTable{rules: builtin} }

// Lookup finds the advice for a failed step of the given kind. The step's
// code is tried first; when no rule matches it (or it is empty), a code
// inferred from the code and detail text (InferCode) is tried.
func (t *RemediationTable) Lookup(kind, code, detail string) Remediation {
	lk := strings.ToLower(kind)
	stage := Stage(lk)
	norm := NormalizeCode(code)
	cands := make([]string, 0, 2)
	if norm != "" {
		cands = append(cands, norm)
	}
	if inf := InferCode(norm, detail); inf != "" && inf != norm {
		cands = append(cands, inf)
	}
	if len(cands) == 0 {
		cands = append(cands, "")
	}
	out := Remediation{Text: GenericRemediation, Code: norm, Taxonomy: Taxonomy{Category: ErrorCategoryUnknown}}
	found, classified := false, false
	for _, c := range cands {
		for _, r := range t.rules {
			if found && (classified || r.tax.Category == "") {
				continue
			}
			if !matchAny(r.stages, stage, lk) {
				continue
			}
			if r.codes == nil || c != "" && matchAny(r.codes, c) {
				if !found {
					out.Text, out.Code, out.Specific, found = r.text, c, true, true
				}
				if r.tax.Category != "" && !classified {
					out.Taxonomy, classified = r.tax, true
				}
				if classified {
					return out
				}
			}
		}
	}
	return out
}

func (t *RemediationTable) stalledText(kind string) string {
	if r := t.Lookup(kind, "stalled", ""); r.Specific {
		return r.Text
	}
	return StalledRemediation
}

// InferCode derives a canonical code from a normalised code and detail text
// when they name a known failure: timeout, oom, dimension_mismatch,
// index_not_found, table_not_found, locked, path_not_found, empty_channel,
// connection_refused, rate_limited, permission_denied, http_5xx, cancelled.
// It returns "" when nothing is recognised.
func InferCode(code, detail string) string {
	d := strings.ToLower(code + " " + detail)
	has := func(kws ...string) bool {
		for _, kw := range kws {
			if strings.Contains(d, kw) {
				return true
			}
		}
		return false
	}
	switch {
	case IsTimeout(code, detail):
		return "timeout"
	case has("out of memory", "out_of_memory", "outofmemory", "cuda oom", "oom-kill", "oomkilled") || hasWord(d, "oom"):
		return "oom"
	case has("dimension mismatch", "dimension_mismatch", "dimensions mismatch", "dim mismatch") ||
		has("dimension", "dim ") && has("mismatch", "does not match", "doesn't match", "expected"):
		return "dimension_mismatch"
	case has("index") && has("not found", "not_found", "no such file", "does not exist", "missing", "could not open"):
		return "index_not_found"
	case has("no such table", "table_not_found") || has("table") && has("does not exist", "not found", "missing"):
		return "table_not_found"
	case has("database is locked", "could not set lock", "conflicting lock", "lock on file", "locked"):
		return "locked"
	case has("no such path", "pathspec", "no such file", "does not exist", "path_not_found", "not found"):
		return "path_not_found"
	case has("empty channel", "empty_channel", "channel is empty", "channel empty", "no hits", "zero hits"):
		return "empty_channel"
	case has("connection refused", "connection_refused", "econnrefused", "connection reset", "no route to host"):
		return "connection_refused"
	case has("too many requests", "rate limit", "rate_limit", "ratelimit") || hasNumberWord(d, "429"):
		return "rate_limited"
	case has("permission denied", "permission_denied", "forbidden", "unauthorized", "unauthenticated"):
		return "permission_denied"
	case has("cancelled", "canceled"):
		return "cancelled"
	}
	for _, c := range []string{"500", "501", "502", "503", "505", "507", "520", "521", "522", "523", "524", "529"} {
		if hasNumberWord(d, c) {
			return "http_" + c
		}
	}
	return ""
}

func hasWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		k := j + len(w)
		if (j == 0 || !isWordByte(s[j-1])) && (k == len(s) || !isWordByte(s[k])) {
			return true
		}
		i = j + 1
	}
}

func rule(stage, code, text string) compiledRule {
	return compileRule(RemediationRule{Stage: stage, Code: code, Text: text})
}

// classify sets a built-in rule's taxonomy.
func (r compiledRule) classify(category string, retryable bool) compiledRule {
	r.tax = Taxonomy{Category: category, Retryable: &retryable}
	return r
}

const timeoutCodes = "timeout|timed_out|deadline_exceeded|context_deadline_exceeded|http_504|gateway_timeout|*timeout*|*deadline*"

// builtin is ordered from specific (retrieval stages) to generic codes.
var builtin = []compiledRule{
	// Embedding server (vLLM).
	rule("embed*", timeoutCodes,
		"The embedding server did not answer in time. Check that it is up and not saturated (vLLM queue length, "+
			"GPU utilisation, running/waiting requests), then raise the client timeout or send smaller batches "+
			"(fewer vectors per request); add retries with backoff for transient overload.").classify(ErrorCategoryDependency, true),
	rule("embed*", "oom|cuda_oom|out_of_memory",
		"The embedding server ran out of (GPU) memory. Send smaller batches or shorter inputs, lower vLLM's "+
			"--max-num-seqs / --max-model-len or --gpu-memory-utilization headroom, or move the model to a larger GPU.").classify(ErrorCategoryInfra, false),
	rule("embed*", "http_5*|server_error|bad_gateway|service_unavailable|unavailable|connection_refused",
		"The embedding server failed or was unreachable (5xx / connection refused). Check the vLLM server process "+
			"and its logs (crash, restart, model still loading), the endpoint URL and the model name in the step's "+
			"resources; retry with backoff once it is healthy.").classify(ErrorCategoryDependency, true),
	rule("embed*", "model_not_found|http_404|not_found",
		"The embedding server does not serve the requested model. Check the model name in the step's resources "+
			"against the models the vLLM server was started with (GET /v1/models).").classify(ErrorCategoryConfig, false),
	// ANN search (FAISS).
	rule("ann*|*faiss*|vector*", "index_not_found|not_found|no_such_file|missing_index|path_not_found",
		"The ANN index was not found. Check resources.index_path / index_version: build or download the FAISS "+
			"index for this corpus, or point the service at the index that exists; make sure the index build "+
			"finished before queries start.").classify(ErrorCategoryConfig, false),
	rule("ann*|*faiss*|vector*", "dimension_mismatch|dim_mismatch|bad_dimension",
		"The query vectors do not have the index's dimension: the index was built with a different embedding "+
			"model than the one used now. Rebuild the index with the current model, or switch the embedding model "+
			"(resources.model) back to the one the index (resources.index_version) was built with.").classify(ErrorCategoryModel, false),
	rule("ann*|*faiss*|vector*", timeoutCodes,
		"ANN search took too long. Lower nprobe / efSearch or top-k, check that the index fits in memory (no "+
			"swapping), or raise the search timeout.").classify(ErrorCategoryInfra, true),
	rule("ann*|*faiss*|vector*", "oom|out_of_memory",
		"Loading or searching the ANN index ran out of memory. Use a compressed index (IVF-PQ), memory-map it, "+
			"or give the service more memory.").classify(ErrorCategoryInfra, false),
	// Hydration (DuckDB).
	rule("hydrate*|*duckdb*", "table_not_found|no_such_table|catalog_error|not_found",
		"A DuckDB table is missing. Run the ingestion / migration that creates it (see resources.table), and "+
			"check that the service opens the right database file.").classify(ErrorCategoryConfig, false),
	rule("hydrate*|*duckdb*", "locked|database_locked|lock_conflict|io_error_lock",
		"The DuckDB file is locked by another process: DuckDB allows one writing process per file. Stop the "+
			"other writer (an ingestion job, a second service instance), or open the database read-only for "+
			"queries.").classify(ErrorCategoryInfra, true),
	rule("hydrate*|*duckdb*", timeoutCodes,
		"Hydration queries took too long. Check the query plan and indexes for the looked-up keys, batch fewer "+
			"ids per query, or raise the timeout.").classify(ErrorCategoryInfra, true),
	// git blame.
	rule("git*|*blame*", "path_not_found|not_found|no_such_path|no_such_file|pathspec|fatal_no_such_path",
		"git blame was asked for a path that does not exist at that revision: the file was moved, renamed or "+
			"deleted since the index was built. Reindex the repository (resources.repo) so paths match HEAD, or "+
			"skip blame for paths missing at the requested revision.").classify(ErrorCategoryConfig, false),
	rule("git*|*blame*", timeoutCodes,
		"git blame took too long (large file or long history). Limit it to the hit's line range (-L), use "+
			"--incremental or a shallower revision range, or raise the timeout.").classify(ErrorCategoryInfra, true),
	// Hybrid retrieval / fusion.
	rule("retrieval*|*hybrid*|*fusion*|rerank*", "empty_channel|no_hits|empty_result|channel_empty",
		"Hybrid fusion got an empty channel: one retriever returned no hits. Check the failing channel's own "+
			"step before this one (ANN search or lexical search): index populated and matching the corpus, query "+
			"not filtered to nothing. Let fusion fall back to the non-empty channel instead of failing.").classify(ErrorCategoryConfig, false),
	// Generic codes, any stage.
	rule("", timeoutCodes,
		"The step timed out. Find the slow dependency in the step's resources and the stage table (p95 and max "+
			"durations), check its health and load, then raise the timeout or reduce the work per call.").classify(ErrorCategoryDependency, true),
	rule("", "oom|out_of_memory|oom_killed",
		"The process ran out of memory. Reduce batch sizes or concurrency, or give the service more memory.").classify(ErrorCategoryInfra, false),
	rule("", "http_5*|unavailable|service_unavailable|bad_gateway|server_error|internal",
		"A downstream service returned a server error. Check that service's logs and health, then retry with "+
			"backoff.").classify(ErrorCategoryDependency, true),
	rule("", "connection_refused|unreachable|dns_error|no_route_to_host",
		"A dependency was unreachable. Check that it runs, the configured address and port, and the network "+
			"between the two.").classify(ErrorCategoryDependency, true),
	rule("", "rate_limited|http_429|resource_exhausted|quota_exceeded",
		"A dependency rejected calls for rate or quota. Lower concurrency, add backoff, or raise the quota.").classify(ErrorCategoryDependency, true),
	rule("", "permission_denied|unauthenticated|unauthorized|forbidden|http_401|http_403",
		"Access was denied. Check credentials, tokens and file permissions for the resource in the step.").classify(ErrorCategoryConfig, false),
	rule("", "not_found|http_404|path_not_found|no_such_file|index_not_found|table_not_found",
		"A resource the step needed does not exist. Check the identifiers in the step's resources and that the "+
			"job creating it ran first.").classify(ErrorCategoryConfig, false),
	rule("", "invalid_argument|bad_request|http_400|validation_error",
		"The step was called with invalid input. Check the request that started the run and the step's detail.").classify(ErrorCategoryUser, false),
	rule("", "cancelled|canceled",
		"The run was cancelled: by the caller (client disconnected, request deadline), by an operator, or by a "+
			"shutdown. Check who cancelled it around the cancelled step; re-run it if the work is still needed.").classify(ErrorCategoryUser, true),
}
