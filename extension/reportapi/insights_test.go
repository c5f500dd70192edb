package reportapi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
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

func TestChainRoute(t *testing.T) {
	s := startServer(t, nil, nil)
	s.writeRun(t, "c-1", t0, step{"run.start", "ok", "", ""}, step{"run.end", "failed", "", ""})
	lines := encodeLines(t, "c-2", 1, t0.Add(time.Minute), step{"run.start", "ok", "", ""}, step{"run.end", "ok", "", ""})
	lines = []byte(strings.Replace(string(lines), `"kind":"run.start","status":"ok"`, `"kind":"run.start","status":"ok","attrs":{"previous_run":"c-1"}`, 1))
	appendTo(t, ledger.RunPath(s.dir, t0.Add(time.Minute), "c-2"), lines)
	r := get(t, s.base+"/reports/runs/c-2/chain")
	if r.code != 200 || !strings.Contains(string(r.body), `"run_id": "c-1"`) || !strings.Contains(string(r.body), `"previous_run": "c-1"`) {
		t.Fatalf("chain: %d %s", r.code, r.body)
	}
	if r := get(t, s.base+"/reports/runs/nope/chain"); r.code != http.StatusNotFound {
		t.Fatalf("unknown: %d", r.code)
	}
}
