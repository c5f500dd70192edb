package tui

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

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/runindex"
)

// maxReportBytes bounds a report or run listing read from a server.
const maxReportBytes = 64 << 20

// HTTPSource reads runs from a reportapi server (docs/design.md §4):
// GET /reports/runs for the listing, GET /reports/runs/{id} for the report
// and GET /reports/runs/{id}/ledger for the raw lines.
type HTTPSource struct {
	base   *url.URL
	client *http.Client
}

// NewHTTPSource returns a Source for the reportapi server at rawURL
// ("localhost:4320" means "http://localhost:4320"). client may be nil.
func NewHTTPSource(rawURL string, client *http.Client) (*HTTPSource, error) {
	s := strings.TrimSpace(rawURL)
	if s == "" {
		return nil, errors.New("server URL is empty")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http(s)://host:port", rawURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	return &HTTPSource{base: u, client: client}, nil
}

// Name implements Source.
func (s *HTTPSource) Name() string { return "server " + s.base.String() }

func (s *HTTPSource) endpoint(q url.Values, segs ...string) string {
	u := *s.base
	p := u.Path
	rp := u.EscapedPath()
	for _, seg := range segs {
		p += "/" + seg
		rp += "/" + url.PathEscape(seg)
	}
	u.Path, u.RawPath = p, rp
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// get performs a GET and returns the open body of a 2xx answer.
func (s *HTTPSource) get(ctx context.Context, target, accept string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp.Body, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	msg := strings.TrimSpace(string(body))
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && (e.Error != "" || e.Message != "") {
		msg = strings.TrimSpace(e.Error + " " + e.Message)
	}
	return nil, &statusError{code: resp.StatusCode, msg: fmt.Sprintf("%s: %s (GET %s)", resp.Status, msg, target)}
}

// statusError is a non-2xx answer.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

func isNotFound(err error) bool {
	var se *statusError
	return errors.As(err, &se) && se.code == http.StatusNotFound
}

// Runs implements Source.
func (s *HTTPSource) Runs(ctx context.Context) ([]runindex.Entry, error) {
	q := url.Values{"limit": {strconv.Itoa(runindex.MaxLimit)}}
	body, err := s.get(ctx, s.endpoint(q, "reports", "runs"), "application/json")
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer body.Close()
	var page runindex.Page
	if err := json.NewDecoder(io.LimitReader(body, maxReportBytes)).Decode(&page); err != nil {
		return nil, fmt.Errorf("list runs from %s: decode: %w", s.base, err)
	}
	return page.Runs, nil
}

// Run implements Source. When the server does not serve the raw ledger,
// the lines are rebuilt from the report's timeline page.
func (s *HTTPSource) Run(ctx context.Context, runID string) (*RunData, error) {
	body, err := s.get(ctx, s.endpoint(nil, "reports", "runs", runID), "application/json")
	if isNotFound(err) {
		return nil, fmt.Errorf("run %q: %w (%v)", runID, ErrRunNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("report of run %q: %w", runID, err)
	}
	var rep report.Report
	err = json.NewDecoder(io.LimitReader(body, maxReportBytes)).Decode(&rep)
	body.Close()
	if err != nil {
		return nil, fmt.Errorf("report of run %q: decode: %w", runID, err)
	}
	data := &RunData{Report: &rep}
	lb, err := s.get(ctx, s.endpoint(nil, "reports", "runs", runID, "ledger"), "application/x-ndjson")
	if err == nil {
		_, err = ledger.Read(lb, 0, func(l *ledger.Line) error {
			if l.RunID != runID {
				return nil
			}
			if len(data.Lines) >= MaxLines {
				data.Truncated++
				return nil
			}
			data.Lines = append(data.Lines, *l)
			return nil
		})
		lb.Close()
	}
	if err != nil || len(data.Lines) == 0 && rep.EventCount > 0 {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		data.Lines, data.Truncated = linesFromTimeline(&rep), 0
		data.LinesFromTimeline = true
	}
	return data, nil
}

// linesFromTimeline turns the report's timeline page into ledger lines for
// the waterfall.
func linesFromTimeline(r *report.Report) []ledger.Line {
	out := make([]ledger.Line, 0, len(r.Timeline.Events))
	for _, e := range r.Timeline.Events {
		out = append(out, ledger.Line{
			V: ledger.Version, RunID: r.RunID, Seq: e.Seq, TS: e.TS, Kind: e.Kind, Status: e.Status,
			ErrorCode: e.ErrorCode, Detail: e.Detail, DurationMS: e.DurationMS, Sizes: e.Sizes,
			Resources: e.Resources, Attrs: e.Attrs, TraceID: e.TraceID, SpanName: e.SpanName, Service: e.Service,
		})
	}
	return out
}
