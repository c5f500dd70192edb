// Package demo is a simulated code-retrieval service that exercises every
// stage of the runledger StepEvent contract, including failures: embedding
// (embed.vllm), ANN search (ann.faiss.search), hydration (hydrate.duckdb),
// git blame (git.blame) and hybrid fusion (retrieval.hybrid). The work is
// simulated with realistic sizes and short latencies; failures are
// injectable per request and by rate, so every stop reason of the report
// engine can be produced. cmd/demo-worker serves it over HTTP.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/pipeline"
)

// Stage kinds of a retrieval request, in execution order.
const (
	KindEmbed   = "embed.vllm"
	KindANN     = "ann.faiss.search"
	KindHydrate = "hydrate.duckdb"
	KindBlame   = "git.blame"
	KindHybrid  = "retrieval.hybrid"
	// KindRetrievalError is the wrapper step the request handler emits after
	// a stage's own "<stage>.error", repeating its code.
	KindRetrievalError = "retrieval.error"
)

var stageKinds = [...]string{KindEmbed, KindANN, KindHydrate, KindBlame, KindHybrid}

// Stages returns the stage kinds in execution order.
func Stages() []string { return append([]string(nil), stageKinds[:]...) }

// Error codes the demo can inject. CodeTimeout and CodeCancelled work for
// every stage.
const (
	CodeTimeout           = pipeline.CodeTimeout
	CodeCancelled         = pipeline.CodeCancelled
	CodeHTTP503           = "http_503"
	CodeOOM               = "oom"
	CodeIndexNotFound     = "index_not_found"
	CodeDimensionMismatch = "dimension_mismatch"
	CodeMissingTable      = "missing_table"
	CodeLocked            = "locked"
	CodePathNotFound      = "path_not_found"
	CodeEmptyChannel      = "empty_channel"
	// CodeStall is not an error code: "<stage>:stall" makes the worker stop
	// emitting during that stage, as if it crashed or hung: no stage step,
	// no retrieval.error and no run.end, so the report shows the run
	// in_progress and, after stall_after, stalled. It is never chosen by
	// FailRate.
	CodeStall = "stall"
)

// stageCodes are the stage-specific failure codes.
var stageCodes = map[string][]string{
	KindEmbed:   {CodeHTTP503, CodeOOM},
	KindANN:     {CodeIndexNotFound, CodeDimensionMismatch},
	KindHydrate: {CodeMissingTable, CodeLocked},
	KindBlame:   {CodePathNotFound},
	KindHybrid:  {CodeEmptyChannel},
}

// Failure is an injected failure: Stage fails with Code.
type Failure struct {
	Stage string
	Code  string
}

// Failures returns every failure the demo can inject, stage by stage.
func Failures() []Failure {
	var out []Failure
	for _, st := range stageKinds {
		for _, c := range stageCodes[st] {
			out = append(out, Failure{st, c})
		}
		out = append(out, Failure{st, CodeTimeout}, Failure{st, CodeCancelled})
	}
	return out
}

var stageAliases = map[string]string{
	"embed": KindEmbed, "vllm": KindEmbed,
	"ann": KindANN, "faiss": KindANN,
	"hydrate": KindHydrate, "duckdb": KindHydrate,
	"git": KindBlame, "blame": KindBlame,
	"hybrid": KindHybrid, "retrieval": KindHybrid,
}

// ParseFailure parses "<stage>:<code>", where stage is a kind from Stages()
// or its short name (embed, ann, hydrate, blame, hybrid) and code one of
// its Failures or CodeStall, and "client:cancelled" (the client goes away
// during the ANN search).
func ParseFailure(s string) (Failure, error) {
	stage, code, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || code == "" {
		return Failure{}, fmt.Errorf("fail %q: want <stage>:<code>", s)
	}
	if stage == "client" && code == CodeCancelled {
		return Failure{KindANN, CodeCancelled}, nil
	}
	if k, ok := stageAliases[stage]; ok {
		stage = k
	}
	if _, known := stageCodes[stage]; known && code == CodeStall {
		return Failure{stage, CodeStall}, nil
	}
	for _, f := range Failures() {
		if f.Stage == stage && f.Code == code {
			return f, nil
		}
	}
	var valid []string
	for _, f := range Failures() {
		valid = append(valid, f.Stage+":"+f.Code)
	}
	return Failure{}, fmt.Errorf("fail %q: unknown stage or code; valid: %s, <stage>:stall, client:cancelled", s, strings.Join(valid, ", "))
}

