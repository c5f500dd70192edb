package reportapi

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/runledger/runledger/internal/runindex"
)

// The federated run list merges this node's list and every peer's, newest
// first, a run held by several nodes listed once, at the place of its
// newest part, with the fields of all its parts (mergeEntries). The runs of
// a page are looked up on the nodes that did not list them in their window
// (GET /reports/entries, one request per peer and page), so that a part of
// a split run further down a node's listing is merged now and skipped when
// that node's listing reaches it.
//
// The cursor is opaque to clients: "f1." and base64url JSON of each node's
// position in its own listing (the node's own cursor), the nodes whose
// listing ended, and per node the runs already listed that lie past its
// position. A node's key is its URL in the peers lists, so that gateways
// configured with the same peers, themselves included (config/gateway.yaml
// with one RUNLEDGER_PEERS for all), name every node alike and a cursor
// continues on any of them: a load balancer needs no sticky sessions. A
// node that is not among its own peers is "self" in its cursors, which
// then carry its id and continue only on it.

const fedCursorPrefix = "f1."

// selfNode is the key of a node that is not among its own peers.
const selfNode = "self"

// maxSkip bounds the runs a cursor remembers per node as listed ahead of
// its position (parts of split runs whose newest part was listed), which
// keeps the cursor within a URL; past it those furthest from the position
// are forgotten and listed again when the node's listing reaches them.
const maxSkip = 100

type fedCursor struct {
	Pos  map[string]string    `json:"p,omitempty"`
	Done []string             `json:"d,omitempty"`
	Skip map[string][]listKey `json:"s,omitempty"`
	// Node is the issuing node's id, which "self" stands for.
	Node string `json:"n,omitempty"`
}

// errForeignCursor answers a cursor that names nodes this gateway does not
// know as the issuer did: one from a gateway with other peers, or from
// this one before it restarted while not among its own peers.
var errForeignCursor = errors.New("this run list cursor comes from a gateway whose peers differ from this one's " +
	"(or from before this gateway restarted): start the listing again, page through the gateway that issued it, " +
	"or give every gateway the same peers, itself included, so that any of them continues it")

// nodes returns every node key the cursor names.
func (c fedCursor) nodes() []string {
	var keys []string
	for k := range c.Pos {
		keys = append(keys, k)
	}
	for k := range c.Skip {
		keys = append(keys, k)
	}
	return append(keys, c.Done...)
}

// localize spells the cursor with this node's keys: "self" becomes self
// (this node's key now) when this node issued the cursor. It fails when
// the cursor names a node that is not among keys.
func (c *fedCursor) localize(keys []string, nodeID string) error {
	for _, k := range c.nodes() {
		switch {
		case k == selfNode && c.Node == nodeID:
		case k != "" && slices.Contains(keys, k):
		default:
			return errForeignCursor
		}
	}
	if self := keys[0]; self != selfNode {
		if v, ok := c.Pos[selfNode]; ok {
			delete(c.Pos, selfNode)
			c.Pos[self] = v
		}
		if v, ok := c.Skip[selfNode]; ok {
			delete(c.Skip, selfNode)
			c.Skip[self] = v
		}
		for i, k := range c.Done {
			if k == selfNode {
				c.Done[i] = self
			}
		}
	}
	return nil
}

// nodeKeys returns the cursor keys of this node (first) and of its peers,
// "" for a peer that is this node under another name (its runs are the
// local list).
func (r *reportAPI) nodeKeys() []string {
	keys := []string{selfNode}
	for _, p := range r.fed.peers {
		if p.self.Load() {
			keys[0] = p.url
			keys = append(keys, "")
			continue
		}
		keys = append(keys, p.url)
	}
	return keys
}

// identify asks the peers a cursor names that never answered yet, until
// one turns out to be this node, so that its place in the cursor is known
// before the cursor is read. Nothing is asked once this node's name is
// known, nor for a cursor naming "self" (this node's own or refused).
func (r *reportAPI) identify(ctx context.Context, cur fedCursor) {
	named := cur.nodes()
	if slices.Contains(named, selfNode) {
		return
	}
	var ask []*peer
	for _, p := range r.fed.peers {
		if p.self.Load() {
			return
		}
		if !p.known.Load() && slices.Contains(named, p.url) {
			ask = append(ask, p)
		}
	}
	if len(ask) == 0 {
		return
	}
	// A peer that is down would hold the page for peer_timeout: stop
	// asking once this node is found.
	ctx, found := context.WithCancel(ctx)
	defer found()
	r.fed.eachOf(ctx, ask, r.fed.timeout, func(ctx context.Context, _ int, p *peer) {
		_, _ = p.client.ListRuns(ctx, runindex.Query{Limit: 1})
		if p.self.Load() {
			found()
		}
	})
}

