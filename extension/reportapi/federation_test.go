package reportapi

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/collector/confmap"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/runindex"
)

// freeEndpoint returns a loopback address nothing listens on, so that
// nodes peered with each other can be configured before they start.
func freeEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// startNode starts a reportapi at endpoint ("" for any port) with peers.
func startNode(t *testing.T, endpoint string, peers ...string) *server {
	t.Helper()
	return startNodeTimeout(t, endpoint, 5*time.Second, peers...)
}

// startNodeTimeout is startNode with peer_timeout d.
func startNodeTimeout(t *testing.T, endpoint string, d time.Duration, peers ...string) *server {
	t.Helper()
	return startServer(t, nil, func(c *Config) {
		if endpoint != "" {
			c.ServerConfig.NetAddr.Endpoint = endpoint
		}
		c.Peers = peers
		c.PeerTimeout = d
	})
}

// cluster starts n nodes, each peered with all the others.
func cluster(t *testing.T, n int) []*server {
	t.Helper()
	eps := make([]string, n)
	for i := range eps {
		eps[i] = freeEndpoint(t)
	}
	nodes := make([]*server, n)
	for i := range nodes {
		var peers []string
		for j, ep := range eps {
			if j != i {
				peers = append(peers, "http://"+ep)
			}
		}
		nodes[i] = startNode(t, eps[i], peers...)
	}
	return nodes
}

// ev is one step event of a test run: its time offset in ms and kind; its
// event id is derived from both, the same on every node it is written to.
type ev struct {
	ms     int
	kind   string
	status string
}

// writePart writes events of run to s's ledger as the writer would (seq
// from 1 on this node, event ids), and returns the path.
func (s *server) writePart(t *testing.T, run string, at time.Time, evs ...ev) string {
	t.Helper()
	var data []byte
	for i, e := range evs {
		st := e.status
		if st == "" {
			st = "ok"
		}
		l := ledger.Line{V: 1, RunID: run, Seq: uint64(i + 1), TS: at.Add(time.Duration(e.ms) * time.Millisecond),
			Kind: e.kind, Status: st, Service: "retriever", TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331",
			EventID: fmt.Sprintf("%s-%d-%s", run, e.ms, e.kind)}
		data = append(append(data, ledger.Encode(&l)...), '\n')
	}
	p := ledger.RunPath(s.dir, at, run)
	appendTo(t, p, data)
	return p
}

// waitListed waits until s's index lists n runs.
func (s *server) waitListed(t *testing.T, n int) {
	t.Helper()
	waitFor(t, 5*time.Second, func() bool { return s.ext.index.Len() >= n })
}

type fedReport struct {
	report.Report
	Partial      bool     `json:"partial"`
	MissingPeers []string `json:"missing_peers"`
}

