package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
)

// producerBin returns the path in env var name or skips the test.
func producerBin(t *testing.T, name string) string {
	t.Helper()
	binaries(t)
	p := os.Getenv(name)
	if p == "" {
		t.Skipf("%s not set: run the end-to-end suite with `make test`", name)
	}
	return p
}

// startDemoWorker runs the demo retrieval worker against c in the given mode.
func startDemoWorker(t *testing.T, c *collector, mode string) string {
	t.Helper()
	bin := producerBin(t, "RUNLEDGER_DEMO")
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--listen", addr, "--mode", mode, "--latency", "1ms")
	cmd.Env = append(os.Environ(),
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+c.otlpHTTP,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_SERVICE_NAME=demo-worker",
		// Export at once so reports are complete without waiting for the
		// batch span processor's schedule.
		"OTEL_BSP_SCHEDULE_DELAY=50", "OTEL_BLRP_SCHEDULE_DELAY=50")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("demo-worker output:\n%s", logs.String())
		}
	})
	waitFor(t, 20*time.Second, "demo worker listening", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	return addr
}

// The demo worker, instrumented with the pipeline SDK, produces every stop
// reason, in both emission modes, and the report names it.
func TestDemoWorkerRunsAreReportedWithTheirStopReason(t *testing.T) {
	c := startCollector(t, "")
	cases := []struct {
		fail, category, kind, code string
	}{
		{"", "completed", "", ""},
		{"ann.faiss.search:index_not_found", "error", "ann.faiss.search", "index_not_found"},
		{"embed.vllm:timeout", "timeout", "embed.vllm", "timeout"},
		{"hydrate.duckdb:missing_table", "error", "hydrate.duckdb", "missing_table"},
		{"client:cancelled", "cancelled", "", ""},
	}
	for _, mode := range []string{"span-events", "log-events"} {
		worker := startDemoWorker(t, c, mode)
		for _, tc := range cases {
			name := tc.fail
			if name == "" {
				name = "ok"
			}
			t.Run(mode+"/"+strings.ReplaceAll(name, ":", "_"), func(t *testing.T) {
				body := `{"query":"faiss ivf"}`
				if tc.fail != "" {
					body = `{"query":"faiss ivf","fail":"` + tc.fail + `"}`
				}
				resp, err := http.Post("http://"+worker+"/search", "application/json", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				runID := resp.Header.Get("X-Run-Id")
				if runID == "" {
					t.Fatalf("no X-Run-Id in the response (HTTP %d)", resp.StatusCode)
				}
				var rep runReport
				waitFor(t, 15*time.Second, "a finished report of run "+runID, func() bool {
					status, b := c.get("/admin/index/observability/run/" + runID + "/report")
					if status != http.StatusOK {
						return false
					}
					rep.StopReason.Category = ""
					_ = json.Unmarshal(b, &rep)
					return rep.StopReason.Category == tc.category
				})
				// The SDK's error handler emits "<stage kind>.error" for the
				// failing stage; the retrieval.error wrapper must not win.
				if tc.kind != "" && (rep.StopReason.Kind != tc.kind+".error" || rep.StopReason.ErrorCode != tc.code || rep.StopReason.Remediation == "") {
					t.Errorf("stop_reason %+v, want kind %s.error code %s with a remediation", rep.StopReason, tc.kind, tc.code)
				}
			})
		}
	}
}

// The load generator sends mixed span and log step events with run.id only
// on root spans (sent after their children); every acknowledged step event
// lands in its run's ledger, resolved to the right run.
func TestLoadGeneratorEveryAckedEventLands(t *testing.T) {
	bin := producerBin(t, "RUNLEDGER_LOAD")
	c := startCollector(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--target", c.otlpGRPC, "--count", "300", "--concurrency", "4",
		"--signal", "mixed", "--root-only-run-id", "--noise", "0.2", "--fail", "0.2",
		"--run-id-prefix", "e2eload", "--json").Output()
	if err != nil {
		t.Fatalf("runledger-load: %v\n%s", err, out)
	}
	var res struct {
		Runs       int64 `json:"runs"`
		StepEvents struct {
			Acked int64 `json:"acked"`
		} `json:"step_events"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.StepEvents.Acked == 0 {
		t.Fatalf("load result: %v\n%s", err, out)
	}
	count := func() (lines int64, runs int, fallback int) {
		for _, f := range c.ledgerFiles() {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(fh)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			first := true
			for sc.Scan() {
				if isSpanRecord(sc.Text()) {
					continue
				}
				var l struct {
					RunID string `json:"run_id"`
				}
				if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
					t.Fatalf("%s: invalid line %q", f, sc.Text())
				}
				if first {
					first = false
					if strings.HasPrefix(l.RunID, "e2eload-") {
						runs++
					} else {
						fallback++
					}
				}
				lines++
			}
			fh.Close()
		}
		return
	}
	var lines int64
	var runs, fallback int
	waitFor(t, 20*time.Second, "every acknowledged step event in the ledgers", func() bool {
		lines, runs, fallback = count()
		return lines >= res.StepEvents.Acked
	})
	if lines != res.StepEvents.Acked || runs != int(res.Runs) || fallback != 0 {
		t.Errorf("ledgers hold %d lines in %d runs (+%d fallback runs); load acked %d step events in %d runs",
			lines, runs, fallback, res.StepEvents.Acked, res.Runs)
	}

	// The report index lists every run with all its events, and lists them
	// the same once the finished ones were kept cold (unchanged for 2 s).
	type entry struct {
		RunID      string `json:"run_id"`
		Status     string `json:"status"`
		StartedAt  string `json:"started_at"`
		EndedAt    string `json:"ended_at"`
		EventCount int    `json:"event_count"`
		Path       string `json:"path"`
	}
	listAll := func() (all []entry, events int) {
		cursor := ""
		for {
			status, body := c.get("/reports/runs?limit=7&cursor=" + url.QueryEscape(cursor))
			var page struct {
				Runs       []entry `json:"runs"`
				NextCursor string  `json:"next_cursor"`
			}
			if status != http.StatusOK || json.Unmarshal(body, &page) != nil {
				t.Fatalf("GET /reports/runs: HTTP %d %s", status, body)
			}
			for _, e := range page.Runs {
				events += e.EventCount
			}
			all = append(all, page.Runs...)
			if cursor = page.NextCursor; cursor == "" {
				return all, events
			}
		}
	}
	var live []entry
	waitFor(t, 10*time.Second, "every run and event in the report index", func() bool {
		var events int
		live, events = listAll()
		return len(live) == int(res.Runs) && int64(events) == res.StepEvents.Acked
	})
	time.Sleep(4 * time.Second)
	if cold, _ := listAll(); !reflect.DeepEqual(cold, live) {
		t.Errorf("listing changed once the runs went cold:\n%v\nwas\n%v", cold, live)
	}
}