// listKey is a run's place in a node's listing: its start (Unix ns, the
// smallest value for a run without events) and id, as runindex orders.
type listKey struct {
	ID string `json:"i"`
	T  int64  `json:"t"`
}

func keyOf(e *runindex.Entry) listKey {
	k := listKey{ID: e.RunID, T: math.MinInt64}
	if e.EventCount > 0 {
		k.T = e.StartedAt.UnixNano()
	}
	return k
}

// cmp orders keys as listings do: newest first, then by run id.
func (k listKey) cmp(o listKey) int {
	return cmp.Or(cmp.Compare(o.T, k.T), strings.Compare(k.ID, o.ID))
}

// maxFedCursorBytes bounds a federated cursor accepted from a client.
const maxFedCursorBytes = 64 << 10

func decodeFedCursor(s string) (fedCursor, error) {
	var c fedCursor
	if s == "" {
		return c, nil
	}
	raw, ok := strings.CutPrefix(s, fedCursorPrefix)
	if !ok || len(s) > maxFedCursorBytes {
		return c, errors.New("malformed cursor: not a run list cursor of a gateway with peers")
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || json.Unmarshal(b, &c) != nil {
		return c, errors.New("malformed cursor")
	}
	return c, nil
}

func (c fedCursor) encode() string {
	b, _ := json.Marshal(c)
	return fedCursorPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// listItem is one run of one node's page.
type listItem struct {
	node int
	e    *runindex.Entry
	used bool
}

// federatedPage is a run list page with the partial fields.
type federatedPage struct {
	runindex.Page
	partialFields
}

func (r *reportAPI) serveFederatedList(w http.ResponseWriter, req *http.Request) {
	vals := req.Form // parsed by knownParams
	cur, err := decodeFedCursor(vals.Get("cursor"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	vals.Del("cursor")
	q, err := runindex.ParseQuery(vals, r.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit := cmp.Or(q.Limit, runindex.DefaultLimit)
	r.identify(req.Context(), cur)
	keys := r.nodeKeys()
	if err := cur.localize(keys, r.nodeID); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	pages, failed, err := r.nodePages(req.Context(), q, limit, keys, cur)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if keys[0] == selfNode {
		// A peer that answered just now may have been this node: the
		// next cursor names it so (the positions asked were all the same
		// for it, the start, or it was known before).
		keys = r.nodeKeys()
		_ = cur.localize(keys, r.nodeID) // names only nodes it named before
	}

	// Each node's window, with the runs already listed marked used.
	wins := make([][]*listItem, len(keys))
	byID := map[string][]*listItem{}
	out := federatedPage{Page: runindex.Page{Runs: []runindex.Entry{}}}
	for n, pg := range pages {
		if pg == nil {
			continue
		}
		out.Matched += pg.Matched
		out.Indexing = out.Indexing || pg.Indexing
		skip := cur.Skip[keys[n]]
		for i := range pg.Runs {
			e := &pg.Runs[i]
			it := &listItem{node: n, e: e, used: slices.ContainsFunc(skip, func(k listKey) bool { return k.ID == e.RunID })}
			wins[n] = append(wins[n], it)
			if !it.used {
				byID[e.RunID] = append(byID[e.RunID], it)
			}
		}
	}
	heads := make([]int, len(keys))
	var listed [][]*listItem // the parts of each run of the page
	for len(listed) < limit {
		k := -1
		for n := range wins {
			for heads[n] < len(wins[n]) && wins[n][heads[n]].used {
				heads[n]++
			}
			if heads[n] < len(wins[n]) && (k < 0 || keyOf(wins[n][heads[n]].e).cmp(keyOf(wins[k][heads[k]].e)) < 0) {
				k = n
			}
		}
		if k < 0 {
			break
		}
		parts := byID[wins[k][heads[k]].e.RunID]
		for _, it := range parts {
			it.used = true
		}
		listed = append(listed, parts)
	}
	// Parts further down the other nodes' listings.
	found := r.lookupParts(req.Context(), pages, failed, listed)
	for _, parts := range listed {
		out.Runs = append(out.Runs, mergeEntries(parts))
	}

	next := fedCursor{Pos: map[string]string{}, Skip: map[string][]listKey{}}
	if keys[0] == selfNode {
		next.Node = r.nodeID
	}
	more := false
	var missing []string
	for n, key := range keys {
		switch {
		case key == "": // this node under a peer's name: its runs are the local list
			continue
		case slices.Contains(cur.Done, key):
			next.Done = append(next.Done, key)
			continue
		case pages[n] == nil && !failed[n]: // this node under a peer's name
			next.Done = append(next.Done, key)
			continue
		case pages[n] == nil: // not answering: asked again from where it was
			missing = append(missing, key)
			more = true
			if c := cur.Pos[key]; c != "" {
				next.Pos[key] = c
			}
			if s := cur.Skip[key]; len(s) > 0 {
				next.Skip[key] = s
			}
			continue
		}
		// The position moves past the used runs at the head of the window;
		// the used runs after it are skipped when the listing reaches them.
		pos, i := cur.Pos[key], 0
		var at *listKey
		for ; i < len(wins[n]) && wins[n][i].used; i++ {
			pos = runindex.CursorAfter(*wins[n][i].e)
			k := keyOf(wins[n][i].e)
			at = &k
		}
		if i == len(wins[n]) && pages[n].NextCursor == "" {
			next.Done = append(next.Done, key)
			continue
		}
		more = true
		if pos != "" {
			next.Pos[key] = pos
		}
		skip := slices.Concat(cur.Skip[key], found[n])
		for _, it := range wins[n][i:] {
			if it.used {
				skip = append(skip, keyOf(it.e))
			}
		}
		slices.SortFunc(skip, listKey.cmp)
		skip = slices.CompactFunc(skip, func(a, b listKey) bool { return a == b })
		// Keep what lies past the new position, the maxSkip nearest it.
		skip = slices.DeleteFunc(skip, func(k listKey) bool { return at != nil && k.cmp(*at) <= 0 })
		if len(skip) > maxSkip {
			skip = skip[:maxSkip]
		}
		if len(skip) > 0 {
			next.Skip[key] = skip
		}
	}
	if more && len(out.Runs) > 0 {
		out.NextCursor = next.encode()
	}
	// missing holds node keys; this node always answers.
	out.partialFields = partialOf(missing)
	setPartial(w, missing)
	writeJSON(w, http.StatusOK, out)
}

// lookupParts asks every answering node for the runs of the page it did
// not list in its window, adds the parts found to listed, and returns per
// node the keys of the parts found (past its window: to skip later).
func (r *reportAPI) lookupParts(ctx context.Context, pages []*runindex.Page, failed []bool, listed [][]*listItem) [][]listKey {
	want := make([][]string, len(pages)) // per node, the run ids to ask
	for _, parts := range listed {
		for n := range pages {
			if pages[n] != nil && !slices.ContainsFunc(parts, func(it *listItem) bool { return it.node == n }) {
				want[n] = append(want[n], parts[0].e.RunID)
			}
		}
	}
	got := make([][]runindex.Entry, len(pages))
	for _, id := range want[0] {
		if e, ok := r.index.Get(id); ok {
			got[0] = append(got[0], e)
		}
	}
	r.fed.each(ctx, func(ctx context.Context, i int, p *peer) {
		if len(want[i+1]) == 0 || failed[i+1] {
			return
		}
		es, err := r.fed.entries(ctx, p, want[i+1])
		if p.self.Load() {
			return
		}
		if err != nil {
			// Its parts of these runs are not merged; the answer is not
			// partial for it (its own listing answered).
			r.fed.peerFailed(p, "GET entries", err)
			return
		}
		got[i+1] = es
	})
	found := make([][]listKey, len(pages))
	for n := range got {
		for j := range got[n] {
			e := &got[n][j]
			for k, parts := range listed {
				if parts[0].e.RunID == e.RunID {
					listed[k] = append(parts, &listItem{node: n, e: e, used: true})
					found[n] = append(found[n], keyOf(e))
					break
				}
			}
		}
	}
	return found
}

// nodePages asks every node not done for its page from its position in
// cur: this node's index and the peers at the same time. A node that
// failed has a nil page and failed set.
func (r *reportAPI) nodePages(ctx context.Context, q runindex.Query, limit int, keys []string, cur fedCursor) ([]*runindex.Page, []bool, error) {
	pages := make([]*runindex.Page, len(keys))
	failed := make([]bool, len(keys))
	ask := func(n int) (runindex.Query, bool) {
		if slices.Contains(cur.Done, keys[n]) {
			return q, false
		}
		nq := q
		nq.Cursor = cur.Pos[keys[n]]
		// The runs already listed come again in the window: ask for
		// as many more.
		nq.Limit = min(limit+len(cur.Skip[keys[n]]), runindex.MaxLimit)
		return nq, true
	}
	// This node's list while the peers answer.
	localErr := make(chan error, 1)
	go func() {
		nq, ok := ask(0)
		if !ok {
			localErr <- nil
			return
		}
		pg, err := r.index.List(nq)
		if err == nil {
			pages[0] = &pg
		}
		localErr <- err
	}()
	r.fed.each(ctx, func(ctx context.Context, i int, p *peer) {
		nq, ok := ask(i + 1)
		if !ok {
			return
		}
		pg, err := p.client.ListRuns(ctx, nq)
		switch {
		case p.self.Load(): // this node: its runs are the local list
		case err != nil:
			r.fed.peerFailed(p, "GET run list", err)
			failed[i+1] = true
		default:
			pages[i+1] = pg
		}
	})
	if err := <-localErr; err != nil {
		// This node's own position: only a forged cursor gets here.
		return nil, nil, err
	}
	return pages, failed, nil
}

// mergeEntries is one run listed from its parts on several nodes (its
// path is the first part's): the earliest start, the latest end and last
// event, summed counts, the services and kinds of all, and the status and
// stop reason of the part with the latest event.
func mergeEntries(parts []*listItem) runindex.Entry {
	e := *parts[0].e
	if len(parts) == 1 {
		return e
	}
	last := parts[0].e
	for _, it := range parts[1:] {
		p := it.e
		if p.StartedAt.Before(e.StartedAt) {
			e.StartedAt = p.StartedAt
		}
		if p.EndedAt != nil && (e.EndedAt == nil || p.EndedAt.After(*e.EndedAt)) {
			e.EndedAt = p.EndedAt
		}
		if p.LastEventAt.After(last.LastEventAt) {
			last = p
		}
		e.EventCount += p.EventCount
		e.SkippedLines += p.SkippedLines
		e.Services = union(e.Services, p.Services)
		e.Kinds = union(e.Kinds, p.Kinds)
	}
	e.LastEventAt = last.LastEventAt
	e.Status, e.StopCategory, e.StopStage = last.Status, last.StopCategory, last.StopStage
	e.StopErrorCode, e.StopErrorCategory = last.StopErrorCode, last.StopErrorCategory
	return e
}

func union(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// routeEntries answers the index entries of the runs named by run_id
// (repeated, at most runindex.MaxLimit), from this node's index only: the
// federated run list asks it of peers.
const routeEntries = "/reports/entries"

// entriesAnswer is the answer of routeEntries.
type entriesAnswer struct {
	Runs []runindex.Entry `json:"runs"`
}

func (r *reportAPI) serveEntries(w http.ResponseWriter, req *http.Request) {
	ids := req.Form["run_id"]
	if len(ids) > runindex.MaxLimit {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("at most %d run_id values", runindex.MaxLimit))
		return
	}
	out := entriesAnswer{Runs: []runindex.Entry{}}
	for _, id := range ids {
		if err := checkRunID(id); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("run_id %q: %v", truncateID(id), err))
			return
		}
		if e, ok := r.index.Get(id); ok {
			out.Runs = append(out.Runs, e)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// maxEntriesURL bounds the URL of one entries request; more ids are asked
// in several.
const maxEntriesURL = 6000

// maxEntriesAnswer bounds the answer to one entries request.
const maxEntriesAnswer = 32 << 20

// entries asks p for the index entries of ids.
func (f *federation) entries(ctx context.Context, p *peer, ids []string) ([]runindex.Entry, error) {
	var out []runindex.Entry
	for len(ids) > 0 {
		q := url.Values{}
		n := 0
		for size := 0; n < len(ids) && n < runindex.MaxLimit && (n == 0 || size+len(ids[n])*3 < maxEntriesURL); n++ {
			q.Add("run_id", ids[n])
			size += len("&run_id=") + len(ids[n])*3
		}
		ids = ids[n:]
		u := *p.base
		u.Path = strings.TrimRight(u.Path, "/") + routeEntries
		u.RawPath = ""
		u.RawQuery = q.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", contentJSON)
		if f.token != "" {
			req.Header.Set("Authorization", "Bearer "+f.token)
		}
		resp, err := f.hc.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxEntriesAnswer+1))
		_ = resp.Body.Close()
		switch {
		case err != nil:
			return nil, fmt.Errorf("read entries from %s: %w", p.url, err)
		case resp.StatusCode != http.StatusOK:
			return nil, fmt.Errorf("entries from %s: %s", p.url, resp.Status)
		case len(body) > maxEntriesAnswer:
			return nil, fmt.Errorf("entries from %s: answer over %d bytes", p.url, maxEntriesAnswer)
		}
		var a entriesAnswer
		if err := json.Unmarshal(body, &a); err != nil {
			return nil, fmt.Errorf("decode entries from %s: %w", p.url, err)
		}
		out = append(out, a.Runs...)
	}
	return out, nil
}
