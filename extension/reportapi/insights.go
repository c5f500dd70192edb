package reportapi

import (
	"errors"
	"net/http"

	"github.com/runledger/runledger/internal/insights"
	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
)

// routeInsights answers across the runs of a window (issue 16).
const routeInsights = "/reports/insights"

var insightsParams = []string{"since", "until", "service", "kind", "format"}

func (r *reportAPI) serveInsights(w http.ResponseWriter, req *http.Request) {
	vals := req.Form // parsed by knownParams
	now := r.now()
	q, err := insights.ParseQuery(vals, now)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	format, err := negotiate(vals.Get("format"), req.Header.Values("Accept"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !r.startBuild(w) {
		return
	}
	in, err := r.computeInsights(req.Context(), q, now, r.federates(req))
	r.releaseBuild()
	switch {
	case errors.Is(err, insights.ErrBadQuery):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "cannot compute insights")
		return
	}
	setPartial(w, in.MissingPeers)
	if format == "md" {
		w.Header().Set("Content-Type", contentMarkdown)
		_, _ = w.Write([]byte(in.Markdown()))
		return
	}
	writeJSON(w, http.StatusOK, in)
}

// routeDiff compares two runs, or a run with its baseline.
const routeDiff = "/reports/diff"

var diffParams = []string{"a", "b", "baseline", "format"}

func (r *reportAPI) serveDiff(w http.ResponseWriter, req *http.Request) {
	vals := req.Form // parsed by knownParams
	a, b, base := vals.Get("a"), vals.Get("b"), vals.Get("baseline")
	switch {
	case checkRunID(a) != nil:
		writeError(w, http.StatusBadRequest, "a: a valid run id is required")
		return
	case b != "" && base != "":
		writeError(w, http.StatusBadRequest, "give b or baseline=auto, not both")
		return
	case b == "" && base != "auto":
		writeError(w, http.StatusBadRequest, "give b (a run id) or baseline=auto")
		return
	case b != "" && checkRunID(b) != nil:
		writeError(w, http.StatusBadRequest, "b: not a valid run id")
		return
	}
	format, err := negotiate(vals.Get("format"), req.Header.Values("Accept"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d, err := insights.DiffRuns(r.index, r.cfg.Directory, a, b)
	switch {
	case errors.Is(err, insights.ErrRunNotFound):
		writeError(w, http.StatusNotFound, truncateID(err.Error()))
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "cannot read the runs' ledgers")
		return
	}
	if format == "md" {
		w.Header().Set("Content-Type", contentMarkdown)
		_, _ = w.Write([]byte(d.Markdown()))
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// routeRunChain lists the runs a run follows (previous_run, from
// session.previous_id), newest first.
const routeRunChain = "/reports/runs/{run_id}/chain"

func (r *reportAPI) serveChain(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("run_id")
	if r.locate(w, id) == "" {
		return
	}
	if !r.startBuild(w) {
		return
	}
	defer r.releaseBuild()
	chain, err := report.Chain(id, func(run string) (string, error) {
		if checkRunID(run) != nil {
			return "", nil // a hostile previous_run ends the chain
		}
		return ledger.FindRun(r.cfg.Directory, run)
	}, report.Options{Now: r.now, StallAfter: r.cfg.StallAfter, Remediations: r.remediations})
	if err != nil {
		r.buildError(w, id, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": chain})
}