func TestFederatedReportFromTheNodeThatHoldsTheRun(t *testing.T) {
	nodes := cluster(t, 3)
	a, b := nodes[0], nodes[1]
	pa := a.writePart(t, "r-local", t0, ev{0, "run.start", ""}, ev{5, "run.end", ""})
	pb := b.writePart(t, "r-remote", t0, ev{0, "run.start", ""}, ev{3, "embed.vllm", "failed"}, ev{5, "run.end", "failed"})

	// Held here: this node's report, whole.
	r := get(t, a.base+"/reports/runs/r-local")
	rep := decode[fedReport](t, r)
	if r.code != http.StatusOK || rep.Partial || r.header.Get(HeaderPartial) != "" || rep.LedgerPath != pa || rep.EventCount != 2 {
		t.Fatalf("local run: %d %s", r.code, r.body)
	}
	// Held by a peer: the peer's report, from every route that serves one.
	for _, u := range []string{"/reports/runs/r-remote", "/admin/index/observability/run/r-remote/report"} {
		r = get(t, a.base+u)
		rep = decode[fedReport](t, r)
		if r.code != http.StatusOK || rep.LedgerPath != pb || rep.EventCount != 3 || rep.StopReason.Category != report.CategoryError || rep.Partial {
			t.Fatalf("%s: %d %s", u, r.code, r.body)
		}
	}
	r = do(t, http.MethodGet, nodes[2].base+"/admin/index/observability/run/report", http.Header{HeaderRunID: {"r-remote"}})
	if rep = decode[fedReport](t, r); r.code != http.StatusOK || rep.LedgerPath != pb {
		t.Fatalf("header route: %d %s", r.code, r.body)
	}
	r = get(t, a.base+"/reports/runs/r-remote?format=md")
	if r.code != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/markdown") || !bytes.Contains(r.body, []byte("r-remote")) {
		t.Fatalf("markdown: %d %s", r.code, r.body)
	}
	// HEAD tells where a run is held in the cluster, without the lines.
	if r = do(t, http.MethodHead, a.base+"/reports/runs/r-remote/ledger", nil); r.code != http.StatusOK || len(r.body) != 0 {
		t.Fatalf("HEAD: %d %q", r.code, r.body)
	}
	if r = do(t, http.MethodHead, a.base+"/reports/runs/r-nowhere/ledger", nil); r.code != http.StatusNotFound {
		t.Fatalf("HEAD unknown: %d", r.code)
	}
	// The peer's ledger, verbatim.
	r = get(t, a.base+"/reports/runs/r-remote/ledger")
	want := readFile(t, pb)
	if r.code != http.StatusOK || !bytes.Equal(r.body, want) {
		t.Fatalf("ledger: %d %s, want %s", r.code, r.body, want)
	}
	// An id that is not a plain path segment reaches the peer whole.
	odd := "team a/run #1?x=é"
	b.writePart(t, odd, t0, ev{0, "run.start", ""})
	r = get(t, a.base+"/reports/runs/"+url.PathEscape(odd))
	if rep = decode[fedReport](t, r); r.code != http.StatusOK || rep.RunID != odd {
		t.Fatalf("odd id: %d %s", r.code, r.body)
	}
	// Nowhere: 404, not partial.
	r = get(t, a.base+"/reports/runs/r-nowhere")
	wantJSONError(t, r, http.StatusNotFound)
	if r.header.Get(HeaderPartial) != "" {
		t.Fatalf("404 marked partial: %v", r.header)
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	f, err := ledger.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A run whose partition moved from a to b mid-run, with the events around
// the move redelivered to both, reads whole from any node: each event once,
// in ts order, seq 1..N, the stop reason of the whole run.
func TestFederatedSplitRunIsMergedWhole(t *testing.T) {
	nodes := cluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	pa := a.writePart(t, "r-split", t0, ev{0, "run.start", ""}, ev{10, "embed.vllm", ""}, ev{20, "ann.faiss.search", ""}, ev{30, "rerank", ""})
	// b got the partition after 20ms; 20 and 30 were redelivered to it.
	b.writePart(t, "r-split", t0, ev{20, "ann.faiss.search", ""}, ev{30, "rerank", ""}, ev{40, "llm.generate", "failed"}, ev{50, "run.end", "failed"})
	want := []string{"run.start", "embed.vllm", "ann.faiss.search", "rerank", "llm.generate", "run.end"}

	for _, n := range nodes {
		r := get(t, n.base+"/reports/runs/r-split?limit=100")
		rep := decode[fedReport](t, r)
		if r.code != http.StatusOK || rep.Partial || rep.EventCount != len(want) || len(rep.Timeline.Events) != len(want) {
			t.Fatalf("from %s: %d %s", n.base, r.code, r.body)
		}
		for i, e := range rep.Timeline.Events {
			if e.Kind != want[i] || e.Seq != uint64(i+1) {
				t.Errorf("from %s: event %d is %s seq %d, want %s seq %d", n.base, i, e.Kind, e.Seq, want[i], i+1)
			}
		}
		if rep.StopReason.Category != report.CategoryError || rep.StopReason.Kind != "llm.generate" || rep.Status != report.StatusFailed {
			t.Fatalf("from %s: stop %+v status %s", n.base, rep.StopReason, rep.Status)
		}
	}
	// The ledger route answers the merged lines: seq renumbered, each
	// event once.
	r := get(t, c.base+"/reports/runs/r-split/ledger")
	if r.code != http.StatusOK {
		t.Fatalf("ledger: %d %s", r.code, r.body)
	}
	var got []string
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		var l ledger.Line
		if err := ledger.DecodeLine(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Bytes(), err)
		}
		if l.Seq != uint64(len(got)+1) {
			t.Errorf("line %d has seq %d", len(got), l.Seq)
		}
		got = append(got, l.Kind)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ledger kinds %v, want %v", got, want)
	}
	// The files themselves are untouched.
	if n := bytes.Count(readFile(t, pa), []byte("\n")); n != 4 {
		t.Fatalf("a's ledger has %d lines", n)
	}
}

