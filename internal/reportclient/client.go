// Package reportclient is the HTTP client of the collector's reportapi
// extension (docs/design.md §4), shared by the runledger CLI and its
// terminal UI: run listing, run report (JSON or Markdown) and raw ledger.
//
// Every non-2xx answer is a *StatusError naming the request and carrying the
// server's error message; errors.Is(err, ErrRunNotFound) tells a 404 on a run
// route and errors.Is(err, ErrUnauthorized) a 401. Run ids are path-escaped,
// "." and ".." included, so no id can address another route.
package reportclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/runindex"
)

// Defaults of Options.
const (
	DefaultTimeout          = 60 * time.Second
	DefaultUserAgent        = "runledger"
	DefaultMaxResponseBytes = 256 << 20
	DefaultMaxLedgerBytes   = 4 << 30
)

// maxErrorBody bounds what is read of a non-2xx answer.
const maxErrorBody = 16 << 10

// maxMessage bounds the server message kept in a StatusError.
const maxMessage = 1000

var (
	// ErrRunNotFound matches a 404 answer to a run route; it is
	// ledger.ErrRunNotFound, as a missing ledger file is.
	ErrRunNotFound = ledger.ErrRunNotFound
	// ErrUnauthorized matches a 401 answer: no or a wrong bearer token.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrResponseTooLarge is returned when an answer exceeds
	// MaxResponseBytes (or a ledger MaxLedgerBytes).
	ErrResponseTooLarge = errors.New("response too large")
)

// Options configure a Client. The zero value is usable.
type Options struct {
	// Token is sent as "Authorization: Bearer <Token>" when not empty.
	Token string
	// Timeout bounds each request including reading its body (default
	// DefaultTimeout; negative: no limit beyond the context's).
	Timeout time.Duration
	// UserAgent is the User-Agent header (default DefaultUserAgent).
	UserAgent string
	// HTTPClient sends the requests (default: a new http.Client).
	HTTPClient *http.Client
	// MaxResponseBytes bounds a run listing or report body (default
	// DefaultMaxResponseBytes).
	MaxResponseBytes int64
	// MaxLedgerBytes bounds a streamed ledger (default DefaultMaxLedgerBytes).
	MaxLedgerBytes int64
}

// Client talks to one reportapi server. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	token     string
	userAgent string
	timeout   time.Duration
	hc        *http.Client
	maxBody   int64
	maxLedger int64
}

// New returns a client for the reportapi server at server, an http(s) URL
// whose path, if any, prefixes every route (a reverse proxy's mount point).
// "host:port" without a scheme means "http://host:port".
func New(server string, opts Options) (*Client, error) {
	s := strings.TrimSpace(server)
	if s == "" {
		return nil, errors.New("server URL is empty")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", server, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server URL %q must be an http(s) URL such as http://localhost:4320", server)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	c := &Client{base: u, token: opts.Token, userAgent: opts.UserAgent, timeout: opts.Timeout,
		hc: opts.HTTPClient, maxBody: opts.MaxResponseBytes, maxLedger: opts.MaxLedgerBytes}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	if c.maxLedger <= 0 {
		c.maxLedger = DefaultMaxLedgerBytes
	}
	return c, nil
}

// BaseURL is the server URL, without user info.
func (c *Client) BaseURL() string { return c.base.Redacted() }

// TimelinePage selects the page of a report's timeline. The zero value is
// the server's default page.
type TimelinePage struct {
	Offset int
	Limit  int // 0: the server's timeline_limit
}

func (p TimelinePage) values() url.Values {
	v := url.Values{}
	if p.Offset > 0 {
		v.Set("offset", strconv.Itoa(p.Offset))
	}
	if p.Limit > 0 {
		v.Set("limit", strconv.Itoa(p.Limit))
	}
	return v
}

// Format is a report rendering the server can answer.
type Format string

// Report renderings.
const (
	FormatJSON     Format = "json"
	FormatMarkdown Format = "md"
)

// ListRuns asks GET /reports/runs for the runs matching q, newest first.
func (c *Client) ListRuns(ctx context.Context, q runindex.Query) (*runindex.Page, error) {
	body, err := c.getAll(ctx, c.endpoint(q.Values(), false, "reports", "runs"), "application/json")
	if err != nil {
		return nil, err
	}
	var page runindex.Page
	if err := json.Unmarshal(body.data, &page); err != nil {
		return nil, fmt.Errorf("decode run list from %s: %w", body.url, err)
	}
	return &page, nil
}

// Report asks GET /reports/runs/{run_id} for the run's report.
func (c *Client) Report(ctx context.Context, runID string, page TimelinePage) (*report.Report, error) {
	body, err := c.report(ctx, runID, FormatJSON, page)
	if err != nil {
		return nil, err
	}
	var rep report.Report
	if err := json.Unmarshal(body.data, &rep); err != nil {
		return nil, fmt.Errorf("decode report from %s: %w", body.url, err)
	}
	return &rep, nil
}

// RawReport returns the run's report as the server renders it in format,
// for printing verbatim.
func (c *Client) RawReport(ctx context.Context, runID string, format Format, page TimelinePage) ([]byte, error) {
	body, err := c.report(ctx, runID, format, page)
	if err != nil {
		return nil, err
	}
	return body.data, nil
}

func (c *Client) report(ctx context.Context, runID string, format Format, page TimelinePage) (*answer, error) {
	accept, err := accepts(format, "report")
	if err != nil {
		return nil, err
	}
	if err := checkRunID(runID); err != nil {
		return nil, err
	}
	q := page.values()
	q.Set("format", string(format))
	return c.getAll(ctx, c.endpoint(q, true, "reports", "runs", runID), accept)
}

