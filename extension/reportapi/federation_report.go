package reportapi

// The report and ledger routes, and the MCP report and ledger tools, for
// the cluster (federation.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/mcptools"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/reportclient"
)

// partialFields are added to a JSON answer that lacks some peer's data.
type partialFields struct {
	Partial      bool     `json:"partial,omitempty"`
	MissingPeers []string `json:"missing_peers,omitempty"`
}

func partialOf(missing []string) partialFields {
	return partialFields{Partial: len(missing) > 0, MissingPeers: missing}
}

// setPartial marks the answer partial when peers are missing.
func setPartial(w http.ResponseWriter, missing []string) {
	if len(missing) > 0 {
		w.Header().Set(HeaderPartial, "true")
		w.Header().Set(HeaderMissingPeers, strings.Join(missing, ","))
	}
}

// notFoundAnywhere answers 404 for a run neither this node nor an answering
// peer holds, naming the peers that could not be asked.
func notFoundAnywhere(w http.ResponseWriter, id string, missing []string) {
	setPartial(w, missing)
	writeError(w, http.StatusNotFound, notInClusterError{id, missing}.Error())
}

// notInClusterError is the error of a run neither this node nor an
// answering peer holds; missing names the peers that could not be asked.
type notInClusterError struct {
	id      string
	missing []string
}

func (e notInClusterError) Error() string {
	msg := fmt.Sprintf("run %q not found", truncateID(e.id))
	if len(e.missing) > 0 {
		msg += " on this node or the peers that answered; not asked (down, slow or failing): " + strings.Join(e.missing, ", ")
	}
	return msg
}

// Is makes it an unknown run for the MCP tools and reportclient callers.
func (e notInClusterError) Is(target error) bool { return target == mcptools.ErrRunNotFound }

// peersUnavailableError is the error of a run held only by peers that did
// not answer when asked for it.
type peersUnavailableError struct {
	id      string
	missing []string
}

func (e peersUnavailableError) Error() string {
	return fmt.Sprintf("run %q is held by peers that did not answer: %s", truncateID(e.id), strings.Join(e.missing, ", "))
}

// locateCluster validates id and finds who holds it: the local ledger path
// ("" if none), the peers holding it, the peers that did not answer. The
// errors are badRunIDError, notInClusterError, or a failed directory
// search.
func (r *reportAPI) locateCluster(ctx context.Context, id string) (local string, held []*peer, missing []string, err error) {
	if err := checkRunID(id); err != nil {
		return "", nil, nil, badRunIDError{err}
	}
	local, err = r.findRun(id)
	switch {
	case errors.Is(err, mcptools.ErrRunNotFound):
		local = ""
	case err != nil:
		return "", nil, nil, err
	}
	held, missing = r.fed.holders(ctx, id)
	if local == "" && len(held) == 0 {
		return "", nil, missing, notInClusterError{id, missing}
	}
	return local, held, missing, nil
}

// findCluster is locateCluster for an HTTP route: on failure it has written
// the error response and ok is false.
func (r *reportAPI) findCluster(w http.ResponseWriter, req *http.Request, id string) (local string, held []*peer, missing []string, ok bool) {
	local, held, missing, err := r.locateCluster(req.Context(), id)
	var bad badRunIDError
	var nf notInClusterError
	switch {
	case errors.As(err, &bad):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.As(err, &nf):
		setPartial(w, nf.missing)
		writeError(w, http.StatusNotFound, nf.Error())
	case err != nil:
		r.set.Logger.Warn("locate run ledger failed", zap.Error(err))
		writeError(w, http.StatusInternalServerError, "cannot search the ledger directory")
	default:
		return local, held, missing, true
	}
	return "", nil, nil, false
}

