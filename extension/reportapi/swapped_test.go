package reportapi

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/report"
)

// A run file swapped for a symbolic link or a FIFO after the index found
// it is answered as a missing run: neither the report nor the raw ledger
// reads through the link, and a FIFO does not hang the request.
func TestSwappedRunFileIsNotRead(t *testing.T) {
	s := startServer(t, nil, nil)
	outside := filepath.Join(t.TempDir(), "secret.jsonl")
	secret := encodeLines(t, "r-link", 1, t0, failedRun...)
	secret = append(secret, []byte("SECRET\n")...)
	if err := os.WriteFile(outside, secret, 0o644); err != nil {
		t.Fatal(err)
	}
	pLink := s.writeRun(t, "r-link", t0, failedRun...)
	pFifo := s.writeRun(t, "r-fifo", t0, failedRun...)
	waitFor(t, 5*time.Second, func() bool {
		return get(t, s.base+"/reports/runs/r-link").code == http.StatusOK &&
			get(t, s.base+"/reports/runs/r-fifo").code == http.StatusOK
	})

	if err := os.Remove(pLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, pLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(pFifo); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(pFifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, run := range []string{"r-link", "r-fifo"} {
		for _, route := range []string{"/reports/runs/" + run, "/reports/runs/" + run + "/ledger", "/admin/index/observability/run/" + run + "/report"} {
			r := get(t, s.base+route)
			if r.code != http.StatusNotFound {
				t.Errorf("GET %s = %d %s, want 404", route, r.code, r.body)
			}
			if bytes.Contains(r.body, []byte("SECRET")) {
				t.Errorf("GET %s read through the link: %s", route, r.body)
			}
		}
	}
}

// A stalled run that declared no stages names, in the report the API
// serves, the stage that came next in its service's latest completed run.
func TestReportNamesUsualNextStage(t *testing.T) {
	s := startServer(t, nil, nil)
	s.writeRun(t, "r-good", t0, step{"run.start", "ok", "", ""}, step{"embed.vllm", "ok", "", ""},
		step{"ann.faiss.search", "ok", "", ""}, step{"hydrate.duckdb", "ok", "", ""}, step{"run.end", "ok", "", ""})
	s.writeRun(t, "r-stuck", t0.Add(time.Minute), step{"run.start", "ok", "", ""}, step{"embed.vllm", "ok", "", ""},
		step{"ann.faiss.search", "ok", "", ""})
	var rep report.Report
	waitFor(t, 5*time.Second, func() bool {
		r := get(t, s.base+"/reports/runs/r-stuck")
		if r.code != http.StatusOK {
			return false
		}
		rep = decode[report.Report](t, r)
		return rep.StopReason.UsualFrom != ""
	})
	if sr := rep.StopReason; sr.Stage != "hydrate" || sr.UsualFrom != "r-good" || sr.AfterKind != "ann.faiss.search" {
		t.Fatalf("stop reason %+v", sr)
	}
}