// Two nodes peered with each other answer a run neither holds with 404,
// without asking each other in a loop; a run on either is found from both.
func TestFederationNoRecursionBetweenMutualPeers(t *testing.T) {
	nodes := cluster(t, 2)
	nodes[1].writePart(t, "r-b", t0, ev{0, "run.start", ""})
	// In a loop every node would wait on the next until peer_timeout and
	// call it missing: the answer would be partial.
	r := get(t, nodes[0].base+"/reports/runs/r-unknown")
	wantJSONError(t, r, http.StatusNotFound)
	if r.header.Get(HeaderPartial) != "" {
		t.Fatalf("unknown run: partial, missing %q", r.header.Get(HeaderMissingPeers))
	}
	r = get(t, nodes[0].base+"/reports/runs/r-b")
	if r.code != http.StatusOK {
		t.Fatalf("run on the peer: %d %s", r.code, r.body)
	}
	// A peer's request is answered from the node's own data only.
	r = do(t, http.MethodGet, nodes[0].base+"/reports/runs/r-b", http.Header{HeaderPeer: {"1"}})
	wantJSONError(t, r, http.StatusNotFound)
}

// countingPeer is a peer that answers every request with code and body,
// after delay, counting the requests.
func countingPeer(t *testing.T, code int, body string, delay time.Duration) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n.Add(1)
		if req.Header.Get(HeaderPeer) != "1" {
			t.Errorf("peer request without %s: %s", HeaderPeer, req.URL)
		}
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// A peer that is down, slow or failing makes answers partial (field and
// header), never a 500.
func TestFederationPartialAnswers(t *testing.T) {
	down := "http://" + freeEndpoint(t)
	slow, _ := countingPeer(t, http.StatusOK, `{"runs":[]}`, time.Minute)
	failing, _ := countingPeer(t, http.StatusInternalServerError, `{"error":"boom"}`, 0)
	good := startNode(t, "")
	good.writePart(t, "r-good", t0, ev{0, "run.start", ""}, ev{1, "run.end", ""})
	a := startNodeTimeout(t, "", time.Second, down, slow.URL, failing.URL, good.base)
	a.writePart(t, "r-a", t0.Add(time.Minute), ev{0, "run.start", ""})
	missing := []string{down, slow.URL, failing.URL}

	check := func(what string, r response, code int) {
		t.Helper()
		if r.code != code || r.header.Get(HeaderPartial) != "true" || r.header.Get(HeaderMissingPeers) != strings.Join(missing, ",") {
			t.Fatalf("%s: %d %v %s", what, r.code, r.header, r.body)
		}
	}
	r := get(t, a.base+"/reports/runs/r-a")
	check("local run", r, http.StatusOK)
	if rep := decode[fedReport](t, r); !rep.Partial || !slices.Equal(rep.MissingPeers, missing) || rep.RunID != "r-a" {
		t.Fatalf("local run: %s", r.body)
	}
	r = get(t, a.base+"/reports/runs/r-good")
	check("peer's run", r, http.StatusOK)
	if rep := decode[fedReport](t, r); !rep.Partial || !slices.Equal(rep.MissingPeers, missing) || rep.RunID != "r-good" || rep.EventCount != 2 {
		t.Fatalf("peer's run: %s", r.body)
	}
	r = get(t, a.base+"/reports/runs/r-good?format=md")
	check("markdown", r, http.StatusOK)
	r = get(t, a.base+"/reports/runs/r-nowhere")
	check("unknown run", r, http.StatusNotFound)
	for _, m := range missing {
		if !strings.Contains(string(r.body), m) {
			t.Errorf("404 message %s does not name %s", r.body, m)
		}
	}
	a.waitListed(t, 1)
	good.waitListed(t, 1)
	r = get(t, a.base+"/reports/runs")
	check("run list", r, http.StatusOK)
	page := decode[struct {
		runindex.Page
		partialFields
	}](t, r)
	if !page.Partial || len(page.Runs) != 2 || page.Runs[0].RunID != "r-a" || page.Runs[1].RunID != "r-good" {
		t.Fatalf("run list: %s", r.body)
	}
}

