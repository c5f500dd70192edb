package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// kill -9 of the collector while producers send: after a restart every event
// whose OTLP request was acknowledged is in exactly one ledger line, no line
// is torn and seq has no duplicates within a run.
func TestKillDashNineLosesNoAckedEvent(t *testing.T) {
	for _, tc := range []struct{ name, config string }{
		{"synchronous", ""},
		{"persistent_queue", "testdata/config-persistent-queue.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.config
			if cfg != "" {
				cfg = filepath.Join(repoRoot(t), cfg)
			}
			c := startCollector(t, cfg)
			crashWhileSending(t, c, cfg)
		})
	}
}

func crashWhileSending(t *testing.T, c *collector, cfg string) {
	const producers, eventsPerReq = 4, 5
	sendFor := 1500 * time.Millisecond
	if os.Getenv("RUNLEDGER_LONG") != "" {
		sendFor = 20 * time.Second
	}
	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	var mu sync.Mutex
	acked := map[string]bool{} // "<run>/<n>"
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for req := 0; ; req++ {
				select {
				case <-stop:
					return
				default:
				}
				run := fmt.Sprintf("crash-%d-%d", p, req%8)
				var steps []step
				for i := 0; i < eventsPerReq; i++ {
					n := req*eventsPerReq + i
					steps = append(steps, step{kind: "load.step", at: t0.Add(time.Duration(n) * time.Microsecond),
						attrs: map[string]any{"n": int64(n)}})
				}
				td := traces("load", span{name: "s", traceID: traceID(byte(100 + p)), spanID: spanID(byte(req)),
					runID: run, steps: steps})
				body, _ := ptraceotlpMarshal(td)
				resp, err := http.Post("http://"+c.otlpHTTP+"/v1/traces", "application/x-protobuf", bytesReader(body))
				if err != nil {
					continue // the collector is gone; keep trying until stopped
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					for i := 0; i < eventsPerReq; i++ {
						acked[fmt.Sprintf("%s/%d", run, req*eventsPerReq+i)] = true
					}
					mu.Unlock()
				}
			}
		}(p)
	}
	time.Sleep(sendFor)
	c.kill()
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no request was acknowledged before the kill")
	}

	// Restart on the same directories; the persistent queue replays.
	bin, _ := binaries(t)
	if cfg == "" {
		cfg = filepath.Join(repoRoot(t), "config.yaml")
	}
	c.start(bin, cfg)

	found := map[string]int{}
	check := func() (missing int) {
		clear(found)
		for _, f := range c.ledgerFiles() {
			seqs := map[int]bool{}
			for i, l := range readLines(t, f) {
				var line struct {
					RunID string `json:"run_id"`
					Seq   int    `json:"seq"`
					Attrs struct {
						N *int `json:"n"`
					} `json:"attrs"`
				}
				if err := json.Unmarshal([]byte(l), &line); err != nil || line.Attrs.N == nil {
					t.Fatalf("%s line %d is torn or invalid: %q", f, i+1, l)
				}
				if seqs[line.Seq] {
					t.Fatalf("%s: seq %d appears twice", f, line.Seq)
				}
				seqs[line.Seq] = true
				found[fmt.Sprintf("%s/%d", line.RunID, *line.Attrs.N)]++
			}
		}
		for k := range acked {
			if found[k] == 0 {
				missing++
			}
		}
		return missing
	}
	waitFor(t, 30*time.Second, "every acknowledged event in the ledgers", func() bool { return check() == 0 })
	for k, n := range found {
		if n > 1 {
			t.Errorf("event %s written %d times", k, n)
		}
	}
	t.Logf("%d acknowledged events, all present exactly once after kill -9 and restart", len(acked))
}