// Request is the JSON body of POST /search.
type Request struct {
	// Query is the search text (required).
	Query string `json:"query"`
	// Fail injects a failure, "<stage>:<code>" (see ParseFailure).
	Fail string `json:"fail,omitempty"`
	// Mode overrides the emission mode of this request's steps:
	// span-events, log-events, or mixed (stages alternate, starting with
	// span events). run.start is emitted by the middleware in the service's
	// mode.
	Mode string `json:"mode,omitempty"`
}

// Hit is one search result.
type Hit struct {
	Repo   string  `json:"repo"`
	Path   string  `json:"path"`
	Line   int     `json:"line"`
	Score  float64 `json:"score"`
	Author string  `json:"author"`
}

// Response is the JSON answer of POST /search.
type Response struct {
	RunID     string  `json:"run_id"`
	Status    string  `json:"status"`
	Query     string  `json:"query,omitempty"`
	Hits      []Hit   `json:"hits,omitempty"`
	Stage     string  `json:"stage,omitempty"`
	ErrorCode string  `json:"error_code,omitempty"`
	Error     string  `json:"error,omitempty"`
	TookMS    float64 `json:"took_ms"`
}

// Config configures a Service.
type Config struct {
	// Telemetry provides the tracer provider and the default emission mode;
	// when it is in log-events mode, requests may also ask for span-events
	// or mixed.
	Telemetry *pipeline.Telemetry
	// Latency is the simulated work time of a typical stage; stages scale
	// it (ANN search takes about 2x, hybrid fusion 0.5x). Zero means no
	// simulated delay.
	Latency time.Duration
	// FailRate is the fraction of requests without an explicit failure that
	// fail at a random stage with a random code from Failures.
	FailRate float64
	// Seed seeds the random choices (sizes, injected failures); 0 means a
	// random seed.
	Seed uint64
}

// Service is the simulated retrieval service. It is safe for concurrent use.
type Service struct {
	cfg   Config
	spans *pipeline.Emitter
	logs  *pipeline.Emitter // nil unless Telemetry is in log-events mode

	mu  sync.Mutex
	rng *rand.Rand
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Telemetry == nil {
		return nil, errors.New("demo: Config.Telemetry is required")
	}
	if cfg.FailRate < 0 || cfg.FailRate > 1 {
		return nil, fmt.Errorf("demo: fail rate %v not in [0,1]", cfg.FailRate)
	}
	if cfg.Latency < 0 {
		return nil, fmt.Errorf("demo: negative latency %v", cfg.Latency)
	}
	s := &Service{cfg: cfg}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	tp := cfg.Telemetry.TracerProvider()
	s.spans, _ = pipeline.NewEmitter(pipeline.ModeSpanEvents, tp, nil)
	if lp := cfg.Telemetry.LoggerProvider(); lp != nil {
		s.logs, _ = pipeline.NewEmitter(pipeline.ModeLogEvents, tp, lp)
	}
	return s, nil
}

// Handler serves POST /search and GET /healthz (not a run). Only a valid
// search is a run: a search request is validated first and answered 400
// without a run (no span, no step event) when it is invalid, and other
// paths and methods get the mux's 404 or 405, also without a run. A valid
// search is bound to a run by the pipeline middleware.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("POST /search", s.serveSearch)
	return mux
}

func (s *Service) float() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.Float64()
}

func (s *Service) intN(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.IntN(n)
}

// serveSearch validates the request before the middleware starts the run:
// a rejected request is the client's mistake, not a failed retrieval, and
// must not show up in the ledger.
func (s *Service) serveSearch(w http.ResponseWriter, r *http.Request) {
	req, fail, emitters, err := s.parseSearch(w, r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.cfg.Telemetry.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail == nil && s.cfg.FailRate > 0 && s.float() < s.cfg.FailRate {
			all := Failures()
			f := all[s.intN(len(all))]
			fail = &f
		}
		resp, code := s.Search(r.Context(), req.Query, fail, emitters)
		writeJSON(w, code, resp)
	})).ServeHTTP(w, r)
}

// parseSearch reads and checks the whole request: JSON (one object, known
// fields only, so that a misspelt "fail" is not silently a successful
// run), query, fail and mode.
func (s *Service) parseSearch(w http.ResponseWriter, r *http.Request) (Request, *Failure, []*pipeline.Emitter, error) {
	var req Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, nil, nil, fmt.Errorf("invalid JSON body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, nil, nil, errors.New("invalid JSON body: more than one JSON value")
	}
	if strings.TrimSpace(req.Query) == "" {
		return req, nil, nil, errors.New("query is required")
	}
	var fail *Failure
	if req.Fail != "" {
		f, err := ParseFailure(req.Fail)
		if err != nil {
			return req, nil, nil, err
		}
		fail = &f
	}
	emitters, err := s.emitters(req.Mode)
	if err != nil {
		return req, nil, nil, err
	}
	return req, fail, emitters, nil
}