// A peer answering garbage is missing from the answer, not a crash.
func TestFederationPeerAnsweringGarbage(t *testing.T) {
	garbage, _ := countingPeer(t, http.StatusOK, `{"runs": [not json`, 0)
	a := startNode(t, "", garbage.URL)
	a.writePart(t, "r-a", t0, ev{0, "run.start", ""}, ev{1, "run.end", ""})
	a.waitListed(t, 1)
	r := get(t, a.base+"/reports/runs")
	if r.code != http.StatusOK || r.header.Get(HeaderPartial) != "true" || !bytes.Contains(r.body, []byte(`"r-a"`)) {
		t.Fatalf("list: %d %s", r.code, r.body)
	}
	// It claims (HEAD 200) to hold every run: its garbage ledger adds
	// nothing to a run held here, and it is missing...
	r = get(t, a.base+"/reports/runs/r-a")
	if rep := decode[fedReport](t, r); r.code != http.StatusOK || rep.EventCount != 2 || !rep.Partial || !slices.Equal(rep.MissingPeers, []string{garbage.URL}) {
		t.Fatalf("report: %d %s", r.code, r.body)
	}
	// ... and a run only it "holds" is unavailable, not a 500.
	r = get(t, a.base+"/reports/runs/r-other")
	wantJSONError(t, r, http.StatusServiceUnavailable)
	if r.header.Get(HeaderPartial) != "true" || !strings.Contains(string(r.body), garbage.URL) {
		t.Fatalf("garbage peer's run: %d %v %s", r.code, r.header, r.body)
	}
}

// A run id the API refuses is refused before any peer is asked.
func TestFederationHostileRunIDsNotSentToPeers(t *testing.T) {
	peer, n := countingPeer(t, http.StatusNotFound, `{"error":"no"}`, 0)
	a := startNode(t, "", peer.URL)
	for _, id := range []string{"bad\x01id", strings.Repeat("x", MaxRunIDBytes+1), "\xff\xfe"} {
		for _, route := range []string{"/reports/runs/%s", "/reports/runs/%s/ledger", "/admin/index/observability/run/%s/report"} {
			r := get(t, a.base+fmt.Sprintf(route, url.PathEscape(id)))
			wantJSONError(t, r, http.StatusBadRequest)
		}
	}
	r := do(t, http.MethodGet, a.base+"/admin/index/observability/run/report", http.Header{HeaderRunID: {strings.Repeat("y", MaxRunIDBytes+1)}})
	wantJSONError(t, r, http.StatusBadRequest)
	if n.Load() != 0 {
		t.Fatalf("peer asked %d times about hostile ids", n.Load())
	}
	// A good id is asked about.
	get(t, a.base+"/reports/runs/r-fine")
	if n.Load() != 1 {
		t.Fatalf("peer asked %d times about one run", n.Load())
	}
}

// pageRuns pages through the federated run list, page n from the node at
// base(n), and returns the runs listed. Every page must answer 200, hold
// at most limit runs and miss exactly the peers in missing (none: not
// partial).
func pageRuns(t *testing.T, limit int, base func(page int) string, missing ...string) []runindex.Entry {
	t.Helper()
	var got []runindex.Entry
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatalf("limit %d: no end after %d pages", limit, pages)
		}
		u := fmt.Sprintf("%s/reports/runs?limit=%d", base(pages), limit)
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		r := get(t, u)
		page := decode[fedPageT](t, r)
		if r.code != http.StatusOK || page.Partial != (len(missing) > 0) || !slices.Equal(page.MissingPeers, missing) ||
			(r.header.Get(HeaderPartial) == "true") != (len(missing) > 0) {
			t.Fatalf("limit %d page %d: %d %v %s", limit, pages, r.code, r.header, r.body)
		}
		if len(page.Runs) > limit {
			t.Fatalf("limit %d: page of %d", limit, len(page.Runs))
		}
		got = append(got, page.Runs...)
		if cursor = page.NextCursor; cursor == "" {
			return got
		}
	}
}

// runIDs returns the run ids of es in order.
func runIDs(es []runindex.Entry) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.RunID
	}
	return ids
}

