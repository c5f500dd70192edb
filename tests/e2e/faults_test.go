package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// With the persistent queue, a full disk under the ledger directory is
// reported, the collector keeps running and, once space returns, every
// queued event is written, once, into a valid ledger.
func TestDiskFullRecoversWithoutLoss(t *testing.T) {
	c := startCollector(t, filepath.Join(repoRoot(t), "testdata/config-persistent-queue.yaml"))
	if err := os.MkdirAll(c.ledgerDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", c.ledgerDir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here (needs root): %v %s", err, out)
	}
	// Unmount after the collector has stopped (cleanups run last-in first-out).
	t.Cleanup(func() { _ = exec.Command("umount", "-l", c.ledgerDir).Run() })
	t.Cleanup(c.stop)

	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	const run, n = "e2e-disk-full", 40
	detail := strings.Repeat("x", 4000) // 40 x 4 KB does not fit in 64 KB
	for i := 0; i < n; i++ {
		td := traces("svc", span{name: "s", traceID: traceID(70), spanID: spanID(byte(i)), runID: run, steps: []step{
			{kind: "fill.disk", at: t0.Add(time.Duration(i) * time.Millisecond), detail: detail, attrs: map[string]any{"n": int64(i)}},
		}})
		if code := c.sendTraces(td); code != http.StatusOK {
			t.Fatalf("request %d: HTTP %d (the persistent queue should accept it)", i, code)
		}
	}
	waitFor(t, 20*time.Second, "the collector to report the full disk", func() bool {
		return strings.Contains(c.logs.String(), "no space left on device")
	})
	if !c.alive() {
		t.Fatal("collector died on a full disk")
	}
	if resp, err := http.Get("http://" + c.health + "/status"); err != nil || resp.StatusCode >= 500 {
		t.Fatalf("health check while the disk is full: %v", err)
	}
	if out, err := exec.Command("mount", "-o", "remount,size=16m", c.ledgerDir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	path := filepath.Join(c.ledgerDir, t0.Format("2006-01-02"), run+".jsonl")
	waitFor(t, 90*time.Second, "every queued event after space returned", func() bool {
		_, err := os.Stat(path)
		return err == nil && len(readLines(t, path)) >= n
	})
	lines := readLines(t, path)
	parsed := parseLines(t, lines)
	assertSeqs(t, parsed)
	if len(lines) != n {
		t.Fatalf("%d lines after recovery, want %d", len(lines), n)
	}
}

// Report API under concurrent load while ingesting: no 5xx, and once the
// load stops every report agrees with its ledger.
func TestReportAPIUnderIngestLoad(t *testing.T) {
	bin := producerBin(t, "RUNLEDGER_LOAD")
	c := startCollector(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	loadDone := make(chan error, 1)
	go func() {
		out, err := exec.CommandContext(ctx, bin, "--target", c.otlpGRPC, "--duration", "3s", "--concurrency", "2",
			"--rate", "200", "--fail", "0.3", "--run-id-prefix", "conc", "--json").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%v: %s", err, out)
		}
		loadDone <- err
	}()

	var requests, failures atomic.Int64
	var failMu sync.Mutex
	var firstFailure string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				status, body := c.get("/reports/runs?limit=50")
				requests.Add(1)
				var page struct {
					Runs []struct {
						RunID string `json:"run_id"`
					} `json:"runs"`
				}
				if status != http.StatusOK || json.Unmarshal(body, &page) != nil {
					failures.Add(1)
					continue
				}
				if len(page.Runs) == 0 {
					continue
				}
				id := page.Runs[rng.IntN(len(page.Runs))].RunID
				paths := []string{"/reports/runs/" + url.PathEscape(id), "/reports/runs/" + url.PathEscape(id) + "/ledger",
					"/admin/index/observability/run/" + url.PathEscape(id) + "/report?format=md"}
				status, body = c.get(paths[rng.IntN(len(paths))])
				requests.Add(1)
				if status != http.StatusOK {
					failures.Add(1)
					failMu.Lock()
					if firstFailure == "" {
						firstFailure = fmt.Sprintf("HTTP %d: %.200s", status, body)
					}
					failMu.Unlock()
				}
			}
		}(uint64(r))
	}
	if err := <-loadDone; err != nil {
		t.Fatalf("runledger-load: %v", err)
	}
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d report requests failed during ingest; first: %s", failures.Load(), requests.Load(), firstFailure)
	}
	t.Logf("%d report requests during ingest, none failed", requests.Load())

	// Consistency: each run's report counts exactly its ledger's lines.
	for _, f := range c.ledgerFiles() {
		lines := readLines(t, f)
		var first ledgerLine
		if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
			t.Fatal(err)
		}
		status, body := c.get("/reports/runs/" + url.PathEscape(first.RunID))
		var rep runReport
		if status != http.StatusOK || json.Unmarshal(body, &rep) != nil || rep.EventCount != len(lines) {
			t.Errorf("run %s: report HTTP %d event_count %d, ledger has %d lines", first.RunID, status, rep.EventCount, len(lines))
		}
	}
}