// emitters returns the emitter for each of the steps the handler emits:
// the five stages, then retrieval.error and run.end.
func (s *Service) emitters(mode string) ([]*pipeline.Emitter, error) {
	n := len(stageKinds) + 2
	out := make([]*pipeline.Emitter, n)
	var def *pipeline.Emitter
	switch mode {
	case "":
		def = s.cfg.Telemetry.Emitter()
	case string(pipeline.ModeSpanEvents):
		def = s.spans
	case string(pipeline.ModeLogEvents), "mixed":
		if s.logs == nil {
			return nil, fmt.Errorf("mode %q needs the worker to run in log-events mode", mode)
		}
		def = s.logs
	default:
		return nil, fmt.Errorf("unknown mode %q (want span-events, log-events or mixed)", mode)
	}
	for i := range out {
		out[i] = def
		if mode == "mixed" && i%2 == 0 {
			out[i] = s.spans
		}
	}
	return out, nil
}

// Search runs one retrieval in ctx, which must be bound to a run (the
// middleware does it); fail, when not nil, is injected. It emits the stage
// steps, on failure a retrieval.error wrapper step, and run.end, and
// returns the response and its HTTP status. emitters, when not nil, gives
// the emitter of each stage, then of retrieval.error and run.end.
func (s *Service) Search(ctx context.Context, query string, fail *Failure, emitters []*pipeline.Emitter) (Response, int) {
	start := time.Now()
	with := func(i int) context.Context {
		if i < len(emitters) && emitters[i] != nil {
			return pipeline.ContextWithEmitter(ctx, emitters[i])
		}
		return ctx
	}
	st := &searchState{query: query, seed: hashString(query)}
	stages := []func(context.Context, *searchState, *Failure) (pipeline.Step, error){
		s.embed, s.ann, s.hydrate, s.blame, s.hybrid,
	}
	resp := Response{RunID: pipeline.RunID(ctx), Query: query}
	for i, run := range stages {
		kind := stageKinds[i]
		var f *Failure
		if fail != nil && fail.Stage == kind {
			f = fail
		}
		if f != nil && f.Code == CodeStall {
			return s.stall(with(i), kind, start, resp)
		}
		err := pipeline.Stage(with(i), kind, func(ctx context.Context) (pipeline.Step, error) {
			return run(ctx, st, f)
		})
		if err != nil {
			code := pipeline.ErrorCode(err)
			status := stepschema.StatusFailed
			if code == CodeCancelled {
				status = stepschema.StatusCancelled
			}
			pipeline.Emit(with(len(stageKinds)), pipeline.Step{
				Kind:      KindRetrievalError,
				Status:    status,
				ErrorCode: code,
				Detail:    fmt.Sprintf("retrieval failed in %s: %v", kind, err),
				Duration:  time.Since(start),
				Resources: map[string]string{"stage": kind},
			})
			pipeline.EndRun(with(len(stageKinds)+1), status, err)
			resp.Status, resp.Stage, resp.ErrorCode, resp.Error = status, kind, code, err.Error()
			resp.TookMS = ms(time.Since(start))
			return resp, httpStatus(code)
		}
	}
	pipeline.EndRun(with(len(stageKinds)+1), stepschema.StatusOK, nil)
	resp.Status = stepschema.StatusOK
	resp.Hits = st.fused
	resp.TookMS = ms(time.Since(start))
	return resp, http.StatusOK
}

// stall simulates a worker that stops emitting in the middle of stage kind:
// the stage span starts and is abandoned without a step, and the run is
// marked ended through a context whose span does not record, so the
// middleware emits no run.end either.
func (s *Service) stall(ctx context.Context, kind string, start time.Time, resp Response) (Response, int) {
	sctx, span := s.cfg.Telemetry.TracerProvider().Tracer(pipeline.ScopeName).Start(ctx, kind)
	_ = work(sctx, s.cfg.Latency)
	span.End()
	silent := pipeline.ContextWithEmitter(trace.ContextWithSpan(ctx, trace.SpanFromContext(context.Background())), s.spans)
	pipeline.EndRun(silent, "", nil)
	resp.Status, resp.Stage, resp.ErrorCode = "abandoned", kind, CodeStall
	resp.Error = "the worker stopped emitting during " + kind + " (simulated crash): the run has no run.end"
	resp.TookMS = ms(time.Since(start))
	return resp, http.StatusInternalServerError
}

