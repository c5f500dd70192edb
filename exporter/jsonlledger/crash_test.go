package jsonlledger

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/runledger/runledger/exporter/jsonlledger/internal/metadata"
	"github.com/runledger/runledger/internal/ledger"
)

const crashChildEnv = "JSONLLEDGER_CRASH_CHILD_DIR"

// TestCrashChild is the child side of TestCrashRecovery: it writes under
// load until it is killed and prints "ACK <event id>" for every event whose
// ConsumeTraces/ConsumeLogs returned nil.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("child process of TestCrashRecovery")
	}
	cfg := newTestCfg(t)
	cfg.Directory = dir
	cfg.RetryConfig.Enabled = false
	cfg.MaxOpenFiles = 8 // force LRU churn
	f := newFactory(nil)
	ctx := context.Background()
	set := exportertest.NewNopSettings(metadata.Type)
	te, err := f.CreateTraces(ctx, set, cfg.Config)
	if err != nil {
		t.Fatal(err)
	}
	le, err := f.CreateLogs(ctx, set, cfg.Config)
	if err != nil {
		t.Fatal(err)
	}
	host := cfg.host(t)
	if err := te.Start(ctx, host); err != nil {
		t.Fatal(err)
	}
	if err := le.Start(ctx, host); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				run := fmt.Sprintf("crash-%d", (g*7+i)%20)
				var ids []ledger.EventID
				var err error
				if i%3 == 0 {
					var steps []step
					for k := 0; k < 3; k++ {
						at := time.Unix(0, clock.Add(1)).UTC()
						steps = append(steps, step{kind: "log.k", run: run, at: at})
						ids = append(ids, ledger.NewEventID(traceA, spanB, uint64(pcommon.NewTimestampFromTime(at)), "log.k", 0))
					}
					err = le.ConsumeLogs(ctx, logsWith("", spanB, "some body text", steps...))
				} else {
					var steps []step
					for k := 0; k < 5; k++ {
						at := time.Unix(0, clock.Add(1)).UTC()
						steps = append(steps, step{kind: "span.k", run: run, at: at,
							attrs: map[string]any{"step.detail": strings.Repeat("d", 200), "step.size.hits": k}})
						ids = append(ids, ledger.NewEventID(traceA, spanA, uint64(pcommon.NewTimestampFromTime(at)), "span.k", uint32(k)))
					}
					err = te.ConsumeTraces(ctx, spanWith("", "", spanA, steps...))
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "consume: %v\n", err)
					continue
				}
				var sb strings.Builder
				for _, id := range ids {
					sb.WriteString("ACK " + id.String() + "\n")
				}
				mu.Lock()
				_, _ = os.Stdout.WriteString(sb.String())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestCrashRecovery(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := filepath.Join(t.TempDir(), "runs")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	sc := bufio.NewScanner(out)
	deadline := time.Now().Add(20 * time.Second)
	killed := false
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "ACK "); ok {
			acked[id] = true
		}
		if !killed && (len(acked) >= 3000 || time.Now().After(deadline)) {
			// Kill mid-way, under load.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("child ended by itself after %d acks", len(acked))
	}
	if len(acked) < 100 {
		t.Fatalf("only %d acked events", len(acked))
	}

	// Every complete line is whole (a torn last line may be left, not parsed).
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.jsonl"))
	if len(files) != 20 {
		t.Fatalf("%d ledger files", len(files))
	}
	for _, p := range files {
		st, err := ledger.ReadFile(p, func(*ledger.Line) error { return nil })
		if err != nil || st.Skipped != 0 {
			t.Fatalf("%s after kill: %v %+v", p, err, st)
		}
	}

	// Reopen: torn tails are cut, seq continues, acked events are there once.
	cfg := newTestCfg(t)
	cfg.Directory = dir
	cfg.RetryConfig.Enabled = false
	h := start(t, cfg, nil)
	seen := map[string]int{}
	for r := 0; r < 20; r++ {
		run := fmt.Sprintf("crash-%d", r)
		h.consumeTraces(spanWith("", "", spanA, step{kind: "after.restart", run: run, at: t0.Add(-time.Hour + time.Duration(r)*time.Millisecond)}))
		lines := h.lines(run) // checks seq 1..n: no gap, no duplicate
		if last := lines[len(lines)-1]; last.Kind != "after.restart" {
			t.Fatalf("run %s: last line %+v", run, last)
		}
		for _, l := range lines {
			seen[l.EventID]++
		}
	}
	for id := range acked {
		if seen[id] != 1 {
			t.Fatalf("acked event %s found %d times", id, seen[id])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event %s written %d times", id, n)
		}
	}
	t.Logf("%d acked events, %d lines on disk after kill and restart", len(acked), len(seen))
}
