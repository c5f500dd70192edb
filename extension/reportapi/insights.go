package reportapi

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/runledger/runledger/internal/insights"
)

// routeInsights answers across the runs of a window (issue 16).
const routeInsights = "/reports/insights"

var insightsParams = []string{"since", "until", "service", "kind", "format"}

func (r *reportAPI) serveInsights(w http.ResponseWriter, req *http.Request) {
	vals, err := url.ParseQuery(req.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "malformed query string: "+err.Error())
		return
	}
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
	if !r.acquireBuild() {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "too many reports being built; retry later")
		return
	}
	in, err := r.insights.Compute(r.index, q, now, r.remediations)
	r.releaseBuild()
	switch {
	case errors.Is(err, insights.ErrBadQuery):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "cannot compute insights")
		return
	}
	if format == "md" {
		w.Header().Set("Content-Type", contentMarkdown)
		_, _ = w.Write([]byte(in.Markdown()))
		return
	}
	writeJSON(w, http.StatusOK, in)
}