func httpStatus(code string) int {
	switch code {
	case CodeTimeout:
		return http.StatusGatewayTimeout
	case CodeHTTP503:
		return http.StatusServiceUnavailable
	case CodeCancelled:
		return 499 // client closed request (nginx convention)
	}
	return http.StatusInternalServerError
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// Simulated environment.
const (
	model        = "BAAI/bge-large-en-v1.5"
	vllmURL      = "http://vllm:8000/v1/embeddings"
	dims         = 1024
	indexPath    = "/var/lib/retriever/faiss/code.ivfpq.index"
	indexVersion = "v3"
	nprobe       = 16
	topK         = 50
	duckdbPath   = "/var/lib/retriever/meta.duckdb"
	table        = "chunks"
	repo         = "github.com/acme/search"
)

var corpusPaths = []string{
	"internal/index/faiss.go", "internal/index/ivfpq.go", "internal/embed/vllm_client.go",
	"internal/store/duckdb.go", "internal/store/schema.sql", "cmd/retriever/main.go",
	"internal/rank/rrf.go", "internal/rank/bm25.go", "internal/blame/git.go", "pkg/api/search.go",
	"internal/embed/batcher.go", "internal/index/reload.go",
}

var authors = []string{"ana@acme.dev", "bo@acme.dev", "chen@acme.dev", "dee@acme.dev"}

// searchState carries intermediate results between stages.
type searchState struct {
	query   string
	seed    uint64
	vectors int
	hits    []Hit
	fused   []Hit
}

// work simulates d of work; it fails with ctx's error when ctx ends first.
func work(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// generic handles the failures every stage supports: a timeout (a real
// deadline that expires during the work) and a cancellation (the client
// goes away during the work). It returns false for other failures.
func (s *Service) generic(ctx context.Context, f *Failure, op string, scale float64) (bool, error) {
	if f == nil {
		return false, nil
	}
	d := time.Duration(float64(s.cfg.Latency) * scale)
	switch f.Code {
	case CodeTimeout:
		budget := d / 2
		if budget < time.Millisecond {
			budget = time.Millisecond
		}
		tctx, cancel := context.WithTimeout(ctx, budget)
		defer cancel()
		err := work(tctx, budget*4)
		return true, fmt.Errorf("%s: %w", op, err)
	case CodeCancelled:
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(d/2, cancel)
		err := work(cctx, d+time.Hour)
		cancel()
		return true, fmt.Errorf("%s: client went away: %w", op, err)
	}
	return false, nil
}

func (s *Service) embed(ctx context.Context, st *searchState, f *Failure) (pipeline.Step, error) {
	words := len(strings.Fields(st.query))
	st.vectors = 1 + len(st.query)/256
	step := pipeline.Step{
		Detail:    fmt.Sprintf("embedded %d chunk(s) of the query with %s", st.vectors, model),
		Sizes:     map[string]float64{"vectors": float64(st.vectors), "dims": dims, "tokens": float64(words*4/3 + 2)},
		Resources: map[string]string{"model": model, "endpoint": vllmURL},
	}
	if ok, err := s.generic(ctx, f, "POST "+vllmURL, 1); ok {
		return step, err
	}
	if err := work(ctx, s.cfg.Latency); err != nil {
		return step, fmt.Errorf("POST %s: %w", vllmURL, err)
	}
	if f != nil {
		switch f.Code {
		case CodeHTTP503:
			return step, pipeline.Errorf(CodeHTTP503, "POST %s: 503 Service Unavailable: model %s is still loading", vllmURL, model)
		case CodeOOM:
			return step, pipeline.Errorf(CodeOOM, "vLLM: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.65 GiB total capacity; 21.90 GiB already allocated)")
		}
	}
	return step, nil
}

func (s *Service) ann(ctx context.Context, st *searchState, f *Failure) (pipeline.Step, error) {
	n := 30 + int(st.seed%uint64(topK-30+1))
	step := pipeline.Step{
		Resources: map[string]string{"index_path": indexPath, "index_version": indexVersion},
		Attrs:     []attribute.KeyValue{attribute.Int("nprobe", nprobe), attribute.Int("k", topK)},
	}
	if ok, err := s.generic(ctx, f, "faiss search", 2); ok {
		return step, err
	}
	if f != nil {
		switch f.Code {
		case CodeIndexNotFound:
			return step, pipeline.Errorf(CodeIndexNotFound, "faiss.read_index(%q): No such file or directory", indexPath)
		case CodeDimensionMismatch:
			return step, pipeline.Errorf(CodeDimensionMismatch, "faiss: query dimension 768 does not match index dimension %d (index %s)", dims, indexVersion)
		}
	}
	if err := work(ctx, 2*s.cfg.Latency); err != nil {
		return step, fmt.Errorf("faiss search: %w", err)
	}
	st.hits = make([]Hit, n)
	for i := range st.hits {
		p := corpusPaths[(st.seed+uint64(i)*7)%uint64(len(corpusPaths))]
		st.hits[i] = Hit{Repo: repo, Path: p, Line: 1 + int((st.seed>>8+uint64(i)*37)%400), Score: 1 - float64(i)/float64(n+1)}
	}
	step.Detail = fmt.Sprintf("top-%d search, nprobe=%d, %d hits", topK, nprobe, n)
	step.Sizes = map[string]float64{"hits": float64(n), "vectors": float64(st.vectors)}
	return step, nil
}

func (s *Service) hydrate(ctx context.Context, st *searchState, f *Failure) (pipeline.Step, error) {
	step := pipeline.Step{Resources: map[string]string{"table": table, "database": duckdbPath}}
	if ok, err := s.generic(ctx, f, "duckdb query", 1); ok {
		return step, err
	}
	if f != nil {
		switch f.Code {
		case CodeMissingTable:
			return step, pipeline.Errorf(CodeMissingTable, "Catalog Error: Table with name %s does not exist!", table)
		case CodeLocked:
			return step, pipeline.Errorf(CodeLocked, "IO Error: Could not set lock on file %q: Conflicting lock is held", duckdbPath)
		}
	}
	if err := work(ctx, s.cfg.Latency); err != nil {
		return step, fmt.Errorf("duckdb query: %w", err)
	}
	rows := len(st.hits)
	step.Detail = fmt.Sprintf("SELECT path, line, text FROM %s WHERE id IN (...%d ids)", table, rows)
	step.Sizes = map[string]float64{"rows": float64(rows), "bytes": float64(rows * 1843)}
	return step, nil
}

func (s *Service) blame(ctx context.Context, st *searchState, f *Failure) (pipeline.Step, error) {
	path := corpusPaths[st.seed%uint64(len(corpusPaths))]
	if len(st.hits) > 0 {
		path = st.hits[0].Path
	}
	step := pipeline.Step{Resources: map[string]string{"repo": repo, "path": path}}
	if ok, err := s.generic(ctx, f, "git blame", 1.5); ok {
		return step, err
	}
	if f != nil && f.Code == CodePathNotFound {
		return step, pipeline.Errorf(CodePathNotFound, "git blame -- %s: fatal: no such path '%s' in HEAD", path, path)
	}
	if err := work(ctx, s.cfg.Latency*3/2); err != nil {
		return step, fmt.Errorf("git blame: %w", err)
	}
	lines := 40 + int(st.seed%160)
	for i := range st.hits {
		st.hits[i].Author = authors[(uint64(i)+st.seed)%uint64(len(authors))]
	}
	step.Detail = fmt.Sprintf("blamed %d lines of %s", lines, path)
	step.Sizes = map[string]float64{"lines": float64(lines)}
	return step, nil
}

func (s *Service) hybrid(ctx context.Context, st *searchState, f *Failure) (pipeline.Step, error) {
	channels := []string{"dense", "bm25", "blame"}
	step := pipeline.Step{Attrs: []attribute.KeyValue{attribute.StringSlice("channels", channels), attribute.String("fusion", "rrf")}}
	if ok, err := s.generic(ctx, f, "hybrid fusion", 0.5); ok {
		return step, err
	}
	if f != nil && f.Code == CodeEmptyChannel {
		return step, pipeline.Errorf(CodeEmptyChannel, "hybrid fusion: channel bm25 returned no hits for %q", st.query)
	}
	if err := work(ctx, s.cfg.Latency/2); err != nil {
		return step, fmt.Errorf("hybrid fusion: %w", err)
	}
	fused := append([]Hit(nil), st.hits...)
	sort.SliceStable(fused, func(i, j int) bool { return fused[i].Score > fused[j].Score })
	if len(fused) > 10 {
		fused = fused[:10]
	}
	st.fused = fused
	step.Detail = fmt.Sprintf("reciprocal rank fusion of %d channels", len(channels))
	step.Sizes = map[string]float64{"hits": float64(len(fused)), "channels": float64(len(channels)), "candidates": float64(len(st.hits))}
	return step, nil
}
