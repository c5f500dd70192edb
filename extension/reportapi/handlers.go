package reportapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/mcptools"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/runindex"
	"github.com/runledger/runledger/internal/stepschema"
)

// Routes served by the extension (docs/design.md §4).
const (
	routeAdminReport       = "/admin/index/observability/run/{run_id}/report"
	routeAdminReportHeader = "/admin/index/observability/run/report"
	routeRuns              = "/reports/runs"
	routeRun               = "/reports/runs/{run_id}"
	routeRunLedger         = "/reports/runs/{run_id}/ledger"
	routeRunSave           = "/reports/runs/{run_id}/save"
)

// HeaderRunID carries the run id for the header-addressed report route.
const HeaderRunID = "X-Run-Id"

// MaxRunIDBytes bounds a run id accepted over HTTP: the bound ingest
// applies.
const MaxRunIDBytes = stepschema.MaxRunIDBytes

const (
	contentJSON     = "application/json"
	contentMarkdown = "text/markdown; charset=utf-8"
	contentNDJSON   = "application/x-ndjson"
)

func (r *reportAPI) handler() http.Handler {
	mux := http.NewServeMux()
	route := func(method, pattern string, params []string, h http.HandlerFunc) {
		h = knownParams(params, h)
		if method == http.MethodPost {
			h = requireNonSimple(h)
		}
		mux.Handle(method+" "+pattern, r.instrument(pattern, h))
		mux.Handle(pattern, r.instrument(pattern, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, "method not allowed; use "+method)
		}))
	}
	reportParams := []string{"offset", "limit", "format"}
	route(http.MethodGet, routeAdminReport, reportParams, r.serveReportByPath)
	route(http.MethodGet, routeAdminReportHeader, reportParams, r.serveReportByHeader)
	route(http.MethodGet, routeRuns, runindex.QueryParams(), r.serveList)
	route(http.MethodGet, routeEntries, []string{"run_id"}, r.serveEntries)
	route(http.MethodGet, routeInsights, insightsParams, r.serveInsights)
	route(http.MethodGet, routeInsightsRuns, insightsRunsParams, r.serveInsightsRuns)
	route(http.MethodGet, routeDiff, diffParams, r.serveDiff)
	route(http.MethodGet, routeRun, reportParams, r.serveReportByPath)
	route(http.MethodGet, routeRunLedger, nil, r.serveLedger)
	route(http.MethodGet, routeRunChain, nil, r.serveChain)
	route(http.MethodPost, routeRunSave, nil, r.serveSave)
	mux.Handle(routeMCP, r.instrument(routeMCP, r.mcpHandler().ServeHTTP))
	mux.Handle("/", r.instrument("other", func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusNotFound, "no such route: "+truncateID(req.URL.Path))
	}))
	badHost := r.instrument("other", func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("host %q is not allowed; add it to the reportapi allowed_hosts", truncateID(req.Host)))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// DNS rebinding: answer only the Hosts this server is known by.
		if r.hosts != nil && !r.hosts.allow(req.Host) {
			badHost.ServeHTTP(w, req)
			return
		}
		if req.Header.Get(HeaderPeer) != "" {
			w.Header().Set(HeaderNode, r.nodeID) // federation.go
		}
		// ServeMux would answer a path with "." or ".." segments or double
		// slashes with a redirect to its cleaned form; refuse it instead.
		if !cleanPath(req.URL.EscapedPath()) {
			writeError(w, http.StatusBadRequest, "path has empty, '.' or '..' segments")
			return
		}
		mux.ServeHTTP(w, req)
	})
}

// knownParams answers 400 to a request with query parameters the route does
// not take, naming them: a misspelt filter (?stauts=failed) would otherwise
// be ignored and look like an answer. It leaves the parsed query in
// req.Form (no route reads a form body), where the handlers read it.
func knownParams(params []string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		q, err := url.ParseQuery(req.URL.RawQuery)
		if err != nil {
			writeError(w, http.StatusBadRequest, "malformed query string: "+err.Error())
			return
		}
		var unknown []string
		for k := range q {
			if !slices.Contains(params, k) {
				unknown = append(unknown, strconv.Quote(truncateID(k)))
			}
		}
		if len(unknown) > 0 {
			slices.Sort(unknown)
			msg := "unknown query parameter " + strings.Join(unknown, ", ")
			if len(params) > 0 {
				msg += "; this route takes " + strings.Join(params, ", ")
			} else {
				msg += "; this route takes none"
			}
			writeError(w, http.StatusBadRequest, msg)
			return
		}
		req.Form = q
		h(w, req)
	}
}

