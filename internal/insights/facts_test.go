package insights

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// The runs of one directory split over two nodes: insights computed on
// node A with node B's facts (through JSON, as peers exchange them) equal
// the insights of the whole directory.
func TestComputeWithPeersFactsIsTheWholeAnswer(t *testing.T) {
	whole, a, b := t.TempDir(), t.TempDir(), t.TempDir()
	both := func(dir, id string, at time.Time, idx string, fail bool, ms float64) {
		writeRun(t, whole, id, at, idx, fail, ms)
		writeRun(t, dir, id, at, idx, fail, ms)
	}
	for i := 0; i < 12; i++ {
		both(a, fmt.Sprintf("bad-%02d", i), now.Add(-time.Duration(i+1)*time.Minute), "v3", true, 50)
	}
	for i := 0; i < 30; i++ {
		both(b, fmt.Sprintf("good-%02d", i), now.Add(-time.Duration(i+1)*time.Minute-30*time.Second), "v2", false, 20)
	}
	for i := 0; i < 10; i++ { // the previous window, on node B only
		both(b, fmt.Sprintf("old-%02d", i), now.Add(-25*time.Hour-time.Duration(i)*time.Minute), "v2", false, 20)
	}
	want, err := NewEngine().Compute(index(t, whole), Query{}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := Query{}
	prevSince, _, until, err := q.Bounds(now)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(NewEngine().Facts(index(t, b), q, prevSince, until))
	if err != nil {
		t.Fatal(err)
	}
	var facts FactsPage
	if err := json.Unmarshal(raw, &facts); err != nil {
		t.Fatal(err)
	}
	if len(facts.Runs) != 40 || facts.Runs[0].Entry.Path != "" {
		t.Fatalf("node B's facts: %d runs, first path %q", len(facts.Runs), facts.Runs[0].Entry.Path)
	}
	got, err := NewEngine().ComputeWith(index(t, a), q, now, nil, &facts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("federated insights differ from the whole directory's:\n%s\nwant\n%s", g, w)
	}
	if len(got.Regressions) != 1 || len(got.Differences) == 0 || got.Differences[0].Value != "v3" {
		t.Fatalf("federated insights: %+v", got)
	}
}

// A run written on two nodes (its partition moved) counts once: started
// with its first part, failed as its last part ended, with both parts'
// kinds.
func TestComputeWithMergesASplitRun(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	at := now.Add(-time.Hour)
	d := 5.0
	write := func(dir string, lines ...ledger.Line) {
		var buf []byte
		for i := range lines {
			l := &lines[i]
			l.V, l.RunID, l.Service = 1, "split", "retriever"
			buf = append(append(buf, ledger.Encode(l)...), '\n')
		}
		p := ledger.RunPath(dir, lines[0].TS, "split")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(a, ledger.Line{Seq: 1, TS: at, Kind: "run.start", Status: "ok"},
		ledger.Line{Seq: 2, TS: at.Add(time.Second), Kind: "embed.vllm", Status: "ok", DurationMS: &d})
	write(b, ledger.Line{Seq: 1, TS: at.Add(2 * time.Second), Kind: "ann.faiss.search", Status: "failed", ErrorCode: "index_not_found",
		Resources: map[string]string{"index_version": "v3"}},
		ledger.Line{Seq: 2, TS: at.Add(3 * time.Second), Kind: "run.end", Status: "failed"})
	prevSince, _, until, _ := Query{}.Bounds(now)
	facts := NewEngine().Facts(index(t, b), Query{}, prevSince, until)
	in, err := NewEngine().ComputeWith(index(t, a), Query{}, now, nil, facts)
	if err != nil {
		t.Fatal(err)
	}
	if in.Runs != 1 || in.ByStatus["failed"] != 1 || len(in.TopCauses) != 1 || in.TopCauses[0].ErrorCode != "index_not_found" ||
		in.TopCauses[0].FirstSeen != at.UTC() || len(in.Stages) != 4 {
		t.Fatalf("split run: %+v", in)
	}
}
