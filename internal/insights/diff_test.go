package insights

import (
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

func lines(run string, steps ...ledger.Line) []ledger.Line {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for i := range steps {
		steps[i].V, steps[i].RunID, steps[i].Seq, steps[i].TS = 1, run, uint64(i+1), t0.Add(time.Duration(i)*time.Millisecond)
	}
	return steps
}

func TestDiff(t *testing.T) {
	d10, d40 := 10.0, 40.0
	failed := lines("r-bad",
		ledger.Line{Kind: "run.start", Status: "ok"},
		ledger.Line{Kind: "embed.vllm", Status: "ok", DurationMS: &d10, Sizes: map[string]float64{"vectors": 1}},
		ledger.Line{Kind: "ann.faiss.search", Status: "failed", ErrorCode: "index_not_found", Resources: map[string]string{"index_version": "v3"}},
		ledger.Line{Kind: "run.end", Status: "failed"})
	good := lines("r-good",
		ledger.Line{Kind: "run.start", Status: "ok"},
		ledger.Line{Kind: "embed.vllm", Status: "ok", DurationMS: &d40, Sizes: map[string]float64{"vectors": 2}},
		ledger.Line{Kind: "ann.faiss.search", Status: "ok", Resources: map[string]string{"index_version": "v2"}},
		ledger.Line{Kind: "hydrate.duckdb", Status: "ok"},
		ledger.Line{Kind: "run.end", Status: "ok"})
	d := Diff("r-bad", failed, "r-good", good)
	if fd := d.FirstDivergence; fd == nil || fd.Kind != "ann.faiss.search" || fd.SeqA != 3 || fd.SeqB != 3 || !strings.Contains(fd.Note, "failed in r-bad") {
		t.Fatalf("first divergence %+v", d.FirstDivergence)
	}
	if len(d.ResourceChanges) != 1 || d.ResourceChanges[0] != (ValueChange{Stage: "ann", Key: "index_version", A: "v3", B: "v2"}) {
		t.Fatalf("resource changes %+v", d.ResourceChanges)
	}
	if len(d.SizeChanges) != 1 || d.SizeChanges[0].A != "1" || d.SizeChanges[0].B != "2" {
		t.Fatalf("size changes %+v", d.SizeChanges)
	}
	var kinds []string
	for _, s := range d.Stages {
		kinds = append(kinds, s.Kind)
	}
	if strings.Join(kinds, ",") != "embed.vllm,ann.faiss.search,run.end,hydrate.duckdb" || d.Stages[0].DurationDeltaMS != 30 {
		t.Fatalf("stages %+v", d.Stages)
	}
	if md := d.Markdown(); !strings.Contains(md, "index_version: v3 → v2") {
		t.Fatalf("markdown:\n%s", md)
	}
	self := Diff("r-good", good, "r-good", good)
	if self.FirstDivergence != nil || len(self.Stages)+len(self.ResourceChanges)+len(self.SizeChanges) != 0 || !strings.Contains(self.Markdown(), "No differences") {
		t.Fatalf("self diff %+v", self)
	}
	// One run is a prefix of the other.
	short := Diff("r-a", good[:2], "r-good", good)
	if short.FirstDivergence == nil || short.FirstDivergence.SeqB != 3 || !strings.Contains(short.FirstDivergence.Note, "after r-a ended") {
		t.Fatalf("prefix %+v", short.FirstDivergence)
	}
}
