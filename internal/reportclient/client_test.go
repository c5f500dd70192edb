package reportclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/runindex"
)

// seen is what the fake server recorded of one request.
type seen struct {
	route, runID, auth, accept, userAgent string
	query                                 map[string][]string
}

// fakeAPI mimics the reportapi routes with Go's ServeMux, as the extension
// does: run "r-ok" exists, "r-broken" answers 500, any other run 404.
type fakeAPI struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

const ledgerBody = `{"v":1,"run_id":"r-ok","seq":1,"kind":"run.start","status":"ok"}
{"v":1,"run_id":"r-ok","seq":2,"kind":"run.end","status":"ok"}
`

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	writeJSON := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	record := func(route string, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.reqs = append(f.reqs, seen{route: route, runID: r.PathValue("run_id"), auth: r.Header.Get("Authorization"),
			accept: r.Header.Get("Accept"), userAgent: r.Header.Get("User-Agent"), query: r.URL.Query()})
	}
	// run answers the errors of the run routes and reports whether id exists.
	run := func(w http.ResponseWriter, id string) bool {
		switch {
		case id == "r-broken":
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "cannot read the run's ledger"})
		case id != "r-ok" && !strings.HasPrefix(id, "hostile"):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "run \"" + id + "\" not found"})
		default:
			return true
		}
		return false
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /reports/runs", func(w http.ResponseWriter, r *http.Request) {
		record("list", r)
		if r.URL.Query().Get("status") == "boom" {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "index broke"})
			return
		}
		writeJSON(w, http.StatusOK, runindex.Page{Matched: 1, Runs: []runindex.Entry{{RunID: "r-ok", Status: report.StatusCompleted}}})
	})
	mux.HandleFunc("GET /reports/runs/{run_id}", func(w http.ResponseWriter, r *http.Request) {
		record("report", r)
		if !run(w, r.PathValue("run_id")) {
			return
		}
		if r.URL.Query().Get("format") == "md" {
			w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
			io.WriteString(w, "# Run r-ok: completed\n")
			return
		}
		writeJSON(w, http.StatusOK, report.Report{RunID: r.PathValue("run_id"), Status: report.StatusCompleted, EventCount: 2})
	})
	mux.HandleFunc("GET /reports/runs/{run_id}/ledger", func(w http.ResponseWriter, r *http.Request) {
		record("ledger", r)
		if run(w, r.PathValue("run_id")) {
			w.Header().Set("Content-Type", "application/x-ndjson")
			io.WriteString(w, ledgerBody)
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		record("other", r)
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such route: " + r.URL.Path})
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// last returns the last request the server saw.
func (f *fakeAPI) last(t *testing.T) seen {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("the server saw no request")
	}
	return f.reqs[len(f.reqs)-1]
}

func newClient(t *testing.T, server string, opts Options) *Client {
	t.Helper()
	c, err := New(server, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantStatusError checks err is the server's answer with the URL path, the
// status and the server's message in its text.
func wantStatusError(t *testing.T, err error, code int, path, msg string) *StatusError {
	t.Helper()
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != code {
		t.Fatalf("want a %d StatusError, got %v", code, err)
	}
	for _, s := range []string{path, http.StatusText(code), msg} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
	return se
}

func TestListRuns(t *testing.T) {
	f := newFakeAPI(t)
	ctx := context.Background()
	c := newClient(t, f.URL, Options{Token: "tok", UserAgent: "runledger-test"})
	page, err := c.ListRuns(ctx, runindex.Query{Statuses: []string{"failed"}, Limit: 7})
	if err != nil {
		t.Fatal(err)
	}
	if page.Matched != 1 || len(page.Runs) != 1 || page.Runs[0].RunID != "r-ok" {
		t.Fatalf("page %+v", page)
	}
	r := f.last(t)
	if r.route != "list" || r.auth != "Bearer tok" || r.userAgent != "runledger-test" || r.accept != "application/json" ||
		r.query["status"][0] != "failed" || r.query["limit"][0] != "7" {
		t.Fatalf("request %+v", r)
	}

	_, err = c.ListRuns(ctx, runindex.Query{Statuses: []string{"boom"}})
	wantStatusError(t, err, 500, "/reports/runs?status=boom", "index broke")

	// A 404 on the listing is a wrong server or mount point, not a missing run.
	c = newClient(t, f.URL+"/not-reportapi/", Options{})
	_, err = c.ListRuns(ctx, runindex.Query{})
	wantStatusError(t, err, 404, "/not-reportapi/reports/runs", "no such route")
	if errors.Is(err, ErrRunNotFound) {
		t.Fatalf("listing 404 is ErrRunNotFound: %v", err)
	}
	if r := f.last(t); r.auth != "" || r.userAgent != DefaultUserAgent {
		t.Fatalf("without a token: %+v", r)
	}
}

func TestReport(t *testing.T) {
	f := newFakeAPI(t)
	ctx := context.Background()
	c := newClient(t, f.URL, Options{Token: "tok"})
	rep, err := c.Report(ctx, "r-ok", TimelinePage{Offset: 5, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if rep.RunID != "r-ok" || rep.Status != report.StatusCompleted || rep.EventCount != 2 {
		t.Fatalf("report %+v", rep)
	}
	r := f.last(t)
	if r.route != "report" || r.auth != "Bearer tok" || r.accept != "application/json" ||
		r.query["offset"][0] != "5" || r.query["limit"][0] != "10" || r.query["format"][0] != "json" {
		t.Fatalf("request %+v", r)
	}

	_, err = c.Report(ctx, "r-missing", TimelinePage{})
	wantStatusError(t, err, 404, f.URL+"/reports/runs/r-missing", `run "r-missing" not found`)
	if !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("404 is not ErrRunNotFound: %v", err)
	}

	_, err = c.Report(ctx, "r-broken", TimelinePage{})
	wantStatusError(t, err, 500, "/reports/runs/r-broken", "cannot read the run's ledger")
	if errors.Is(err, ErrRunNotFound) {
		t.Fatalf("500 is ErrRunNotFound: %v", err)
	}
	if _, err := c.Report(ctx, "", TimelinePage{}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty run id: %v", err)
	}
}

func TestRawReport(t *testing.T) {
	f := newFakeAPI(t)
	ctx := context.Background()
	c := newClient(t, f.URL, Options{Token: "tok"})
	md, err := c.RawReport(ctx, "r-ok", FormatMarkdown, TimelinePage{})
	if err != nil {
		t.Fatal(err)
	}
	if string(md) != "# Run r-ok: completed\n" {
		t.Fatalf("markdown %q", md)
	}
	if r := f.last(t); r.accept != "text/markdown" || r.query["format"][0] != "md" || r.auth != "Bearer tok" {
		t.Fatalf("request %+v", r)
	}
	js, err := c.RawReport(ctx, "r-ok", FormatJSON, TimelinePage{})
	var rep report.Report
	if err != nil || json.Unmarshal(js, &rep) != nil || rep.RunID != "r-ok" {
		t.Fatalf("json %v %s", err, js)
	}
	_, err = c.RawReport(ctx, "r-missing", FormatMarkdown, TimelinePage{})
	if !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("missing run: %v", err)
	}
	_, err = c.RawReport(ctx, "r-broken", FormatMarkdown, TimelinePage{})
	wantStatusError(t, err, 500, "/reports/runs/r-broken", "cannot read the run's ledger")
	if _, err := c.RawReport(ctx, "r-ok", "xml", TimelinePage{}); err == nil {
		t.Fatal("format xml accepted")
	}
}

func TestLedger(t *testing.T) {
	f := newFakeAPI(t)
	ctx := context.Background()
	c := newClient(t, f.URL, Options{Token: "tok"})
	body, err := c.Ledger(ctx, "r-ok")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		var l struct{ Kind string }
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, l.Kind)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	body.Close()
	if strings.Join(kinds, ",") != "run.start,run.end" {
		t.Fatalf("kinds %v", kinds)
	}
	if r := f.last(t); r.route != "ledger" || r.runID != "r-ok" || r.auth != "Bearer tok" || r.accept != "application/x-ndjson" {
		t.Fatalf("request %+v", r)
	}

	_, err = c.Ledger(ctx, "r-missing")
	wantStatusError(t, err, 404, "/reports/runs/r-missing/ledger", "not found")
	if !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("404 is not ErrRunNotFound: %v", err)
	}
	_, err = c.Ledger(ctx, "r-broken")
	wantStatusError(t, err, 500, "/reports/runs/r-broken/ledger", "cannot read the run's ledger")
}

// TestBoundedAnswers: answers over the bound fail instead of filling memory;
// an answer of exactly the bound is read.
func TestBoundedAnswers(t *testing.T) {
	f := newFakeAPI(t)
	ctx := context.Background()
	n := int64(len(ledgerBody))

	c := newClient(t, f.URL, Options{MaxLedgerBytes: n})
	body, err := c.Ledger(ctx, "r-ok")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(body); err != nil || string(b) != ledgerBody {
		t.Fatalf("ledger of exactly the bound: %v %q", err, b)
	}
	body.Close()

	c = newClient(t, f.URL, Options{MaxLedgerBytes: n - 1, MaxResponseBytes: 10})
	body, err = c.Ledger(ctx, "r-ok")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(body); !errors.Is(err, ErrResponseTooLarge) || !strings.Contains(err.Error(), "/reports/runs/r-ok/ledger") {
		t.Fatalf("ledger over the bound: %v", err)
	}
	body.Close()
	if _, err := c.Report(ctx, "r-ok", TimelinePage{}); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("report over the bound: %v", err)
	}
	if _, err := c.ListRuns(ctx, runindex.Query{}); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("listing over the bound: %v", err)
	}
}

