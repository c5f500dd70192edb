package reportapi

import (
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/runledger/runledger/internal/report"
)

// doHost sends a request with the given Host header.
func (s *server) port(t *testing.T) string {
	t.Helper()
	_, p, err := net.SplitHostPort(s.ext.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHostCheck(t *testing.T) {
	s := startServer(t, nil, nil) // 127.0.0.1:0, a loopback endpoint
	s.writeRun(t, "r-1", t0, failedRun...)
	p := s.port(t)
	for _, h := range []string{"127.0.0.1:" + p, "localhost:" + p, "LOCALHOST:" + p, "[::1]:" + p, "localhost", "127.0.0.1", "localhost.:" + p} {
		if r := doHost(t, http.MethodGet, s.base+"/reports/runs/r-1", h, nil); r.code != 200 {
			t.Errorf("Host %q: %d %s", h, r.code, r.body)
		}
	}
	for _, h := range []string{"evil.example.com", "evil.example.com:" + p, "localhost:1", "127.0.0.1:1", "10.0.0.1:" + p,
		"localhost.evil.example.com:" + p, "user@localhost:" + p} {
		wantJSONError(t, doHost(t, http.MethodGet, s.base+"/reports/runs/r-1", h, nil), 403)
		wantJSONError(t, doHost(t, http.MethodGet, s.base+"/nothing", h, nil), 403)
		wantJSONError(t, doHost(t, http.MethodPost, s.base+"/reports/runs/r-1/save", h, jsonPost), 403)
	}
	if ents, _ := os.ReadDir(s.reports); len(ents) != 0 {
		t.Fatal("a request with a foreign Host saved a report")
	}

	a := startServer(t, nil, func(c *Config) {
		c.AllowedHosts = []string{"Reports.Example.com", "ops.example.com:8443", "[fd00::1]", "10.1.2.3"}
	})
	a.writeRun(t, "r-1", t0, failedRun...)
	p = a.port(t)
	for _, h := range []string{"reports.example.com", "reports.example.com:9999", "ops.example.com:8443", "[fd00::1]:80", "10.1.2.3", "localhost:" + p} {
		if r := doHost(t, http.MethodGet, a.base+"/reports/runs/r-1", h, nil); r.code != 200 {
			t.Errorf("allowed_hosts, Host %q: %d %s", h, r.code, r.body)
		}
	}
	for _, h := range []string{"ops.example.com", "ops.example.com:443", "evil.example.com", "sub.reports.example.com"} {
		wantJSONError(t, doHost(t, http.MethodGet, a.base+"/reports/runs/r-1", h, nil), 403)
	}

	any := startServer(t, nil, func(c *Config) { c.AllowedHosts = []string{"*"} })
	any.writeRun(t, "r-1", t0, failedRun...)
	if r := doHost(t, http.MethodGet, any.base+"/reports/runs/r-1", "evil.example.com", nil); r.code != 200 {
		t.Errorf("allowed_hosts [*]: %d %s", r.code, r.body)
	}
}

func TestHostPolicy(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4zero, Port: 4320}
	for _, c := range []struct {
		endpoint string
		allowed  []string
		host     string
		want     bool
	}{
		{"0.0.0.0:4320", nil, "evil.example.com", true},
		{":4320", nil, "anything:1", true},
		{"[::]:4320", nil, "evil.example.com", true},
		{"0.0.0.0:4320", []string{"reports.lan"}, "evil.example.com", false},
		{"0.0.0.0:4320", []string{"reports.lan"}, "reports.lan:4320", true},
		{"0.0.0.0:4320", []string{"reports.lan"}, "localhost:4320", true},
		{"0.0.0.0:4320", []string{"reports.lan"}, "localhost:9", false},
		{"myhost.lan:4320", nil, "myhost.lan:4320", true},
		{"myhost.lan:4320", nil, "MyHost.lan", true},
		{"myhost.lan:4320", nil, "localhost:4320", false},
		{"myhost.lan:4320", nil, "myhost.lan:80", false},
		{"10.0.0.5:4320", nil, "10.0.0.5:4320", true},
		{"10.0.0.5:4320", nil, "10.0.0.6:4320", false},
		{"localhost:4320", nil, "127.0.0.1:4320", true},
		{"[::1]:4320", nil, "localhost:4320", true},
		{"localhost:4320", nil, "", false},
		{"localhost:4320", nil, "::1", false}, // IPv6 needs brackets in Host
		{"localhost:4320", []string{"::1"}, "[::1]", true},
	} {
		p, err := newHostPolicy(c.endpoint, addr, c.allowed)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.allow(c.host); got != c.want {
			t.Errorf("endpoint %q allowed %v Host %q: %v, want %v", c.endpoint, c.allowed, c.host, got, c.want)
		}
	}
}

func TestPostNeedsNonSimpleRequest(t *testing.T) {
	s := startServer(t, nil, nil)
	s.writeRun(t, "r-1", t0, failedRun...)
	u := s.base + "/reports/runs/r-1/save"
	for _, h := range []http.Header{
		nil,
		{"Content-Type": {"text/plain"}},
		{"Content-Type": {"text/plain;charset=UTF-8"}, "Origin": {"https://evil.example.com"}},
		{"Content-Type": {"application/x-www-form-urlencoded"}},
		{"Content-Type": {"multipart/form-data; boundary=x"}},
		{"Content-Type": {"application/jsonx"}},
	} {
		r := do(t, http.MethodPost, u, h)
		wantJSONError(t, r, 403)
		if !strings.Contains(string(r.body), HeaderRequest) {
			t.Errorf("error does not say what is needed: %s", r.body)
		}
	}
	if ents, _ := os.ReadDir(s.reports); len(ents) != 0 {
		t.Fatal("a simple cross-origin POST saved a report")
	}
	for _, h := range []http.Header{
		{"Content-Type": {"application/json"}},
		{"Content-Type": {"application/json; charset=utf-8"}},
		{HeaderRequest: {"1"}},
		{HeaderRequest: {"1"}, "Content-Type": {"text/plain"}},
	} {
		if r := do(t, http.MethodPost, u, h); r.code != 200 {
			t.Errorf("POST with %v: %d %s", h, r.code, r.body)
		}
	}
	// GET routes need nothing.
	if r := get(t, s.base+"/reports/runs/r-1"); r.code != 200 {
		t.Errorf("GET: %d", r.code)
	}
}

func TestTimelineLimitCap(t *testing.T) {
	s := startServer(t, nil, nil)
	s.writeRun(t, "r-1", t0, failedRun...)
	rep := decode[report.Report](t, get(t, s.base+"/reports/runs/r-1?limit=10000"))
	if rep.Timeline.Limit != MaxTimelineLimit || len(rep.Timeline.Events) != 4 {
		t.Fatalf("limit=%d: timeline %+v", MaxTimelineLimit, rep.Timeline)
	}
	for _, q := range []string{"?limit=10001", "?limit=10000000", "?offset=10000001", "?limit=99999999999999999999"} {
		wantJSONError(t, get(t, s.base+"/reports/runs/r-1"+q), 400)
		wantJSONError(t, do(t, http.MethodPost, s.base+"/reports/runs/r-1/save"+q, jsonPost), 400)
	}
}

func TestConcurrentReportLimit(t *testing.T) {
	s := startServer(t, nil, func(c *Config) { c.MaxConcurrentReports = 2 })
	s.writeRun(t, "r-1", t0, failedRun...)
	if cap(s.ext.builds) != 2 {
		t.Fatalf("semaphore size %d", cap(s.ext.builds))
	}
	// Hold every build token, as two slow builds would.
	for range cap(s.ext.builds) {
		if !s.ext.acquireBuild() {
			t.Fatal("semaphore already full")
		}
	}
	for _, r := range []response{
		get(t, s.base+"/reports/runs/r-1"),
		get(t, s.base+"/admin/index/observability/run/r-1/report?format=md"),
		do(t, http.MethodGet, s.base+"/admin/index/observability/run/report", http.Header{HeaderRunID: {"r-1"}}),
		do(t, http.MethodPost, s.base+"/reports/runs/r-1/save", jsonPost),
	} {
		wantJSONError(t, r, 503)
		if r.header.Get("Retry-After") != "1" {
			t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
		}
	}
	if ents, _ := os.ReadDir(s.reports); len(ents) != 0 {
		t.Fatal("save wrote files past the limit")
	}
	// Routes that build no report are not limited.
	if r := get(t, s.base+"/reports/runs/r-1/ledger"); r.code != 200 {
		t.Errorf("ledger while full: %d", r.code)
	}
	if r := get(t, s.base+"/reports/runs"); r.code != 200 {
		t.Errorf("list while full: %d", r.code)
	}
	s.ext.releaseBuild()
	for range 3 { // one free token, released after each build
		if r := get(t, s.base+"/reports/runs/r-1"); r.code != 200 {
			t.Fatalf("after release: %d %s", r.code, r.body)
		}
	}
	s.ext.releaseBuild()
	if len(s.ext.builds) != 0 {
		t.Fatalf("%d tokens leaked", len(s.ext.builds))
	}
}
