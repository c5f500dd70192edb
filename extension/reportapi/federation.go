package reportapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"
	"go.uber.org/zap"

	"github.com/runledger/runledger/internal/reportclient"
)

// Federation: gateways behind Kafka each hold the ledgers of the runs whose
// partitions they consume. A node with peers answers the report, ledger and
// list routes for the whole cluster: a run it does not hold is asked of the
// peers, a run held by several nodes (its partition moved) is merged from
// their ledgers (ledger.Merge), and the run list merges every node's list
// (federation_list.go). Requests between peers carry HeaderPeer, and a
// request with it is answered from the node's own data only: no recursion,
// no loops between mutually peered nodes. Without peers none of this runs.

// HeaderPeer marks a request one reportapi sends to a peer.
const HeaderPeer = "X-Runledger-Peer"

// HeaderPartial is "true" on an answer that lacks what some peer holds: the
// peer was down, too slow (peer_timeout) or answered an error.
const HeaderPartial = "X-Runledger-Partial"

// HeaderNode carries the answering node's id on answers to peers: a node
// that finds its own id there is asking itself (one config listing every
// gateway, itself included) and leaves that peer out.
const HeaderNode = "X-Runledger-Node"

// HeaderMissingPeers lists, comma-separated, the peers a partial answer
// lacks.
const HeaderMissingPeers = "X-Runledger-Missing-Peers"

// maxPeerTransfer bounds fetching a run's report or ledger from a peer
// that holds it; peer_timeout bounds the lookups before it.
const maxPeerTransfer = time.Minute

// peerUserAgent is the User-Agent of requests to peers.
const peerUserAgent = "runledger-reportapi-peer"

// maxPeerLedgerBytes bounds one peer's ledger read to merge a split run:
// the merge holds the run's lines in memory.
const maxPeerLedgerBytes = 256 << 20

// Federation configures the peers of a reportapi (the `peers`,
// `peer_timeout` and `peer_bearer_token` settings).
type Federation struct {
	// Peers are the base URLs of the other nodes' reportapi, e.g.
	// http://gateway-2:4320 (http or https, a host, no query, fragment or
	// user info; a path prefixes every route, as for a reverse proxy).
	Peers []string `mapstructure:"peers"`
	// PeerTimeout bounds each lookup on a peer (does it hold a run, its
	// run list), its answer read included (default 2s); a peer past it is
	// missing from a partial answer. Fetching a run's report or ledger
	// from the peer holding it has maxPeerTransfer.
	PeerTimeout time.Duration `mapstructure:"peer_timeout"`
	// PeerBearerToken is sent as "Authorization: Bearer <token>" to the
	// peers (whose auth is e.g. bearertokenauth); usually
	// ${env:RUNLEDGER_PEER_TOKEN}. It is never logged.
	PeerBearerToken configopaque.String `mapstructure:"peer_bearer_token"`
}

// Validate checks the peer settings, naming a bad peer by its position
// and value.
func (f *Federation) Validate() error {
	var errs []error
	seen := map[string]int{}
	for i, p := range f.Peers {
		if err := checkPeerURL(p); err != nil {
			errs = append(errs, fmt.Errorf("peers[%d] %q: %w", i, truncateID(p), err))
			continue
		}
		k := strings.TrimRight(p, "/")
		if j, dup := seen[k]; dup {
			errs = append(errs, fmt.Errorf("peers[%d] %q: same peer as peers[%d]", i, truncateID(p), j))
		}
		seen[k] = i
	}
	if f.PeerTimeout < 10*time.Millisecond || f.PeerTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("peer_timeout must be between 10ms and 1m, got %s", f.PeerTimeout))
	}
	return errors.Join(errs...)
}

func checkPeerURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an http or https URL such as http://gateway-2:4320")
	case u.Hostname() == "":
		return errors.New("has no host")
	case u.User != nil:
		return errors.New("must not carry user info; use peer_bearer_token")
	case u.RawQuery != "" || u.ForceQuery:
		return errors.New("must not have a query")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return errors.New("must not have a fragment")
	}
	return nil
}

// federation is the runtime side of the peer settings.
type federation struct {
	nodeID  string // this node's id (HeaderNode)
	peers   []*peer
	hc      *http.Client
	token   string
	timeout time.Duration
	logger  *zap.Logger

	warnMu   sync.Mutex
	lastWarn time.Time
}

type peer struct {
	url  string // as configured, without a trailing slash
	base *url.URL
	// client asks lookups (run list), within peer_timeout; runs fetches a
	// run's report or ledger, within maxPeerTransfer.
	client, runs *reportclient.Client
	// self is set once the peer answered with this node's id: it is this
	// node under another name, and is not asked again.
	self atomic.Bool
	// known is set once the peer answered at all: self is then settled.
	known atomic.Bool
}

// peerTransport marks every request as a peer's, and marks a peer that
// turns out to be this node.
type peerTransport struct {
	next http.RoundTripper
	f    *federation
}

func (t peerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set(HeaderPeer, "1")
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		self := resp.Header.Get(HeaderNode) == t.f.nodeID
		for _, p := range t.f.peers {
			if p.base.Host == req.URL.Host {
				if self {
					p.self.Store(true)
				}
				p.known.Store(true)
			}
		}
	}
	return resp, err
}