// writeListedRuns writes r-00 … r-08 (a minute apart, round robin) and
// r-split on three nodes and waits until each lists its runs. r-split
// started on node 0 at +1m30s and went on on node 1 two minutes later (its
// part there starts at +3m30s): the parts are further apart in the nodes'
// listings than a small page. It returns every run id and r-split's start.
func writeListedRuns(t *testing.T, nodes []*server) ([]string, time.Time) {
	t.Helper()
	var all []string
	for i := range 9 {
		id := fmt.Sprintf("r-%02d", i)
		all = append(all, id)
		nodes[i%3].writePart(t, id, t0.Add(time.Duration(i)*time.Minute), ev{0, "run.start", ""}, ev{1, "run.end", ""})
	}
	split := t0.Add(time.Minute + 30*time.Second)
	nodes[0].writePart(t, "r-split", split, ev{0, "run.start", ""}, ev{120_000, "embed", ""})
	nodes[1].writePart(t, "r-split", split, ev{120_000, "embed", ""}, ev{120_010, "run.end", ""})
	nodes[0].waitListed(t, 4)
	nodes[1].waitListed(t, 4)
	nodes[2].waitListed(t, 3)
	return append(all, "r-split"), split
}

// Paging through the run list of three nodes with a small limit lists
// every run exactly once, newest first; a run held by two nodes is one
// entry with merged fields.
func TestFederatedListPagesAcrossNodes(t *testing.T) {
	nodes := cluster(t, 3)
	all, split := writeListedRuns(t, nodes)
	for _, limit := range []int{1, 2, 3, 50} {
		got := pageRuns(t, limit, func(int) string { return nodes[2].base })
		var ids []string
		for i, e := range got {
			ids = append(ids, e.RunID)
			if e.RunID == "r-split" {
				if e.EventCount != 4 || !e.StartedAt.Equal(split) || e.Status != report.StatusCompleted {
					t.Errorf("limit %d: merged entry %+v", limit, e)
				}
				continue
			}
			if i > 0 && got[i-1].RunID != "r-split" && e.StartedAt.After(got[i-1].StartedAt) {
				t.Errorf("limit %d: %s listed after the older %s", limit, e.RunID, got[i-1].RunID)
			}
		}
		sorted := slices.Clone(ids)
		slices.Sort(sorted)
		wantSorted := slices.Clone(all)
		slices.Sort(wantSorted)
		if !slices.Equal(sorted, wantSorted) {
			t.Fatalf("limit %d: listed %v, want each of %v once", limit, ids, all)
		}
		if ids[0] != "r-08" || ids[len(ids)-1] != "r-00" {
			t.Fatalf("limit %d: not newest first: %v", limit, ids)
		}
	}
	// A cursor that is not a federated one is refused.
	r := get(t, nodes[2].base+"/reports/runs?cursor=bm90LWEtY3Vyc29y")
	wantJSONError(t, r, http.StatusBadRequest)
}

// With every gateway listing the same peers, itself included (as
// config/gateway.yaml is run), a run list cursor continues on any gateway:
// paging through a different one each page, behind a load balancer
// without sticky sessions, lists every run once, newest first.
func TestFederatedCursorContinuesOnAnyGateway(t *testing.T) {
	eps := []string{freeEndpoint(t), freeEndpoint(t), freeEndpoint(t)}
	var peers []string
	for _, ep := range eps {
		peers = append(peers, "http://"+ep)
	}
	var nodes []*server
	for _, ep := range eps {
		nodes = append(nodes, startNode(t, ep, peers...))
	}
	writeListedRuns(t, nodes)
	for _, limit := range []int{1, 2, 4} {
		// Each page from the next gateway, starting where the last limit
		// left off so that a gateway meets another's cursor first.
		got := pageRuns(t, limit, func(page int) string { return nodes[(page+limit)%3].base })
		for _, e := range got {
			if e.RunID == "r-split" && e.EventCount != 4 {
				t.Errorf("limit %d: split run %+v", limit, e)
			}
		}
		ids := runIDs(got)
		want := []string{"r-08", "r-07", "r-06", "r-05", "r-04", "r-split", "r-03", "r-02", "r-01", "r-00"} // r-split at its newest part, +3m30s
		if !slices.Equal(ids, want) {
			t.Fatalf("limit %d: listed %v, want %v", limit, ids, want)
		}
	}
}