// serveFederatedReport answers a report route for the cluster: this node's
// report when only it holds the run, the peer's when only one peer does,
// and the report of the merged ledgers when several nodes hold part of it.
func (r *reportAPI) serveFederatedReport(w http.ResponseWriter, req *http.Request, id string) {
	opts, format, err := r.reportOptions(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	local, held, missing, ok := r.findCluster(w, req, id)
	if !ok {
		return
	}
	switch {
	case len(held) == 0:
		rep, _ := r.loadReport(w, req, id)
		if rep != nil {
			r.writeReport(w, rep, format, missing)
		}
	case local == "" && len(held) == 1:
		r.proxyReport(w, req, held[0], id, opts, format, missing)
	default:
		r.serveMergedReport(w, req, local, held, id, opts, format, missing)
	}
}

// writeReport writes rep in format, marked partial when peers are missing.
func (r *reportAPI) writeReport(w http.ResponseWriter, rep *report.Report, format string, missing []string) {
	setPartial(w, missing)
	w.Header().Set("Vary", "Accept")
	if format == "md" {
		w.Header().Set("Content-Type", contentMarkdown)
		w.WriteHeader(http.StatusOK)
		_ = rep.WriteMarkdown(w)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		*report.Report
		partialFields
	}{rep, partialOf(missing)})
}

// proxyReport answers the report p builds of the run it alone holds.
func (r *reportAPI) proxyReport(w http.ResponseWriter, req *http.Request, p *peer, id string, opts report.Options, format string, missing []string) {
	f := reportclient.FormatJSON
	if format == "md" {
		f = reportclient.FormatMarkdown
	}
	body, err := p.runs.RawReport(req.Context(), id, f, reportclient.TimelinePage{Offset: opts.TimelineOffset, Limit: opts.TimelineLimit})
	if err != nil {
		var se *reportclient.StatusError
		if errors.As(err, &se) && se.StatusCode == http.StatusNotFound {
			// Gone since it said it held the run (retention).
			notFoundAnywhere(w, id, missing)
			return
		}
		r.fed.peerFailed(p, "GET report", err)
		r.peerUnavailable(w, id, append(missing, p.url))
		return
	}
	if format != "md" && !json.Valid(body) {
		r.fed.peerFailed(p, "GET report", errors.New("answer is not JSON"))
		r.peerUnavailable(w, id, append(missing, p.url))
		return
	}
	setPartial(w, missing)
	w.Header().Set("Vary", "Accept")
	if format == "md" {
		w.Header().Set("Content-Type", contentMarkdown)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return
	}
	w.Header().Set("Content-Type", contentJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(withPartial(body, missing))
}

// withPartial adds the partial fields at the start of JSON object body.
func withPartial(body []byte, missing []string) []byte {
	if len(missing) == 0 {
		return body
	}
	i := 0
	for i < len(body) && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t') {
		i++
	}
	if i == len(body) || body[i] != '{' {
		return body
	}
	out := append([]byte(nil), body[:i+1]...)
	out = append(out, `"partial":true,"missing_peers":[`...)
	for j, m := range missing {
		if j > 0 {
			out = append(out, ',')
		}
		out = ledger.AppendString(out, m)
	}
	out = append(out, ']')
	if rest := strings.TrimLeft(string(body[i+1:]), " \n\r\t"); !strings.HasPrefix(rest, "}") {
		out = append(out, ',')
	}
	return append(out, body[i+1:]...)
}

// peerUnavailable answers 503 for a run held by peers that did not answer
// when asked for it.
func (r *reportAPI) peerUnavailable(w http.ResponseWriter, id string, missing []string) {
	setPartial(w, missing)
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, peersUnavailableError{id, missing}.Error())
}

