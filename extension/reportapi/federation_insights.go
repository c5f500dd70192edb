package reportapi

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/runledger/runledger/internal/insights"
)

// routeInsightsRuns answers a peer computing insights over the cluster:
// this node's runs of a window with what insights read of them (about
// 0.5 KB of JSON a run).
const routeInsightsRuns = "/reports/insights/runs"

var insightsRunsParams = []string{"since", "until", "service", "kind"}

func (r *reportAPI) serveInsightsRuns(w http.ResponseWriter, req *http.Request) {
	vals := req.Form // parsed by knownParams
	now := r.now()
	q, err := insights.ParseQuery(vals, now)
	if err == nil {
		_, q.Since, q.Until, err = q.Bounds(now)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !r.startBuild(w) {
		return
	}
	page := r.insights.Facts(r.index, q, q.Since, q.Until)
	r.releaseBuild()
	writeJSON(w, http.StatusOK, page)
}

// computeInsights answers q, over every node's runs when federate (peers
// configured, and not a peer asking): the peers' runs of both windows are
// fetched and merged with this node's (insights.ComputeWith); peers that
// do not answer make the answer partial.
func (r *reportAPI) computeInsights(ctx context.Context, q insights.Query, now time.Time, federate bool) (*insights.Insights, error) {
	if !federate {
		return r.insights.Compute(r.index, q, now, r.remediations)
	}
	prevSince, _, until, err := q.Bounds(now)
	if err != nil {
		return nil, err
	}
	remote, missing := r.fed.insightsRuns(ctx, q, prevSince, until)
	in, err := r.insights.ComputeWith(r.index, q, now, r.remediations, remote)
	if err != nil {
		return nil, err
	}
	in.Partial, in.MissingPeers = len(missing) > 0, missing
	return in, nil
}

// insightsRuns asks every peer for its runs of [since, until) matching q,
// and returns them together and the peers that did not answer.
func (f *federation) insightsRuns(ctx context.Context, q insights.Query, since, until time.Time) (*insights.FactsPage, []string) {
	v := url.Values{"since": {since.UTC().Format(time.RFC3339Nano)}, "until": {until.UTC().Format(time.RFC3339Nano)}}
	if q.Service != "" {
		v.Set("service", q.Service)
	}
	if q.Kind != "" {
		v.Set("kind", q.Kind)
	}
	pages := make([]*insights.FactsPage, len(f.peers))
	f.eachOf(ctx, f.peers, maxPeerTransfer, func(ctx context.Context, i int, p *peer) {
		page, err := p.runs.InsightsRuns(ctx, v)
		if err != nil {
			f.peerFailed(p, "GET insights runs", err)
			return
		}
		pages[i] = page
	})
	out := &insights.FactsPage{}
	var missing []string
	for i, p := range f.peers {
		switch {
		case p.self.Load():
			// This node under another name: its runs are the local ones.
		case pages[i] == nil:
			missing = append(missing, p.url)
		default:
			out.Runs = append(out.Runs, pages[i].Runs...)
			out.Unreadable += pages[i].Unreadable
		}
	}
	return out, missing
}