// The same with one listed gateway down: every page is partial, names it
// missing and still continues on the next live gateway, each live run once.
func TestFederatedCursorContinuesOnAnyGatewayWithOneDown(t *testing.T) {
	eps := []string{freeEndpoint(t), freeEndpoint(t), freeEndpoint(t)}
	down := "http://" + eps[2]
	peers := []string{"http://" + eps[0], "http://" + eps[1], down}
	nodes := []*server{
		startNodeTimeout(t, eps[0], 500*time.Millisecond, peers...),
		startNodeTimeout(t, eps[1], 500*time.Millisecond, peers...),
	}
	for i := range 6 {
		nodes[i%2].writePart(t, fmt.Sprintf("r-%d", i), t0.Add(time.Duration(i)*time.Minute), ev{0, "run.start", ""})
	}
	nodes[0].waitListed(t, 3)
	nodes[1].waitListed(t, 3)
	ids := runIDs(pageRuns(t, 2, func(page int) string { return nodes[(page+1)%2].base }, down))
	if want := []string{"r-5", "r-4", "r-3", "r-2", "r-1", "r-0"}; !slices.Equal(ids, want) {
		t.Fatalf("listed %v, want %v", ids, want)
	}
}

// A gateway that is not among its own peers names itself "self" in its
// cursors: another gateway refuses such a cursor with a message saying
// what to do, instead of reading its own runs from another node's place.
func TestFederatedCursorOfAnotherGatewayRefused(t *testing.T) {
	nodes := cluster(t, 3) // each lists the other two only
	for i := range 6 {
		nodes[i%3].writePart(t, fmt.Sprintf("r-%d", i), t0.Add(time.Duration(i)*time.Minute), ev{0, "run.start", ""})
	}
	for _, n := range nodes {
		n.waitListed(t, 2)
	}
	r := get(t, nodes[0].base+"/reports/runs?limit=2")
	page := decode[runindex.Page](t, r)
	if r.code != http.StatusOK || page.NextCursor == "" {
		t.Fatalf("first page: %d %s", r.code, r.body)
	}
	q := "/reports/runs?limit=2&cursor=" + url.QueryEscape(page.NextCursor)
	r = get(t, nodes[1].base+q)
	wantJSONError(t, r, http.StatusBadRequest)
	if !strings.Contains(string(r.body), "same peers, itself included") {
		t.Fatalf("foreign cursor: %s", r.body)
	}
	// The gateway that issued it goes on.
	if r = get(t, nodes[0].base+q); r.code != http.StatusOK {
		t.Fatalf("issuer: %d %s", r.code, r.body)
	}
}

func TestFederationConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if cfg.PeerTimeout != 2*time.Second || len(cfg.Peers) != 0 {
		t.Fatalf("defaults: %+v", cfg.Federation)
	}
	cfg.Peers = []string{"http://gw-2:4320", "https://gw-3.example.com/runledger/", "gw-4:4320", "ftp://gw-5", "http://",
		"http://gw-6:4320?x=1", "http://gw-7:4320#top", "http://user:pw@gw-8:4320", "http://gw-2:4320/"}
	cfg.PeerTimeout = 0
	err := cfg.Validate()
	for _, want := range []string{`peers[2] "gw-4:4320"`, `peers[3] "ftp://gw-5"`, `peers[4] "http://": has no host`,
		`peers[5] "http://gw-6:4320?x=1": must not have a query`, `peers[6] "http://gw-7:4320#top": must not have a fragment`,
		"peers[7]", `peers[8] "http://gw-2:4320/": same peer as peers[0]`, "peer_timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validate: %v does not mention %q", err, want)
		}
	}
	for _, ok := range []string{"peers[0]", "peers[1]"} {
		if err != nil && strings.Contains(err.Error(), ok+" ") {
			t.Errorf("validate rejected a valid peer: %v", err)
		}
	}
	// The token is never printed with the config.
	cfg.PeerBearerToken = "s3cret-token"
	conf := confmap.New()
	if err := conf.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(conf.ToStringMap(), cfg.Federation); strings.Contains(s, "s3cret") {
		t.Fatalf("token printed: %s", s)
	}
}

// The bearer token goes to the peers.
func TestFederationSendsThePeerToken(t *testing.T) {
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		auth.Store(req.Header.Get("Authorization"))
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	a := startServer(t, nil, func(c *Config) {
		c.Peers = []string{srv.URL}
		c.PeerBearerToken = "tok-123"
	})
	get(t, a.base+"/reports/runs/r-x")
	if got, _ := auth.Load().(string); got != "Bearer tok-123" {
		t.Fatalf("peer got Authorization %q", got)
	}
}

