package report

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

func TestChain(t *testing.T) {
	dir := t.TempDir()
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	write := func(id, prev, end string) {
		var attrs map[string]any
		if prev != "" {
			attrs = map[string]any{"previous_run": prev}
		}
		b := append(ledger.Encode(&ledger.Line{V: 1, RunID: id, Seq: 1, TS: ts, Kind: "run.start", Status: "ok", Attrs: attrs}), '\n')
		b = append(append(b, ledger.Encode(&ledger.Line{V: 1, RunID: id, Seq: 2, TS: ts.Add(time.Second), Kind: "run.end", Status: end})...), '\n')
		if err := os.WriteFile(filepath.Join(dir, id+".jsonl"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("s-1", "", "ok")
	write("s-2", "s-1", "failed")
	write("s-3", "s-2", "ok")
	write("loop-a", "loop-b", "ok")
	write("loop-b", "loop-a", "ok")
	locate := func(id string) (string, error) {
		p := filepath.Join(dir, id+".jsonl")
		if _, err := os.Stat(p); err != nil {
			return "", nil
		}
		return p, nil
	}
	c, err := Chain("s-3", locate, Options{})
	if err != nil || len(c) != 3 || c[0].RunID != "s-3" || c[1].Status != StatusFailed || c[2].RunID != "s-1" || c[2].PreviousRun != "" {
		t.Fatalf("chain %+v %v", c, err)
	}
	if c, err := Chain("loop-a", locate, Options{}); err != nil || len(c) != 2 {
		t.Fatalf("cycle: %+v %v", c, err)
	}
	if _, err := Chain("nope", locate, Options{}); err == nil {
		t.Fatal("unknown run gave a chain")
	}
}
