package reportapi

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/insights"
	"github.com/runledger/runledger/internal/ledger"
)

// writeIndexRun writes run to s's ledger: run.start, an ANN search of
// index idx (failed with index_not_found when fail), run.end; or, with
// part, only the steps of that part (0: start and search, 1: the end), as
// a run split over two nodes is.
func (s *server) writeIndexRun(t *testing.T, run string, at time.Time, idx string, fail bool, part int) {
	t.Helper()
	st, code := "ok", ""
	if fail {
		st, code = "failed", "index_not_found"
	}
	d := 12.0
	lines := []ledger.Line{
		{Kind: "run.start", Status: "ok"},
		{Kind: "ann.faiss.search", Status: st, ErrorCode: code, DurationMS: &d, Resources: map[string]string{"index_version": idx}},
		{Kind: "run.end", Status: st},
	}
	switch part {
	case 0:
		lines = lines[:2]
	case 1:
		lines = lines[2:]
	}
	var data []byte
	for i := range lines {
		l := &lines[i]
		l.V, l.RunID, l.Seq, l.Service = 1, run, uint64(i+1), "retriever"
		l.TS = at.Add(time.Duration(part*10+i) * time.Millisecond)
		data = append(append(data, ledger.Encode(l)...), '\n')
	}
	appendTo(t, ledger.RunPath(s.dir, lines[0].TS, run), data)
}

// Insights asked of any node cover every node's runs: failing runs on one
// node, good ones on another and a run split over two give the answer one
// node holding them all would.
func TestFederatedInsights(t *testing.T) {
	nodes := cluster(t, 3)
	now := time.Now().UTC()
	for i := range 4 {
		nodes[0].writeIndexRun(t, "bad-"+strconv.Itoa(i), now.Add(-time.Duration(i+1)*time.Minute), "v3", true, -1)
	}
	for i := range 6 {
		nodes[1].writeIndexRun(t, "good-"+strconv.Itoa(i), now.Add(-time.Duration(i+1)*time.Minute-time.Second), "v2", false, -1)
	}
	split := now.Add(-30 * time.Minute)
	nodes[1].writeIndexRun(t, "split", split, "v2", false, 0)
	nodes[2].writeIndexRun(t, "split", split, "v2", false, 1)
	nodes[0].waitListed(t, 4)
	nodes[1].waitListed(t, 7)
	nodes[2].waitListed(t, 1)

	for i, n := range nodes {
		r := get(t, n.base+"/reports/insights?since=1h")
		in := decode[insights.Insights](t, r)
		if r.code != http.StatusOK || r.header.Get(HeaderPartial) != "" || in.Partial {
			t.Fatalf("node %d: %d %s", i, r.code, r.body)
		}
		if in.Runs != 11 || in.ByStatus["failed"] != 4 || in.ByStatus["completed"] != 7 {
			t.Fatalf("node %d: runs %d, by status %v (want 11: the split run once)", i, in.Runs, in.ByStatus)
		}
		if len(in.TopCauses) != 1 || in.TopCauses[0].ErrorCode != "index_not_found" || in.TopCauses[0].Runs != 4 {
			t.Fatalf("node %d: causes %+v", i, in.TopCauses)
		}
		if len(in.Differences) == 0 || in.Differences[0].Key != "resource.index_version" || in.Differences[0].Value != "v3" {
			t.Fatalf("node %d: differences %+v", i, in.Differences)
		}
	}

	// A peer's request is answered from the node's own runs only.
	r := do(t, http.MethodGet, nodes[0].base+"/reports/insights?since=1h", http.Header{HeaderPeer: {"1"}})
	if in := decode[insights.Insights](t, r); in.Runs != 4 {
		t.Fatalf("peer request: %d runs, want node 0's 4", in.Runs)
	}
	// What a node tells its peers: its runs of the window, no paths.
	q := url.Values{"since": {now.Add(-time.Hour).Format(time.RFC3339Nano)}, "until": {now.Add(time.Minute).Format(time.RFC3339Nano)}}
	r = get(t, nodes[1].base+"/reports/insights/runs?"+q.Encode())
	page := decode[insights.FactsPage](t, r)
	if r.code != http.StatusOK || len(page.Runs) != 7 || page.Runs[0].Entry.Path != "" || len(page.Runs[0].Kinds) == 0 {
		t.Fatalf("insights runs: %d %s", r.code, r.body)
	}
	wantJSONError(t, get(t, nodes[1].base+"/reports/insights/runs?since=later"), http.StatusBadRequest)

	// A peer that is down makes the answer partial, never an error.
	down := "http://" + freeEndpoint(t)
	lone := startNodeTimeout(t, "", time.Second, down, nodes[0].base)
	r = get(t, lone.base+"/reports/insights?since=1h")
	in := decode[insights.Insights](t, r)
	if r.code != http.StatusOK || r.header.Get(HeaderPartial) != "true" || !in.Partial || len(in.MissingPeers) != 1 ||
		in.MissingPeers[0] != down || in.Runs != 4 {
		t.Fatalf("peer down: %d %s", r.code, r.body)
	}
	if md := get(t, lone.base+"/reports/insights?since=1h&format=md"); md.header.Get(HeaderPartial) != "true" {
		t.Fatalf("markdown with a peer down: %v", md.header)
	}
}
