package reportapi

import (
	"net/http"
	"strings"
	"testing"
)

// Issue 21: a misspelt or unsupported query parameter is a 400 that names
// it, not a silently ignored filter.
func TestUnknownQueryParameters(t *testing.T) {
	s := startServer(t, nil, nil)
	s.writeRun(t, "r-1", t0, failedRun...)
	cases := []struct {
		method, path, want string
	}{
		{http.MethodGet, "/reports/runs?stauts=failed", `unknown query parameter "stauts"; this route takes status, service`},
		{http.MethodGet, "/reports/runs?status=failed&foo=1&bar=2", `unknown query parameter "bar", "foo"`},
		{http.MethodGet, "/reports/runs/r-1?ofset=10", `unknown query parameter "ofset"; this route takes offset, limit, format`},
		{http.MethodGet, "/admin/index/observability/run/r-1/report?fmt=md", `unknown query parameter "fmt"`},
		{http.MethodGet, "/reports/runs/r-1/ledger?offset=3", `unknown query parameter "offset"; this route takes none`},
		// A query string that does not parse is refused before any
		// handler reads it (they read what knownParams parsed).
		{http.MethodGet, "/reports/runs?status=%zz", `malformed query string`},
		{http.MethodGet, "/reports/runs/r-1?limit=%zz", `malformed query string`},
		{http.MethodGet, "/reports/insights?since=%zz", `malformed query string`},
		{http.MethodGet, "/reports/diff?a=%zz", `malformed query string`},
	}
	for _, c := range cases {
		r := do(t, c.method, s.base+c.path, nil)
		if msg := decode[struct{ Error string }](t, r).Error; r.code != http.StatusBadRequest || !strings.Contains(msg, c.want) {
			t.Errorf("%s %s: %d %s, want 400 with %q", c.method, c.path, r.code, r.body, c.want)
		}
	}
	// Known parameters still work.
	for _, p := range []string{"/reports/runs?status=failed&limit=5", "/reports/runs/r-1?offset=0&limit=10&format=md", "/reports/runs/r-1/ledger"} {
		if r := get(t, s.base+p); r.code != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, r.code, r.body)
		}
	}
}
