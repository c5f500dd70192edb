package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Step events acknowledged before their run id arrived survive a kill -9
// (and a SIGTERM) of the collector in the hold log: after the restart each
// lands in its own run's ledger once the root span with the run id comes,
// exactly once, seq 1..n without gaps, and no fallback ledger is made.
func TestLateRunIDsSurviveCrashAndRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		halt func(*collector)
	}{
		{"kill_9", (*collector).kill},
		{"sigterm", (*collector).stop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCollector(t, "")
			const runs, perChild = 12, 3
			at := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
			tid := func(r int) pcommon.TraceID {
				return pcommon.TraceID{0xee, byte(r), 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 1}
			}
			runID := func(r int) string { return fmt.Sprintf("late-%s-%02d", tc.name, r) }
			// Children first, without a run id, as SDK batching sends them.
			for r := 0; r < runs; r++ {
				var steps []step
				for i := 0; i < perChild; i++ {
					steps = append(steps, step{kind: "stage.work", at: at.Add(time.Duration(r*10+i) * time.Millisecond),
						attrs: map[string]any{"n": int64(i)}})
				}
				if code := c.sendTraces(traces("svc", span{name: "child", traceID: tid(r), spanID: spanID(2), parent: spanID(1), steps: steps})); code != http.StatusOK {
					t.Fatalf("child of run %d: status %d", r, code)
				}
			}
			// Half the roots arrive before the collector goes down.
			root := func(r int) {
				t.Helper()
				if code := c.sendTraces(traces("svc", span{name: "root", traceID: tid(r), spanID: spanID(1), runID: runID(r)})); code != http.StatusOK {
					t.Fatalf("root of run %d: status %d", r, code)
				}
			}
			for r := 0; r < runs/2; r++ {
				root(r)
			}
			tc.halt(c)
			segs, _ := filepath.Glob(filepath.Join(c.dir, "data", "telemetry", "hold", "*.hold"))
			if len(segs) == 0 {
				t.Fatal("no hold segment on disk while run ids were still missing")
			}
			bin, _ := binaries(t)
			c.start(bin, filepath.Join(repoRoot(t), "config.yaml"))
			for r := runs / 2; r < runs; r++ {
				root(r)
			}

			check := func() (string, bool) {
				got := map[string][]int{}
				for _, f := range c.ledgerFiles() {
					if strings.HasPrefix(filepath.Base(f), "trace-") {
						return "fallback ledger " + f, false
					}
					for i, l := range readLines(t, f) {
						var line struct {
							RunID string `json:"run_id"`
							Seq   int    `json:"seq"`
						}
						if err := json.Unmarshal([]byte(l), &line); err != nil {
							t.Fatalf("%s line %d is torn: %q", f, i+1, l)
						}
						got[line.RunID] = append(got[line.RunID], line.Seq)
					}
				}
				for r := 0; r < runs; r++ {
					seqs := got[runID(r)]
					if len(seqs) > perChild {
						t.Fatalf("run %s has %d lines, want %d: %v", runID(r), len(seqs), perChild, seqs)
					}
					if len(seqs) < perChild {
						return fmt.Sprintf("run %s has %d of %d lines", runID(r), len(seqs), perChild), false
					}
					for i, s := range seqs {
						if s != i+1 {
							t.Fatalf("run %s seqs %v, want 1..%d", runID(r), seqs, perChild)
						}
					}
				}
				return "", true
			}
			var why string
			waitFor(t, 20*time.Second, "every held event in its own run's ledger", func() bool {
				var ok bool
				why, ok = check()
				return ok
			})
			_ = why
			c.stop()
			segs, _ = filepath.Glob(filepath.Join(c.dir, "data", "telemetry", "hold", "*.hold"))
			if len(segs) != 0 {
				t.Fatalf("hold segments left after every run id arrived: %v", segs)
			}
		})
	}
}
