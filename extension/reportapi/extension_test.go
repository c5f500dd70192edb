package reportapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/runledger/runledger/extension/reportapi/internal/metadata"
	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/runindex"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

type server struct {
	base    string
	dir     string
	reports string
	ext     *reportAPI
}

func startServer(t *testing.T, host component.Host, mutate func(*Config)) *server {
	t.Helper()
	root := t.TempDir()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Directory = filepath.Join(root, "runs")
	cfg.ReportsDir = filepath.Join(root, "reports")
	cfg.IndexRefresh = 50 * time.Millisecond
	if mutate != nil {
		mutate(cfg)
	}
	if host == nil {
		host = componenttest.NewNopHost()
	}
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.Start(context.Background(), host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ext.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	ra := ext.(*reportAPI)
	return &server{base: "http://" + ra.addr.String(), dir: cfg.Directory, reports: cfg.ReportsDir, ext: ra}
}

type step struct {
	kind, status, code, detail string
}

func encodeLines(t testing.TB, run string, firstSeq int, at time.Time, steps ...step) []byte {
	t.Helper()
	var out []byte
	for i, s := range steps {
		d := 10.0
		b, err := json.Marshal(ledger.Line{V: 1, RunID: run, Seq: uint64(firstSeq + i), TS: at.Add(time.Duration(firstSeq+i) * time.Millisecond),
			Kind: s.kind, Status: s.status, ErrorCode: s.code, Detail: s.detail, DurationMS: &d,
			Resources: map[string]string{"model": "bge"}, Service: "retriever"})
		if err != nil {
			t.Fatal(err)
		}
		out = append(append(out, b...), '\n')
	}
	return out
}

func appendTo(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
}

// writeRun writes a run's ledger and returns its path.
func (s *server) writeRun(t testing.TB, run string, at time.Time, steps ...step) string {
	t.Helper()
	p := ledger.RunPath(s.dir, at, run)
	appendTo(t, p, encodeLines(t, run, 1, at, steps...))
	return p
}

var failedRun = []step{
	{"run.start", "ok", "", ""},
	{"embed.vllm", "failed", "deadline_exceeded", "context deadline exceeded"},
	{"retrieval.error", "failed", "timeout", "retrieval failed"},
	{"run.end", "failed", "", ""},
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func do(t testing.TB, method, rawURL string, header http.Header) response {
	t.Helper()
	return doHost(t, method, rawURL, "", header)
}

// doHost is do with the request's Host header set to host ("" keeps the
// URL's).
func doHost(t testing.TB, method, rawURL, host string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

func get(t testing.TB, rawURL string) response { return do(t, http.MethodGet, rawURL, nil) }

// jsonPost is the header of a POST a browser would preflight.
var jsonPost = http.Header{"Content-Type": {contentJSON}}

func decode[T any](t testing.TB, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

func wantJSONError(t *testing.T, r response, codes ...int) {
	t.Helper()
	ok := false
	for _, c := range codes {
		ok = ok || r.code == c
	}
	if !ok {
		t.Errorf("status %d, want one of %v; body %s", r.code, codes, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != contentJSON {
		t.Errorf("content type %q, want JSON", ct)
	}
	var e struct{ Error string }
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
		t.Errorf("error body %q is not {\"error\": ...}", r.body)
	}
}

func TestReportRoutes(t *testing.T) {
	s := startServer(t, nil, nil)
	s.writeRun(t, "r-1", t0, failedRun...)

	for _, u := range []string{
		s.base + "/admin/index/observability/run/r-1/report",
		s.base + "/reports/runs/r-1",
	} {
		r := get(t, u)
		if r.code != 200 || r.header.Get("Content-Type") != contentJSON {
			t.Fatalf("%s: %d %s %s", u, r.code, r.header.Get("Content-Type"), r.body)
		}
		rep := decode[report.Report](t, r)
		sr := rep.StopReason
		if rep.RunID != "r-1" || rep.Status != "failed" || sr.Category != "timeout" || sr.Stage != "embed" ||
			sr.Kind != "embed.vllm" || sr.Remediation == "" || rep.EventCount != 4 {
			t.Fatalf("%s: report %+v", u, rep)
		}
	}
	// Header-addressed route.
	r := do(t, http.MethodGet, s.base+"/admin/index/observability/run/report", http.Header{"X-Run-Id": {"r-1"}})
	if r.code != 200 || decode[report.Report](t, r).RunID != "r-1" {
		t.Fatalf("X-Run-Id: %d %s", r.code, r.body)
	}
	wantJSONError(t, get(t, s.base+"/admin/index/observability/run/report"), 400)

	// Content negotiation.
	for _, c := range []struct {
		query  string
		accept string
		md     bool
	}{
		{"", "text/markdown", true},
		{"", "application/json", false},
		{"", "text/markdown;q=0.5, application/json", false},
		{"", "application/json;q=0.2, text/markdown", true},
		{"", "*/*", false},
		{"?format=md", "", true},
		{"?format=markdown", "application/json", true},
		{"?format=json", "text/markdown", false},
	} {
		h := http.Header{}
		if c.accept != "" {
			h.Set("Accept", c.accept)
		}
		r := do(t, http.MethodGet, s.base+"/admin/index/observability/run/r-1/report"+c.query, h)
		isMD := strings.HasPrefix(r.header.Get("Content-Type"), "text/markdown")
		if r.code != 200 || isMD != c.md {
			t.Errorf("query %q accept %q: %d %s", c.query, c.accept, r.code, r.header.Get("Content-Type"))
		}
		if isMD && (!bytes.HasPrefix(r.body, []byte("# Run r-1: failed")) || !bytes.Contains(r.body, []byte("**Remediation:**"))) {
			t.Errorf("markdown body: %s", r.body)
		}
	}
	wantJSONError(t, get(t, s.base+"/reports/runs/r-1?format=xml"), 400)

	// Timeline paging.
	rep := decode[report.Report](t, get(t, s.base+"/reports/runs/r-1?offset=1&limit=2"))
	if len(rep.Timeline.Events) != 2 || rep.Timeline.Events[0].Seq != 2 || rep.Timeline.NextOffset == nil || *rep.Timeline.NextOffset != 3 {
		t.Fatalf("timeline page %+v", rep.Timeline)
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?offset=-1", "?limit=100000"} {
		wantJSONError(t, get(t, s.base+"/reports/runs/r-1"+q), 400)
	}

	// Unknown run, unknown route, wrong method.
	wantJSONError(t, get(t, s.base+"/reports/runs/nope"), 404)
	wantJSONError(t, get(t, s.base+"/admin/index/observability/run/nope/report"), 404)
	wantJSONError(t, get(t, s.base+"/reports/runs/nope/ledger"), 404)
	wantJSONError(t, do(t, http.MethodPost, s.base+"/reports/runs/nope/save", jsonPost), 404)
	wantJSONError(t, get(t, s.base+"/nothing/here"), 404)
	wantJSONError(t, get(t, s.base+"/reports/runs/"), 404)
	r = get(t, s.base+"/reports/runs/r-1/save")
	wantJSONError(t, r, 405)
	if r.header.Get("Allow") != "POST" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
	wantJSONError(t, do(t, http.MethodDelete, s.base+"/reports/runs/r-1", nil), 405)
}

func TestRunWithoutEventsYet(t *testing.T) {
	s := startServer(t, nil, nil)
	appendTo(t, ledger.RunPath(s.dir, t0, "r-empty"), []byte(`{"v":1,"run_id":"r-empty","se`))
	wantJSONError(t, get(t, s.base+"/reports/runs/r-empty"), 404)
	r := get(t, s.base+"/reports/runs/r-empty/ledger")
	if r.code != 200 || len(r.body) != 0 {
		t.Fatalf("ledger of a run without complete lines: %d %q", r.code, r.body)
	}
}

func TestLedgerRoute(t *testing.T) {
	s := startServer(t, nil, nil)
	p := s.writeRun(t, "r-1", t0, failedRun...)
	want, _ := os.ReadFile(p)
	appendTo(t, p, []byte("not json\n"))
	appendTo(t, p, []byte(`{"v":1,"run_id":"r-1","seq":5,`)) // a line being written
	r := get(t, s.base+"/reports/runs/r-1/ledger")
	if r.code != 200 || r.header.Get("Content-Type") != contentNDJSON || !bytes.Equal(r.body, want) {
		t.Fatalf("ledger: %d %s\n%s\nwant\n%s", r.code, r.header.Get("Content-Type"), r.body, want)
	}
}

func TestSaveRoute(t *testing.T) {
	s := startServer(t, nil, nil)
	s.writeRun(t, "r-1", t0, failedRun...)
	s.writeRun(t, "team/run 7", t0, failedRun[:2]...)

	r := do(t, http.MethodPost, s.base+"/reports/runs/r-1/save", jsonPost)
	if r.code != 200 {
		t.Fatalf("save: %d %s", r.code, r.body)
	}
	res := decode[report.SaveResult](t, r)
	// File names relative to reports_dir: the response reveals no absolute path.
	if res.JSON != "r-1.json" || res.Markdown != "r-1.md" || res.Status != "failed" {
		t.Fatalf("save result %+v", res)
	}
	if bytes.Contains(r.body, []byte(s.reports)) || bytes.Contains(r.body, []byte(filepath.Dir(s.dir))) {
		t.Fatalf("save response reveals a server path: %s", r.body)
	}
	js, err := os.ReadFile(filepath.Join(s.reports, res.JSON))
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(js, &rep); err != nil || rep.StopReason.Stage != "embed" {
		t.Fatalf("saved json: %v %+v", err, rep.StopReason)
	}
	md, err := os.ReadFile(filepath.Join(s.reports, res.Markdown))
	if err != nil || !bytes.HasPrefix(md, []byte("# Run r-1: failed")) {
		t.Fatalf("saved md: %v %s", err, md)
	}

	// An id that is not a file name is saved under its escaped name, inside
	// the reports folder.
	r = do(t, http.MethodPost, s.base+"/reports/runs/"+url.PathEscape("team/run 7")+"/save", http.Header{HeaderRequest: {"1"}})
	if r.code != 200 {
		t.Fatalf("save escaped: %d %s", r.code, r.body)
	}
	res = decode[report.SaveResult](t, r)
	if res.JSON != filepath.Base(res.JSON) || !strings.HasPrefix(res.JSON, "_team_run_7~") {
		t.Fatalf("escaped save %+v", res)
	}
	ents, _ := os.ReadDir(s.reports)
	if len(ents) != 4 {
		t.Fatalf("reports folder has %d files, want 4", len(ents))
	}
}

func TestHostileRunIDs(t *testing.T) {
	s := startServer(t, nil, nil)
	root := filepath.Dir(s.dir)
	// A file a traversal would reach.
	secret := filepath.Join(root, "secret.jsonl")
	if err := os.WriteFile(secret, encodeLines(t, "secret", 1, t0, failedRun...), 0o644); err != nil {
		t.Fatal(err)
	}
	s.writeRun(t, "r-1", t0, failedRun...)
	long := strings.Repeat("a", 5000)
	paths := []string{
		"/reports/runs/..%2F..%2Fsecret",
		"/reports/runs/..%2F..%2Fsecret/ledger",
		"/reports/runs/%2e%2e%2f%2e%2e%2fsecret",
		"/reports/runs/%2E%2E",
		"/reports/runs/..",
		"/reports/runs/../../secret",
		"/reports/runs/r-1/../../../secret",
		"/reports/runs/.%2F..%2Fsecret/ledger",
		"/reports/runs/%FF%FE",
		"/reports/runs/%C0%AE%C0%AE",
		"/reports/runs/a%00b",
		"/reports/runs/a%0Ab",
		"/reports/runs/" + long,
		"/reports/runs/" + long + "/ledger",
		"/reports/runs/%2Fetc%2Fpasswd",
		"/reports/runs/CON",
		"/reports/runs/r-1%2F..%2F..%2Fsecret",
		"/admin/index/observability/run/..%2F..%2F..%2Fsecret/report",
		"/admin/index/observability/run/%FF/report",
		"/admin/index/observability/run/" + long + "/report",
		"//reports/runs/r-1",
		"/reports/runs/r-1/ledger/..",
	}
	for _, p := range paths {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			u := s.base + p
			if method == http.MethodPost {
				u = s.base + strings.TrimSuffix(p, "/ledger") + "/save"
			}
			req, err := http.NewRequest(method, s.base, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", contentJSON)
			// Send the path exactly as written.
			req.URL.Opaque = strings.TrimPrefix(u, "http:")
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, u, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r := response{code: resp.StatusCode, header: resp.Header, body: b}
			t.Run(method+" "+p[:min(len(p), 60)], func(t *testing.T) {
				var e errorBody
				_ = json.Unmarshal(r.body, &e)
				t.Logf("%d %.100s", r.code, e.Error)
				wantJSONError(t, r, 400, 404, 405)
			})
		}
	}
	for _, h := range []string{"../../secret", "..%2F..%2Fsecret", "\xff\xfe", long, "/etc/passwd"} {
		r := do(t, http.MethodGet, s.base+"/admin/index/observability/run/report", http.Header{"X-Run-Id": {h}})
		wantJSONError(t, r, 400, 404)
	}
	// Nothing was written anywhere but the reports folder.
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if p != secret && !strings.HasPrefix(p, s.dir+string(filepath.Separator)) && !strings.HasPrefix(p, s.reports+string(filepath.Separator)) {
			return fmt.Errorf("unexpected file %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(s.reports); len(ents) != 0 {
		t.Fatalf("hostile ids wrote %d report files", len(ents))
	}
}

func TestListRoute(t *testing.T) {
	s := startServer(t, nil, func(c *Config) { c.StallAfter = time.Hour })
	for i := range 12 {
		steps := []step{{"run.start", "ok", "", ""}, {"git.blame", "ok", "", ""}, {"run.end", "ok", "", ""}}
		if i%3 == 0 {
			steps = failedRun
		}
		s.writeRun(t, fmt.Sprintf("run-%02d", i), t0.Add(time.Duration(i)*time.Hour), steps...)
	}
	waitFor(t, 2*time.Second, func() bool { return s.ext.index.Len() == 12 })

	var ids []string
	next := s.base + "/reports/runs?limit=5"
	for next != "" {
		r := get(t, next)
		if r.code != 200 {
			t.Fatalf("list: %d %s", r.code, r.body)
		}
		page := decode[runindex.Page](t, r)
		if page.Matched != 12 {
			t.Fatalf("matched %d", page.Matched)
		}
		for _, e := range page.Runs {
			ids = append(ids, e.RunID)
		}
		next = ""
		if page.NextCursor != "" {
			next = s.base + "/reports/runs?limit=5&cursor=" + url.QueryEscape(page.NextCursor)
		}
	}
	if len(ids) != 12 || ids[0] != "run-11" || ids[11] != "run-00" {
		t.Fatalf("listing order %v", ids)
	}
	check := func(q string, want int) {
		t.Helper()
		page := decode[runindex.Page](t, get(t, s.base+"/reports/runs?"+q))
		if len(page.Runs) != want {
			t.Errorf("%s: %d runs, want %d", q, len(page.Runs), want)
		}
	}
	check("status=failed", 4)
	check("status=completed&kind=git", 8)
	check("service=retriever&kind=embed.vllm", 4)
	check("service=nobody", 0)
	check("since="+url.QueryEscape(t0.Add(6*time.Hour).Format(time.RFC3339)), 6)
	check("until="+url.QueryEscape(t0.Add(6*time.Hour).Format(time.RFC3339))+"&status=failed", 2)
	// Why a run stopped (issue 21): the failed runs time out in embed.
	check("stop=timeout", 4)
	check("stop=error,completed", 8)
	check("error_code=Deadline-Exceeded", 4)
	check("error_code=timeout", 0) // the wrapper's code, not the root cause's
	// The error taxonomy (issue 20): an embedding deadline is a dependency's.
	check("error_category=dependency", 4)
	check("error_category=config,user", 0)
	page := decode[runindex.Page](t, get(t, s.base+"/reports/runs?stop=timeout&limit=1"))
	if e := page.Runs[0]; e.RunID != "run-09" || e.StopCategory != "timeout" || e.StopStage != "embed" || e.StopErrorCode != "deadline_exceeded" {
		t.Errorf("stop of %+v", e)
	}
	for _, q := range []string{"stop=failed", "error_category=network", "status=bogus", "limit=0", "limit=5000", "since=yesterday", "cursor=%%%", "kind=%5B"} {
		wantJSONError(t, get(t, s.base+"/reports/runs?"+q), 400)
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testAuth is a bearer-token server authenticator, like bearertokenauth.
type testAuth struct {
	component.StartFunc
	component.ShutdownFunc
	token string
}

var _ extensionauth.Server = testAuth{}

func (a testAuth) Authenticate(ctx context.Context, headers map[string][]string) (context.Context, error) {
	for k, v := range headers {
		if strings.EqualFold(k, "Authorization") && len(v) > 0 && v[0] == "Bearer "+a.token {
			return ctx, nil
		}
	}
	return ctx, errors.New("missing or invalid bearer token")
}

type authHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h authHost) GetExtensions() map[component.ID]component.Component { return h.exts }

func TestAuth(t *testing.T) {
	authID := component.MustNewID("testauth")
	host := authHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{authID: testAuth{token: "s3cret"}}}
	s := startServer(t, host, func(c *Config) {
		c.ServerConfig.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: authID}})
	})
	s.writeRun(t, "r-1", t0, failedRun...)
	for _, u := range []string{"/reports/runs/r-1", "/reports/runs", "/reports/runs/r-1/ledger", "/nothing"} {
		wantJSONError(t, get(t, s.base+u), 401)
		wantJSONError(t, do(t, http.MethodGet, s.base+u, http.Header{"Authorization": {"Bearer wrong"}}), 401)
	}
	wantJSONError(t, do(t, http.MethodPost, s.base+"/reports/runs/r-1/save", nil), 401)
	if ents, _ := os.ReadDir(s.reports); len(ents) != 0 {
		t.Fatal("unauthenticated save wrote files")
	}
	ok := http.Header{"Authorization": {"Bearer s3cret"}}
	if r := do(t, http.MethodGet, s.base+"/reports/runs/r-1", ok); r.code != 200 {
		t.Fatalf("authenticated: %d %s", r.code, r.body)
	}
	ok.Set("Content-Type", contentJSON)
	if r := do(t, http.MethodPost, s.base+"/reports/runs/r-1/save", ok); r.code != 200 {
		t.Fatalf("authenticated save: %d %s", r.code, r.body)
	}

	// Without an auth extension in the host, a configured authenticator is a
	// start error, not an open server.
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.ServerConfig.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: authID}})
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.Start(context.Background(), componenttest.NewNopHost()); err == nil {
		t.Fatal("started without the authenticator")
	}
	_ = ext.Shutdown(context.Background())
}