// TestRunIDEscaping: every run id reaches the server as one path segment of
// the run route, whatever slashes, dots or query characters it holds.
func TestRunIDEscaping(t *testing.T) {
	f := newFakeAPI(t)
	ctx := context.Background()
	// Under a mount point, so an escape would also have to climb out of it.
	proxy := httptest.NewServer(http.StripPrefix("/rl", f.Config.Handler))
	t.Cleanup(proxy.Close)
	for _, server := range []string{f.URL, proxy.URL + "/rl/"} {
		c := newClient(t, server, Options{})
		for _, id := range []string{"hostile/../../etc/passwd", "hostile..", "hostile/..", "hostile?format=md#x",
			"hostile%2F..%2Fadmin", "hostile run/ü", "hostile\\..\\x"} {
			if _, err := c.Report(ctx, id, TimelinePage{}); err != nil {
				t.Fatalf("%s: report %q: %v", server, id, err)
			}
			if r := f.last(t); r.route != "report" || r.runID != id || r.query["format"][0] != "json" {
				t.Fatalf("%s: report %q reached %+v", server, id, r)
			}
			body, err := c.Ledger(ctx, id)
			if err != nil {
				t.Fatalf("%s: ledger %q: %v", server, id, err)
			}
			body.Close()
			if r := f.last(t); r.route != "ledger" || r.runID != id {
				t.Fatalf("%s: ledger %q reached %+v", server, id, r)
			}
		}
		// "." and ".." alone are run ids too, not relative segments.
		for _, id := range []string{"..", ".", "../../etc/passwd"} {
			_, err := c.Report(ctx, id, TimelinePage{})
			if !errors.Is(err, ErrRunNotFound) {
				t.Fatalf("%s: report %q: %v", server, id, err)
			}
			if r := f.last(t); r.route != "report" || r.runID != id {
				t.Fatalf("%s: report %q reached %+v", server, id, r)
			}
		}
	}
}