// CloseIdleConnections closes the idle connections to the peers.
func (t peerTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// newNodeID returns a random id for this node's answers to peers.
func newNodeID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newFederation(cfg *Federation, nodeID string, logger *zap.Logger) (*federation, error) {
	if len(cfg.Peers) == 0 {
		return nil, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 8
	f := &federation{nodeID: nodeID, logger: logger, token: string(cfg.PeerBearerToken), timeout: cfg.PeerTimeout}
	// A peer is a reportapi: it never redirects, and a redirect would
	// carry the token elsewhere.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	f.hc = &http.Client{Transport: peerTransport{tr, f}, Timeout: cfg.PeerTimeout, CheckRedirect: noRedirect}
	// Fetching a run from the peer that holds it (its report, built
	// there, or its ledger) may take longer than a lookup.
	transfers := &http.Client{Transport: peerTransport{tr, f}, Timeout: maxPeerTransfer, CheckRedirect: noRedirect}
	for _, s := range cfg.Peers {
		s = strings.TrimRight(s, "/")
		c, err := reportclient.New(s, reportclient.Options{Token: f.token, Timeout: cfg.PeerTimeout,
			UserAgent: peerUserAgent, HTTPClient: f.hc})
		if err != nil {
			return nil, fmt.Errorf("peer %q: %w", s, err)
		}
		rc, err := reportclient.New(s, reportclient.Options{Token: f.token, Timeout: maxPeerTransfer,
			UserAgent: peerUserAgent, HTTPClient: transfers, MaxLedgerBytes: maxPeerLedgerBytes})
		if err != nil {
			return nil, fmt.Errorf("peer %q: %w", s, err)
		}
		u, _ := url.Parse(s)
		f.peers = append(f.peers, &peer{url: s, base: u, client: c, runs: rc})
	}
	return f, nil
}

// close drops the idle connections to the peers.
func (f *federation) close() {
	if f != nil {
		f.hc.CloseIdleConnections()
	}
}

// federates reports whether req is answered for the whole cluster: peers
// are configured and req is not itself a peer's.
func (r *reportAPI) federates(req *http.Request) bool {
	return r.fed != nil && req.Header.Get(HeaderPeer) == ""
}

// each calls fn for every peer at the same time, all within peer_timeout,
// and returns when every call has.
func (f *federation) each(ctx context.Context, fn func(ctx context.Context, i int, p *peer)) {
	f.eachOf(ctx, f.peers, f.timeout, fn)
}

// eachOf calls fn for some of the peers at the same time, within d, and
// returns when every call has.
func (f *federation) eachOf(ctx context.Context, peers []*peer, d time.Duration, fn func(ctx context.Context, i int, p *peer)) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for i, p := range peers {
		if p.self.Load() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(ctx, i, p)
		}()
	}
	wg.Wait()
}

// peerFailed logs a peer that did not answer, at most once a minute: a
// peer that is down would otherwise log on every request.
func (f *federation) peerFailed(p *peer, what string, err error) {
	f.warnMu.Lock()
	defer f.warnMu.Unlock()
	if now := time.Now(); now.Sub(f.lastWarn) > time.Minute {
		f.lastWarn = now
		f.logger.Warn("reportapi peer did not answer; answers are partial (logged at most once a minute)",
			zap.String("peer", p.url), zap.String("request", what), zap.Error(err))
	}
}

// runURL is the URL of a run route on p.
func (p *peer) runURL(id string, tail ...string) string {
	u := *p.base
	raw := strings.TrimRight(u.EscapedPath(), "/")
	for _, seg := range append([]string{"reports", "runs", id}, tail...) {
		raw += "/" + escapePathSegment(seg)
	}
	u.RawPath = raw
	u.Path, _ = url.PathUnescape(raw)
	return u.String()
}

// escapePathSegment escapes s as one path segment, "." and ".." included
// (url.PathEscape leaves them, and they would address another route).
func escapePathSegment(s string) string {
	if s == "." || s == ".." {
		return strings.Repeat("%2E", len(s))
	}
	return url.PathEscape(s)
}

// holders asks every peer whether it holds run id (HEAD on its ledger
// route): the peers that do, and the peers that did not answer 200 or 404.
func (f *federation) holders(ctx context.Context, id string) (held []*peer, missing []string) {
	codes := make([]int, len(f.peers))
	f.each(ctx, func(ctx context.Context, i int, p *peer) {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, p.runURL(id, "ledger"), nil)
		if err != nil {
			f.peerFailed(p, "HEAD ledger", err)
			return
		}
		if f.token != "" {
			req.Header.Set("Authorization", "Bearer "+f.token)
		}
		resp, err := f.hc.Do(req)
		if err != nil {
			f.peerFailed(p, "HEAD ledger", err)
			return
		}
		_ = resp.Body.Close()
		codes[i] = resp.StatusCode
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
			f.peerFailed(p, "HEAD ledger", fmt.Errorf("answered %s", resp.Status))
		}
	})
	for i, p := range f.peers {
		if p.self.Load() {
			continue // this node: its part is the local one
		}
		switch codes[i] {
		case http.StatusOK:
			held = append(held, p)
		case http.StatusNotFound:
		default:
			missing = append(missing, p.url)
		}
	}
	return held, missing
}