// TestConcurrentReadersWhileWriting serves reports, ledgers and listings
// while another goroutine appends to the run's ledger the way the exporter
// does (whole lines, sometimes in two writes), and checks that a new event
// shows up in the report and in the listing within 1 s with the default
// index_refresh.
func TestConcurrentReadersWhileWriting(t *testing.T) {
	s := startServer(t, nil, func(c *Config) { c.IndexRefresh = DefaultIndexRefresh })
	p := s.writeRun(t, "live", t0, step{"run.start", "ok", "", ""})
	waitFor(t, 2*time.Second, func() bool { _, ok := s.ext.index.Get("live"); return ok })

	var written atomic.Int64
	written.Store(1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		for i := 2; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			line := encodeLines(t, "live", i, t0, step{"embed.vllm", "ok", "", ""})
			if i%5 == 0 { // a line written in two parts: readers must not see the half
				_, _ = f.Write(line[:len(line)/2])
				time.Sleep(time.Millisecond)
				_, _ = f.Write(line[len(line)/2:])
			} else {
				_, _ = f.Write(line)
			}
			written.Store(int64(i))
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var readers sync.WaitGroup
	for g := range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			last := 0
			for i := range 25 {
				switch (g + i) % 3 {
				case 0:
					r := get(t, s.base+"/reports/runs/live")
					rep := decode[report.Report](t, r)
					if r.code != 200 || rep.EventCount < last || rep.SkippedLines != 0 {
						t.Errorf("report %d events=%d (previous %d) skipped=%d", r.code, rep.EventCount, last, rep.SkippedLines)
					}
					last = rep.EventCount
				case 1:
					r := get(t, s.base+"/reports/runs/live/ledger")
					sc := bufio.NewScanner(bytes.NewReader(r.body))
					sc.Buffer(nil, 1<<20)
					for sc.Scan() {
						if !json.Valid(sc.Bytes()) {
							t.Errorf("ledger route returned a partial line %q", sc.Bytes())
						}
					}
				default:
					r := get(t, s.base+"/reports/runs?kind=embed")
					if r.code != 200 {
						t.Errorf("list %d", r.code)
					}
				}
			}
		}()
	}
	readers.Wait()
	close(stop)
	wg.Wait()

	// A new event is visible at once in the report and within 1 s in the index.
	n := int(written.Load())
	appendTo(t, p, encodeLines(t, "live", n+1, t0, step{"run.end", "ok", "", ""}))
	start := time.Now()
	rep := decode[report.Report](t, get(t, s.base+"/reports/runs/live"))
	if rep.EventCount != n+1 || rep.Status != "completed" {
		t.Fatalf("report after append: %d events (want %d), status %s", rep.EventCount, n+1, rep.Status)
	}
	waitFor(t, time.Second, func() bool {
		page := decode[runindex.Page](t, get(t, s.base+"/reports/runs?status=completed"))
		return len(page.Runs) == 1 && page.Runs[0].EventCount == n+1
	})
	t.Logf("index caught up %s after the append", time.Since(start))
}