// requireNonSimple refuses a POST a browser could send cross-origin without
// a CORS preflight (CSRF): it needs Content-Type: application/json or the
// X-Runledger-Request header.
func requireNonSimple(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if !nonSimplePost(req) {
			writeError(w, http.StatusForbidden, "POST requests need the header Content-Type: application/json or "+HeaderRequest+": 1")
			return
		}
		h(w, req)
	}
}

func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return !strings.Contains(p, "//")
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush lets streamed responses reach the client.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// instrument counts requests by route and status and turns a panic into a
// JSON 500 instead of a dropped connection.
func (r *reportAPI) instrument(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				r.set.Logger.Error("reportapi handler panic", zap.String("route", route), zap.Any("panic", p))
				if rec.code == 0 {
					writeError(rec, http.StatusInternalServerError, "internal error")
				}
			}
			r.tb.ReportapiRequests.Add(req.Context(), 1, metric.WithAttributes(
				attribute.String("route", route), attribute.Int("code", rec.code)))
		}()
		h(rec, req)
	})
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", contentJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// truncateID shortens user input echoed in error messages.
func truncateID(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// checkRunID rejects run ids that cannot name a run, by the rule ingest
// applies too (stepschema.ValidRunID), so every stored run can be asked
// for. Any other id is looked up through ledger.FindRun, whose file names
// never leave the ledger directory.
func checkRunID(id string) error {
	switch {
	case id == "":
		return errors.New("run id is empty")
	case len(id) > MaxRunIDBytes:
		return fmt.Errorf("run id is longer than %d bytes", MaxRunIDBytes)
	case !stepschema.ValidRunID(id):
		return errors.New("run id is not valid UTF-8 or contains control characters")
	}
	return nil
}

// locate validates id and finds its ledger, writing the error response and
// returning "" when it cannot.
func (r *reportAPI) locate(w http.ResponseWriter, id string) string {
	p, err := r.findRun(id)
	var bad badRunIDError
	switch {
	case errors.As(err, &bad):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, mcptools.ErrRunNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("run %q not found", truncateID(id)))
	case err != nil:
		r.set.Logger.Warn("locate run ledger failed", zap.Error(err))
		writeError(w, http.StatusInternalServerError, "cannot search the ledger directory")
	default:
		return p
	}
	return ""
}

// badRunIDError is checkRunID's error as findRun returns it.
type badRunIDError struct{ error }

// findRun returns the ledger path of run id: a badRunIDError for an id the API
// refuses, mcptools.ErrRunNotFound (reportclient's) for an unknown run.
// The HTTP routes (locate) and the MCP tools share it.
func (r *reportAPI) findRun(id string) (string, error) {
	if err := checkRunID(id); err != nil {
		return "", badRunIDError{err}
	}
	p, err := ledger.FindRun(r.cfg.Directory, id)
	if err != nil {
		return "", fmt.Errorf("search the ledger directory: %w", err)
	}
	if p == "" {
		return "", mcptools.ErrRunNotFound
	}
	return p, nil
}

func (r *reportAPI) serveReportByPath(w http.ResponseWriter, req *http.Request) {
	r.serveReport(w, req, req.PathValue("run_id"))
}

func (r *reportAPI) serveReportByHeader(w http.ResponseWriter, req *http.Request) {
	vals := req.Header.Values(HeaderRunID)
	if len(vals) != 1 {
		writeError(w, http.StatusBadRequest, "exactly one "+HeaderRunID+" header is required")
		return
	}
	r.serveReport(w, req, strings.TrimSpace(vals[0]))
}