func TestUnauthorized(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer right" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "Unauthorized\n")
			return
		}
		json.NewEncoder(w).Encode(runindex.Page{Matched: 0})
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	if _, err := newClient(t, srv.URL, Options{Token: "right"}).ListRuns(ctx, runindex.Query{}); err != nil {
		t.Fatal(err)
	}
	_, err := newClient(t, srv.URL, Options{}).ListRuns(ctx, runindex.Query{})
	se := wantStatusError(t, err, 401, srv.URL+"/reports/runs", "no bearer token was sent")
	if !errors.Is(err, ErrUnauthorized) || se.TokenSent || se.Message != "Unauthorized" {
		t.Fatalf("no token: %#v", se)
	}
	_, err = newClient(t, srv.URL, Options{Token: "wrong"}).Report(ctx, "r-ok", TimelinePage{})
	wantStatusError(t, err, 401, "/reports/runs/r-ok", "the bearer token was rejected")
	if !errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrRunNotFound) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong token: %v", err)
	}
}

// TestServerMessageCleaned: a server cannot put terminal escapes or pages of
// HTML into the message a user reads.
func TestServerMessageCleaned(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "bad \x1b[2J\x1b]0;owned\x07gateway\r\n"+strings.Repeat("x", 50<<10))
	}))
	t.Cleanup(srv.Close)
	_, err := newClient(t, srv.URL, Options{}).ListRuns(context.Background(), runindex.Query{})
	se := wantStatusError(t, err, 502, "/reports/runs", "bad [2J ]0;owned gateway x")
	if strings.ContainsAny(err.Error(), "\x1b\x07\r\n") || len(se.Message) > 1100 {
		t.Fatalf("message not cleaned (%d bytes): %q", len(se.Message), se.Message[:80])
	}
}

func TestNew(t *testing.T) {
	for _, bad := range []string{"", "  ", "ftp://x", "http://", "http://[::1"} {
		if _, err := New(bad, Options{}); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	for in, want := range map[string]string{
		"localhost:4320":                  "http://localhost:4320",
		"https://h.example/rl/":           "https://h.example/rl",
		"http://u:pw@h:1/?q=1#frag":       "http://u:xxxxx@h:1",
		" http://127.0.0.1:4320 ":         "http://127.0.0.1:4320",
		"http://h:1/mount%20point/":       "http://h:1/mount%20point",
		"http://h:1/reportapi///":         "http://h:1/reportapi",
		"https://collector.internal:4320": "https://collector.internal:4320",
	} {
		c, err := New(in, Options{})
		if err != nil || c.BaseURL() != want {
			t.Errorf("New(%q): %v, base %q, want %q", in, err, c.BaseURL(), want)
		}
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	defer close(release)
	start := time.Now()
	_, err := newClient(t, srv.URL, Options{Timeout: 100 * time.Millisecond}).ListRuns(context.Background(), runindex.Query{})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "/reports/runs") {
		t.Fatalf("timeout: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}