// clusterParts reads the run's part from this node (local, if not "") and
// from each peer in held: the parts in node order (this node first, then
// the peers in configuration order), and the peers whose ledger could not
// be read, appended to missing.
func (r *reportAPI) clusterParts(ctx context.Context, local string, held []*peer, id string, missing []string) ([]ledger.Part, []string, error) {
	var parts []ledger.Part
	if local != "" {
		var part ledger.Part
		if _, err := ledger.ReadFileSpans(local, part.Collect, part.CollectSpan); err != nil {
			return nil, missing, err
		}
		parts = append(parts, part)
	}
	got := make([]*ledger.Part, len(held))
	errs := make([]error, len(held))
	r.fed.eachOf(ctx, held, maxPeerTransfer, func(ctx context.Context, i int, p *peer) {
		body, err := p.runs.Ledger(ctx, id)
		if errors.Is(err, reportclient.ErrRunNotFound) {
			got[i] = &ledger.Part{} // gone since it said it held the run
			return
		}
		if err != nil {
			errs[i] = err
			return
		}
		defer body.Close()
		var part ledger.Part
		st, err := ledger.ReadSpans(body, 0, part.Collect, part.CollectSpan)
		switch {
		case err != nil:
			errs[i] = err
			return
		case st.Lines == 0 && st.Spans == 0 && (st.Skipped > 0 || st.Partial > 0):
			errs[i] = errors.New("answer to GET ledger is not a ledger")
			return
		}
		got[i] = &part
	})
	for i, p := range held {
		if errs[i] != nil {
			r.fed.peerFailed(p, "GET ledger", errs[i])
			missing = append(missing, p.url)
			continue
		}
		parts = append(parts, *got[i])
	}
	return parts, missing, nil
}

// mergedReport builds the report of a run split over several nodes from
// their merged ledgers: the report and the peers missing from it. The
// caller holds a build token. A peersUnavailableError when no part could
// be read.
func (r *reportAPI) mergedReport(ctx context.Context, local string, held []*peer, id string, opts report.Options, missing []string) (*report.Report, []string, error) {
	start := time.Now()
	parts, missing, err := r.clusterParts(ctx, local, held, id, missing)
	if err != nil {
		return nil, missing, err
	}
	if len(parts) == 0 {
		return nil, missing, peersUnavailableError{id, missing}
	}
	lines, spans := ledger.Merge(parts)
	opts.RunID, opts.LedgerPath = id, local
	rep, err := report.BuildMerged(lines, spans, opts)
	if err != nil {
		return nil, missing, err
	}
	if uerr := r.index.NameUsualStage(rep); uerr != nil {
		r.set.Logger.Debug("usual next stage not named", zap.String("run_id", id), zap.Error(uerr))
	}
	r.tb.ReportapiReportBuildDuration.Record(ctx, time.Since(start).Seconds())
	return rep, missing, nil
}

// serveMergedReport answers the report of a run split over several nodes.
func (r *reportAPI) serveMergedReport(w http.ResponseWriter, req *http.Request, local string, held []*peer, id string, opts report.Options, format string, missing []string) {
	if !r.startBuild(w) {
		return
	}
	rep, missing, err := r.mergedReport(req.Context(), local, held, id, opts, missing)
	r.releaseBuild()
	var pu peersUnavailableError
	switch {
	case errors.As(err, &pu):
		r.peerUnavailable(w, id, pu.missing)
	case err != nil:
		setPartial(w, missing)
		r.buildError(w, id, err)
	default:
		r.writeReport(w, rep, format, missing)
	}
}