// reportOptions reads the timeline page and the format from the query.
func (r *reportAPI) reportOptions(req *http.Request) (report.Options, string, error) {
	opts := report.Options{
		Now:           r.now,
		StallAfter:    r.cfg.StallAfter,
		TraceURL:      r.cfg.TraceURL,
		TimelineLimit: r.cfg.TimelineLimit,
		Remediations:  r.remediations,
	}
	q := req.Form // parsed by knownParams
	if s := q.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return opts, "", fmt.Errorf("offset %q must be a non-negative integer", truncateID(s))
		}
		opts.TimelineOffset = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxTimelineLimit {
			return opts, "", fmt.Errorf("limit %q must be an integer from 1 to %d", truncateID(s), MaxTimelineLimit)
		}
		opts.TimelineLimit = n
	}
	if opts.TimelineOffset > MaxTimelineOffset {
		return opts, "", fmt.Errorf("offset must be at most %d", MaxTimelineOffset)
	}
	format, err := negotiate(q.Get("format"), req.Header.Values("Accept"))
	return opts, format, err
}

// negotiate picks "json" or "md": ?format= wins, then the Accept header
// (text/markdown preferred over application/json by q-value), JSON by default.
func negotiate(format string, accept []string) (string, error) {
	switch strings.ToLower(format) {
	case "json":
		return "json", nil
	case "md", "markdown":
		return "md", nil
	case "":
	default:
		return "", fmt.Errorf("format %q must be json or md", truncateID(format))
	}
	bestMD, bestJSON := -1.0, -1.0
	for _, h := range accept {
		for part := range strings.SplitSeq(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			qv := 1.0
			if s, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					qv = f
				}
			}
			switch mt {
			case "text/markdown", "text/x-markdown":
				bestMD = max(bestMD, qv)
			case "application/json", "application/*":
				bestJSON = max(bestJSON, qv)
			}
		}
	}
	if bestMD > 0 && bestMD > bestJSON {
		return "md", nil
	}
	return "json", nil
}

// build reads the run's ledger and builds its report.
func (r *reportAPI) build(ctx context.Context, path, id string, opts report.Options) (*report.Report, error) {
	opts.RunID = id
	opts.LedgerPath = path
	start := time.Now()
	rep, err := report.BuildFile(path, opts)
	if err == nil {
		if uerr := r.index.NameUsualStage(rep); uerr != nil {
			r.set.Logger.Debug("usual next stage not named", zap.String("run_id", id), zap.Error(uerr))
		}
	}
	r.tb.ReportapiReportBuildDuration.Record(ctx, time.Since(start).Seconds())
	return rep, err
}

func (r *reportAPI) buildError(w http.ResponseWriter, id string, err error) {
	switch {
	case errors.Is(err, report.ErrNoEvents):
		writeError(w, http.StatusNotFound, fmt.Sprintf("run %q has no events yet", truncateID(id)))
	case errors.Is(err, fs.ErrNotExist):
		writeError(w, http.StatusNotFound, fmt.Sprintf("run %q not found", truncateID(id)))
	case errors.Is(err, ledger.ErrNotLedgerFile):
		// Swapped for a link or a FIFO after it was indexed: not a run, as
		// the index and the writer see it.
		r.set.Logger.Warn("run file is not a regular file; not read", zap.Error(err))
		writeError(w, http.StatusNotFound, fmt.Sprintf("run %q not found", truncateID(id)))
	default:
		r.set.Logger.Warn("build report failed", zap.Error(err))
		writeError(w, http.StatusInternalServerError, "cannot read the run's ledger")
	}
}

// loadReport builds the report of run id for req; on failure it has written
// the error response and returns nil.
func (r *reportAPI) loadReport(w http.ResponseWriter, req *http.Request, id string) (*report.Report, string) {
	opts, format, err := r.reportOptions(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil, ""
	}
	path := r.locate(w, id)
	if path == "" {
		return nil, ""
	}
	if !r.startBuild(w) {
		return nil, ""
	}
	rep, err := r.build(req.Context(), path, id, opts)
	r.releaseBuild()
	if err != nil {
		r.buildError(w, id, err)
		return nil, ""
	}
	return rep, format
}

