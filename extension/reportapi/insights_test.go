package reportapi

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestInsightsRoute(t *testing.T) {
	s := startServer(t, nil, nil)
	now := time.Now().UTC()
	s.writeRun(t, "r-ins-1", now.Add(-time.Minute), failedRun...)
	s.writeRun(t, "r-ins-2", now.Add(-2*time.Minute), failedRun...)
	var body string
	waitFor(t, 5*time.Second, func() bool {
		r := get(t, s.base+"/reports/insights?since=1h")
		body = string(r.body)
		return r.code == http.StatusOK && strings.Contains(body, `"runs": 2`)
	})
	if !strings.Contains(body, `"error_code": "deadline_exceeded"`) {
		t.Fatalf("insights: %s", body)
	}
	if r := get(t, s.base+"/reports/insights?since=1h&format=md"); r.code != 200 || !strings.Contains(string(r.body), "## Top causes") {
		t.Fatalf("markdown: %d %s", r.code, r.body)
	}
	for _, q := range []string{"since=soon", "until=xx", "since=1h&until=2h", "format=xml", "sinse=1h"} {
		wantJSONError(t, get(t, s.base+"/reports/insights?"+q), http.StatusBadRequest)
	}
}

func TestDiffRoute(t *testing.T) {
	s := startServer(t, nil, nil)
	now := time.Now().UTC()
	s.writeRun(t, "r-d1", now.Add(-time.Minute), failedRun...)
	s.writeRun(t, "r-d2", now.Add(-2*time.Minute), step{"run.start", "ok", "", ""}, step{"embed.vllm", "ok", "", ""}, step{"run.end", "ok", "", ""})
	r := get(t, s.base+"/reports/diff?a=r-d1&b=r-d2")
	if r.code != 200 || !strings.Contains(string(r.body), `"first_divergence": {`) || !strings.Contains(string(r.body), `"kind": "embed.vllm"`) {
		t.Fatalf("diff: %d %s", r.code, r.body)
	}
	waitFor(t, 5*time.Second, func() bool { return get(t, s.base+"/reports/diff?a=r-d1&baseline=auto").code == http.StatusOK })
	if r := get(t, s.base+"/reports/diff?a=r-d1&b=nope"); r.code != http.StatusNotFound {
		t.Fatalf("unknown run: %d %s", r.code, r.body)
	}
	for _, q := range []string{"", "a=r-d1", "a=r-d1&b=r-d2&baseline=auto", "a=r-d1&baseline=sometimes", "a=r-d1&b=r-d2&format=xml"} {
		wantJSONError(t, get(t, s.base+"/reports/diff?"+q), http.StatusBadRequest)
	}
}