// One config listing every gateway, the node itself included: the node
// finds out it is asking itself and leaves that peer out (no run counted
// twice, nothing missing).
func TestFederationPeerThatIsThisNode(t *testing.T) {
	epA, epB := freeEndpoint(t), freeEndpoint(t)
	all := []string{"http://" + epA, "http://" + epB}
	a := startNode(t, epA, all...)
	b := startNode(t, epB, all...)
	// Lines without event ids: a merge of a run with itself would count
	// them twice.
	a.writeRun(t, "r-a", t0, step{"run.start", "ok", "", ""}, step{"run.end", "ok", "", ""})
	b.writePart(t, "r-b", t0.Add(time.Minute), ev{0, "run.start", ""})
	a.waitListed(t, 1)
	b.waitListed(t, 1)
	for range 2 { // the first request finds out, the second knows
		r := get(t, a.base+"/reports/runs/r-a")
		if rep := decode[fedReport](t, r); r.code != http.StatusOK || rep.EventCount != 2 || rep.Partial {
			t.Fatalf("report: %d %s", r.code, r.body)
		}
		r = get(t, a.base+"/reports/runs")
		page := decode[fedPageT](t, r)
		if r.code != http.StatusOK || page.Partial || len(page.Runs) != 2 || page.Runs[1].RunID != "r-a" || page.Runs[1].EventCount != 2 {
			t.Fatalf("list: %d %s", r.code, r.body)
		}
	}
	if !a.ext.fed.peers[0].self.Load() || a.ext.fed.peers[1].self.Load() {
		t.Fatalf("self not told apart: %v %v", a.ext.fed.peers[0].self.Load(), a.ext.fed.peers[1].self.Load())
	}
}

type fedPageT struct {
	runindex.Page
	partialFields
}

// The MCP report and ledger tools of a node with peers find a run on a
// peer and merge a split one, as the HTTP routes do.
func TestFederatedMCPTools(t *testing.T) {
	nodes := cluster(t, 2)
	a, b := nodes[0], nodes[1]
	b.writePart(t, "r-remote", t0, ev{0, "run.start", ""}, ev{3, "embed.vllm", "failed"}, ev{5, "run.end", "failed"})
	a.writePart(t, "r-split", t0, ev{0, "run.start", ""}, ev{10, "embed", ""})
	b.writePart(t, "r-split", t0, ev{10, "embed", ""}, ev{20, "run.end", ""})
	cs, err := mcpConnect(a, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	call := func(tool, run string) string {
		t.Helper()
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"run_id": run}})
		if err != nil || res.IsError {
			t.Fatalf("%s %s: %+v %v", tool, run, res, err)
		}
		return res.Content[0].(*mcp.TextContent).Text
	}
	if txt := call("get_run_report", "r-remote"); !strings.Contains(txt, "embed.vllm") {
		t.Fatalf("remote report: %s", txt)
	}
	if txt := call("get_run_report", "r-split"); !strings.Contains(txt, `"event_count":3,`) {
		t.Fatalf("split report: %s", txt)
	}
	if txt := call("get_run_ledger", "r-split"); strings.Count(txt, `"kind":"embed"`) != 1 || !strings.Contains(txt, `"seq":3`) {
		t.Fatalf("split ledger: %s", txt)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_run_report", Arguments: map[string]any{"run_id": "r-nowhere"}})
	if err != nil || !res.IsError {
		t.Fatalf("unknown run: %+v %v", res, err)
	}
}

// Paging while a peer is down: every page is partial, the runs of the
// nodes that answer are each listed once, and the listing ends.
func TestFederatedListPagesWithAPeerDown(t *testing.T) {
	down := "http://" + freeEndpoint(t)
	b := startNode(t, "")
	a := startNode(t, "", b.base, down)
	for i := range 4 {
		n := []*server{a, b}[i%2]
		n.writePart(t, fmt.Sprintf("r-%d", i), t0.Add(time.Duration(i)*time.Minute), ev{0, "run.start", ""})
	}
	a.waitListed(t, 2)
	b.waitListed(t, 2)
	ids := runIDs(pageRuns(t, 1, func(int) string { return a.base }, down))
	if !slices.Equal(ids, []string{"r-3", "r-2", "r-1", "r-0"}) {
		t.Fatalf("listed %v", ids)
	}
}
