package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// An unfinished run that declared no stages is compared with a completed run
// of its service: the stage that came next there is the one that never
// reported here.
func TestNameUsualStage(t *testing.T) {
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	mk := func(run string, seq uint64, kind string) ledger.Line {
		return ledger.Line{V: 1, RunID: run, Seq: seq, TS: ts.Add(time.Duration(seq) * time.Second), Kind: kind, Status: "ok", Service: "retriever"}
	}
	done := filepath.Join(t.TempDir(), "r-done.jsonl")
	var buf []byte
	for i, k := range []string{"run.start", "embed.vllm", "ann.faiss.search", "ann.faiss.load", "hydrate.duckdb", "rerank.bge", "run.end"} {
		b, _ := json.Marshal(mk("r-done", uint64(i+1), k))
		buf = append(append(buf, b...), '\n')
	}
	if err := os.WriteFile(done, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	usual, err := StageOrder(done)
	if err != nil || strings.Join(usual, ",") != "embed,ann,hydrate,rerank" {
		t.Fatalf("StageOrder = %v, %v", usual, err)
	}

	late := Options{Now: func() time.Time { return ts.Add(time.Hour) }}
	r := Build([]ledger.Line{mk("r", 1, "run.start"), mk("r", 2, "embed.vllm"), mk("r", 3, "ann.faiss.search")}, late)
	if !r.NeedsUsualStages() {
		t.Fatalf("stalled run without declared stages: NeedsUsualStages false (%+v)", r.StopReason)
	}
	r.NameUsualStage(usual, "r-done")
	if sr := r.StopReason; sr.Stage != "hydrate" || sr.UsualFrom != "r-done" || sr.AfterKind != "ann.faiss.search" {
		t.Fatalf("stop reason %+v", sr)
	}
	if md := r.Markdown(); !strings.Contains(md, "stalled after `ann.faiss.search`; stage `hydrate` never reported (it came next in run `r-done`)") {
		t.Fatalf("Markdown:\n%s", md)
	}

	// A run that skipped a stage stalls after a later one: the stage after
	// that one is named, not the skipped one.
	r = Build([]ledger.Line{mk("r", 1, "run.start"), mk("r", 2, "embed.vllm"), mk("r", 3, "hydrate.duckdb")}, late)
	r.NameUsualStage(usual, "r-done")
	if sr := r.StopReason; sr.Stage != "rerank" {
		t.Fatalf("after a skipped stage: %+v", sr)
	}

	// Nothing in common, or nothing left: no stage is named.
	for _, kinds := range [][]string{{"run.start", "crawl.fetch"}, {"run.start", "embed.vllm", "ann.x", "hydrate.x", "rerank.x"}} {
		var lines []ledger.Line
		for i, k := range kinds {
			lines = append(lines, mk("r", uint64(i+1), k))
		}
		r = Build(lines, late)
		r.NameUsualStage(usual, "r-done")
		if sr := r.StopReason; sr.Stage != "" || sr.UsualFrom != "" {
			t.Fatalf("%v: named %+v", kinds, sr)
		}
	}

	// A completed or declared-stages run is left alone.
	r = Build([]ledger.Line{mk("r", 1, "run.start"), mk("r", 2, "embed.vllm"), mk("r", 3, "run.end")}, late)
	if r.NeedsUsualStages() {
		t.Fatalf("completed run needs usual stages: %+v", r.StopReason)
	}
}