// acquireBuild takes a report build token without waiting.
func (r *reportAPI) acquireBuild() bool {
	select {
	case r.builds <- struct{}{}:
		return true
	default:
		return false
	}
}

// busyError is the error of a build refused past max_concurrent_reports.
func (r *reportAPI) busyError() error {
	return fmt.Errorf("too many reports being built (max_concurrent_reports %d); retry later", cap(r.builds))
}

// startBuild takes a build token, or answers 503 with Retry-After: 1.
func (r *reportAPI) startBuild(w http.ResponseWriter) bool {
	if r.acquireBuild() {
		return true
	}
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, r.busyError().Error())
	return false
}

func (r *reportAPI) releaseBuild() { <-r.builds }

func (r *reportAPI) serveReport(w http.ResponseWriter, req *http.Request, id string) {
	if r.federates(req) {
		r.serveFederatedReport(w, req, id)
		return
	}
	if rep, format := r.loadReport(w, req, id); rep != nil {
		r.writeReport(w, rep, format, nil)
	}
}

func (r *reportAPI) serveList(w http.ResponseWriter, req *http.Request) {
	if r.federates(req) {
		r.serveFederatedList(w, req)
		return
	}
	vals := req.Form // parsed by knownParams
	q, err := runindex.ParseQuery(vals, r.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	page, err := r.index.List(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	r.tb.ReportapiIndexRuns.Record(req.Context(), int64(r.index.Len()))
	writeJSON(w, http.StatusOK, page)
}

// serveLedger streams the run's complete ledger lines as NDJSON, verbatim.
// Lines that are not JSON and a trailing fragment without newline (a line
// being written) are left out. HEAD answers whether the run is here
// without reading it (peers ask it, federation.go).
func (r *reportAPI) serveLedger(w http.ResponseWriter, req *http.Request) {
	if r.federates(req) {
		r.serveFederatedLedger(w, req)
		return
	}
	r.serveLocalLedger(w, req, req.PathValue("run_id"))
}

// serveLocalLedger streams this node's ledger of run id.
func (r *reportAPI) serveLocalLedger(w http.ResponseWriter, req *http.Request, id string) {
	path := r.locate(w, id)
	if path == "" {
		return
	}
	f, err := ledger.Open(path)
	if err != nil {
		r.buildError(w, id, err)
		return
	}
	defer f.Close()
	if req.Method == http.MethodHead {
		w.Header().Set("Content-Type", contentNDJSON)
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", contentNDJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	br := bufio.NewReaderSize(f, 64<<10)
	var long []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(long)+len(chunk) <= ledger.MaxLineBytes {
				long = append(long, chunk...)
			} else {
				long = long[:0:0]
			}
			continue
		}
		if err != nil {
			break // EOF: the fragment after the last newline is not a line yet
		}
		line := chunk
		if len(long) > 0 {
			line = append(long, chunk...)
			long = long[:0]
		}
		body := bytes.TrimRight(line, "\r\n")
		if len(body) == 0 || !json.Valid(body) {
			continue
		}
		if _, err := bw.Write(body); err != nil {
			return
		}
		if err := bw.WriteByte('\n'); err != nil {
			return
		}
	}
	_ = bw.Flush()
}

func (r *reportAPI) serveSave(w http.ResponseWriter, req *http.Request) {
	rep, _ := r.loadReport(w, req, req.PathValue("run_id"))
	if rep == nil {
		return
	}
	res, err := report.Save(r.cfg.ReportsDir, rep)
	if err != nil {
		r.set.Logger.Warn("save report failed", zap.Error(err))
		writeError(w, http.StatusInternalServerError, "cannot write the report files")
		return
	}
	// Answer file names relative to reports_dir, not absolute paths.
	res.JSON, res.Markdown = r.relReport(res.JSON), r.relReport(res.Markdown)
	writeJSON(w, http.StatusOK, res)
}

// relReport returns p relative to reports_dir (its file name at worst).
func (r *reportAPI) relReport(p string) string {
	rel, err := filepath.Rel(r.cfg.ReportsDir, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return filepath.Base(p)
	}
	return filepath.ToSlash(rel)
}