// serveFederatedLedger answers the ledger route for the cluster: this
// node's file or the one peer's lines verbatim when one node holds the run,
// the merged lines (seq renumbered, span records deduplicated) when
// several do.
func (r *reportAPI) serveFederatedLedger(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("run_id")
	local, held, missing, ok := r.findCluster(w, req, id)
	if !ok {
		return
	}
	setPartial(w, missing)
	if len(held) == 0 {
		r.serveLocalLedger(w, req, id)
		return
	}
	if req.Method == http.MethodHead { // held by a peer: nothing to read
		w.Header().Set("Content-Type", contentNDJSON)
		w.WriteHeader(http.StatusOK)
		return
	}
	if local == "" && len(held) == 1 {
		body, err := held[0].runs.Ledger(req.Context(), id)
		if err != nil {
			r.fed.peerFailed(held[0], "GET ledger", err)
			r.peerUnavailable(w, id, append(missing, held[0].url))
			return
		}
		defer body.Close()
		w.Header().Set("Content-Type", contentNDJSON)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		_, _ = io.Copy(w, body)
		return
	}
	// The merge holds the run in memory, as a report build does.
	if !r.startBuild(w) {
		return
	}
	defer r.releaseBuild()
	parts, missing, err := r.clusterParts(req.Context(), local, held, id, missing)
	if err != nil {
		r.buildError(w, id, err)
		return
	}
	if len(parts) == 0 {
		r.peerUnavailable(w, id, missing)
		return
	}
	setPartial(w, missing)
	w.Header().Set("Content-Type", contentNDJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_ = writeMerged(w, parts)
}

// writeMerged writes the merged lines of parts as NDJSON (ledger.Merge):
// each span record before the first step at or after its start, as the
// writer puts records beside the steps of their span.
func writeMerged(w io.Writer, parts []ledger.Part) error {
	lines, spans := ledger.Merge(parts)
	var buf []byte
	si := 0
	for i := range lines {
		for si < len(spans) && !spans[si].Start.After(lines[i].TS) {
			buf = append(ledger.AppendSpan(buf, &spans[si]), '\n')
			si++
		}
		buf = append(ledger.AppendLine(buf, &lines[i]), '\n')
		if len(buf) > 64<<10 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	for ; si < len(spans); si++ {
		buf = append(ledger.AppendSpan(buf, &spans[si]), '\n')
	}
	_, err := w.Write(buf)
	return err
}

// clusterReport is the report of run id for the cluster, for the MCP
// get_run_report tool: as the report routes answer, with the peers
// missing from it named in the report's warnings.
func (r *reportAPI) clusterReport(ctx context.Context, id string, opts report.Options) (*report.Report, error) {
	local, held, missing, err := r.locateCluster(ctx, id)
	if err != nil {
		return nil, err
	}
	var rep *report.Report
	switch {
	case local == "" && len(held) == 1:
		rep, err = held[0].runs.Report(ctx, id, reportclient.TimelinePage{Offset: opts.TimelineOffset, Limit: opts.TimelineLimit})
		if err != nil && !errors.Is(err, reportclient.ErrRunNotFound) {
			r.fed.peerFailed(held[0], "GET report", err)
			return nil, peersUnavailableError{id, append(missing, held[0].url)}
		}
		if err != nil {
			return nil, notInClusterError{id, missing}
		}
	default:
		if !r.acquireBuild() {
			return nil, r.busyError()
		}
		if len(held) == 0 {
			rep, err = r.build(ctx, local, id, opts)
		} else {
			rep, missing, err = r.mergedReport(ctx, local, held, id, opts, missing)
		}
		r.releaseBuild()
		if err != nil {
			return nil, err
		}
	}
	if len(missing) > 0 {
		rep.Warnings = append(rep.Warnings, "partial: peers that did not answer may hold more of this run: "+strings.Join(missing, ", "))
	}
	return rep, nil
}

// clusterLedger is the run's ledger for the cluster, for the MCP
// get_run_ledger tool: this node's file or the one peer's lines, or the
// merged lines of a split run.
func (r *reportAPI) clusterLedger(ctx context.Context, id string) (io.ReadCloser, error) {
	local, held, missing, err := r.locateCluster(ctx, id)
	switch {
	case err != nil:
		return nil, err
	case len(held) == 0:
		return ledger.Open(local)
	case local == "" && len(held) == 1:
		body, err := held[0].runs.Ledger(ctx, id)
		if err != nil {
			r.fed.peerFailed(held[0], "GET ledger", err)
			return nil, peersUnavailableError{id, append(missing, held[0].url)}
		}
		return body, nil
	}
	if !r.acquireBuild() {
		return nil, r.busyError()
	}
	defer r.releaseBuild()
	parts, missing, err := r.clusterParts(ctx, local, held, id, missing)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, peersUnavailableError{id, missing}
	}
	var b bytes.Buffer
	_ = writeMerged(&b, parts)
	return io.NopCloser(&b), nil
}