// Ledger streams GET /reports/runs/{run_id}/ledger: the run's complete
// ledger lines as NDJSON. The caller closes the reader; reading more than
// MaxLedgerBytes fails with ErrResponseTooLarge.
func (c *Client) Ledger(ctx context.Context, runID string) (io.ReadCloser, error) {
	if err := checkRunID(runID); err != nil {
		return nil, err
	}
	ctx, cancel := c.withTimeout(ctx)
	resp, target, err := c.get(ctx, c.endpoint(nil, true, "reports", "runs", runID, "ledger"), "application/x-ndjson")
	if err != nil {
		cancel()
		return nil, err
	}
	return &boundedBody{body: resp.Body, left: c.maxLedger, limit: c.maxLedger, url: target, cancel: cancel}, nil
}

// accepts returns the Accept header of a rendering in format of what (a
// report, insights, a diff).
func accepts(format Format, what string) (string, error) {
	switch format {
	case FormatJSON:
		return "application/json", nil
	case FormatMarkdown:
		return "text/markdown", nil
	}
	return "", fmt.Errorf("%s format %q must be %q or %q", what, format, FormatJSON, FormatMarkdown)
}

func checkRunID(id string) error {
	if id == "" {
		return errors.New("run id is empty")
	}
	return nil
}

// route is a request URL; run tells whether a 404 there means the run is
// unknown.
type route struct {
	u   url.URL
	run bool
}

func (c *Client) endpoint(q url.Values, run bool, segs ...string) route {
	u := *c.base
	p, rp := u.Path, u.EscapedPath()
	for _, s := range segs {
		p += "/" + s
		rp += "/" + escapeSegment(s)
	}
	u.Path, u.RawPath = p, rp
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return route{u: u, run: run}
}

// escapeSegment escapes s as one path segment. url.PathEscape leaves "."
// and ".." alone, which clients and proxies resolve as relative segments.
func escapeSegment(s string) string {
	if s == "." || s == ".." {
		return strings.Repeat("%2E", len(s))
	}
	return url.PathEscape(s)
}

func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout < 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}

// answer is a 2xx body read whole.
type answer struct {
	data []byte
	url  string
}

// getAll performs a GET and reads the whole 2xx body, at most maxBody bytes.
func (c *Client) getAll(ctx context.Context, ep route, accept string) (*answer, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, target, err := c.get(ctx, ep, accept)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read answer of GET %s: %w", target, err)
	}
	if int64(len(data)) > c.maxBody {
		return nil, fmt.Errorf("GET %s: answer over %d bytes: %w", target, c.maxBody, ErrResponseTooLarge)
	}
	return &answer{data: data, url: target}, nil
}

// get performs a GET and returns the response of a 2xx answer with its body
// open, and the redacted URL for messages; any other answer is a
// *StatusError.
func (c *Client) get(ctx context.Context, ep route, accept string) (*http.Response, string, error) {
	target := ep.u.Redacted()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.u.String(), nil)
	if err != nil {
		return nil, target, fmt.Errorf("GET %s: %w", target, err)
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// *url.Error already names the method and URL.
		return nil, target, fmt.Errorf("ask reportapi: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, target, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return nil, target, &StatusError{Method: http.MethodGet, URL: target, StatusCode: resp.StatusCode,
		Status: resp.Status, Message: serverMessage(body), TokenSent: c.token != "", runRoute: ep.run}
}

// StatusError is a non-2xx answer from the server.
type StatusError struct {
	// Method and URL name the request (the URL without user info).
	Method, URL string
	// StatusCode and Status are the answer's ("404", "404 Not Found").
	StatusCode int
	Status     string
	// Message is the server's error message, cleaned of control characters.
	Message string
	// TokenSent tells whether the request carried a bearer token.
	TokenSent bool

	runRoute bool
}

// Error names the request, the status and the server's message, and for a
// 401 whether a token was sent.
func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", e.Method, e.URL, e.Status)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.StatusCode == http.StatusUnauthorized {
		if e.TokenSent {
			b.WriteString(" (the bearer token was rejected)")
		} else {
			b.WriteString(" (no bearer token was sent)")
		}
	}
	return b.String()
}

// Is matches ErrRunNotFound for a 404 on a run route and ErrUnauthorized
// for a 401.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrRunNotFound:
		return e.runRoute && e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	}
	return false
}

// serverMessage extracts the message of an error body: reportapi's
// {"error": ...}, a {"message": ...} of other servers, else the text.
func serverMessage(body []byte) string {
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	msg := string(body)
	if json.Unmarshal(body, &e) == nil && (e.Error != "" || e.Message != "") {
		msg = strings.TrimSpace(e.Error + " " + e.Message)
	}
	return clean(msg)
}

// clean makes a server message safe to print on a terminal: valid UTF-8,
// no control characters (escape sequences), one line, bounded.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// boundedBody is a streamed 2xx body that fails once it exceeds its bound
// and ends the request's timeout context on Close.
type boundedBody struct {
	body   io.ReadCloser
	left   int64
	limit  int64
	url    string
	cancel context.CancelFunc
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the bound from a longer one.
		var one [1]byte
		for {
			n, err := b.body.Read(one[:])
			if n > 0 {
				return 0, fmt.Errorf("GET %s: answer over %d bytes: %w", b.url, b.limit, ErrResponseTooLarge)
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.body.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *boundedBody) Close() error {
	err := b.body.Close()
	b.cancel()
	return err
}
