package insights

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/runindex"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// writeRun writes one run: run.start, embed, ann (failing with code when
// fail), run.end; the ANN step names index version idx.
func writeRun(t testing.TB, dir, id string, at time.Time, idx string, fail bool, annMS float64) {
	t.Helper()
	d10, dAnn := 10.0, annMS
	status, code, end := "ok", "", "ok"
	if fail {
		status, code, end = "failed", "index_not_found", "failed"
	}
	lines := []ledger.Line{
		{Kind: "run.start", Status: "ok", Attrs: map[string]any{"query_id": id, "tier": "gold"}},
		{Kind: "embed.vllm", Status: "ok", DurationMS: &d10, Resources: map[string]string{"model": "bge"}},
		{Kind: "ann.faiss.search", Status: status, ErrorCode: code, DurationMS: &dAnn, Resources: map[string]string{"index_version": idx}},
		{Kind: "run.end", Status: end},
	}
	var b []byte
	for i := range lines {
		l := &lines[i]
		l.V, l.RunID, l.Seq, l.TS, l.Service = 1, id, uint64(i+1), at.Add(time.Duration(i)*time.Millisecond), "retriever"
		b = append(append(b, ledger.Encode(l)...), '\n')
	}
	p := ledger.RunPath(dir, at, id)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func index(t testing.TB, dir string) *runindex.Index {
	t.Helper()
	ix := runindex.New(dir, runindex.Options{})
	if _, err := ix.Refresh(); err != nil {
		t.Fatal(err)
	}
	return ix
}

// Failing runs share index_version v3, good ones use v2: insights rank that
// difference first and count the cause.
func TestInsightsFindTheDifference(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 12; i++ {
		writeRun(t, dir, fmt.Sprintf("bad-%02d", i), now.Add(-time.Duration(i+1)*time.Minute), "v3", true, 50)
	}
	for i := 0; i < 30; i++ {
		writeRun(t, dir, fmt.Sprintf("good-%02d", i), now.Add(-time.Duration(i+1)*time.Minute-30*time.Second), "v2", false, 20)
	}
	// The previous window: the same stage rarely failed and was fast.
	for i := 0; i < 10; i++ {
		writeRun(t, dir, fmt.Sprintf("old-%02d", i), now.Add(-25*time.Hour-time.Duration(i)*time.Minute), "v2", false, 20)
	}
	in, err := NewEngine().Compute(index(t, dir), Query{}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in.Runs != 42 || in.ByStatus["failed"] != 12 || in.ByStatus["completed"] != 30 || in.ByCategory["error"] != 12 {
		t.Fatalf("counts: %d %v %v", in.Runs, in.ByStatus, in.ByCategory)
	}
	if len(in.TopCauses) != 1 {
		t.Fatalf("causes %+v", in.TopCauses)
	}
	c := in.TopCauses[0]
	if c.Stage != "ann" || c.Kind != "ann.faiss.search" || c.ErrorCode != "index_not_found" || c.Runs != 12 || c.Share != 1 ||
		len(c.ExampleRuns) != 5 || c.ExampleRuns[0] != "bad-00" || c.Remediation == "" {
		t.Fatalf("cause %+v", c)
	}
	if len(in.Differences) == 0 || in.Differences[0].Key != "resource.index_version" || in.Differences[0].Value != "v3" ||
		in.Differences[0].FailureRate != 1 || in.Differences[0].BaselineFailureRate != 0 {
		t.Fatalf("differences %+v", in.Differences)
	}
	for _, d := range in.Differences {
		if d.Key == "attrs.query_id" {
			t.Fatalf("a high-cardinality attribute is a difference: %+v", d)
		}
	}
	var ann *Stage
	for i := range in.Stages {
		if in.Stages[i].Kind == "ann.faiss.search" {
			ann = &in.Stages[i]
		}
	}
	if ann == nil || ann.Runs != 42 || ann.FailedRuns != 12 || ann.P95MS != 50 || ann.P50MS != 20 {
		t.Fatalf("ann stage %+v", ann)
	}
	if len(in.Regressions) != 1 || in.Regressions[0].Kind != "ann.faiss.search" || !strings.Contains(in.Regressions[0].Note, "failure rate") {
		t.Fatalf("regressions %+v", in.Regressions)
	}
	md := in.Markdown()
	for _, want := range []string{"index_not_found", "resource.index_version | v3", "## Regressions"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}

	// Filters and windows.
	in, _ = NewEngine().Compute(index(t, dir), Query{Since: now.Add(-5 * time.Minute)}, now, nil)
	if in.Runs != 9 { // bad-00..04 and good-00..03 started in the last 5 minutes
		t.Fatalf("window of 5 minutes: %d runs", in.Runs)
	}
	in, _ = NewEngine().Compute(index(t, dir), Query{Service: "nobody"}, now, nil)
	if in.Runs != 0 || len(in.TopCauses) != 0 {
		t.Fatalf("unknown service: %+v", in)
	}
	if _, err := NewEngine().Compute(index(t, dir), Query{Since: now, Until: now.Add(-time.Hour)}, now, nil); err == nil {
		t.Fatal("since after until accepted")
	}
}

func TestInsightsEmpty(t *testing.T) {
	in, err := NewEngine().Compute(index(t, t.TempDir()), Query{}, now, nil)
	if err != nil || in.Runs != 0 || !strings.Contains(in.Markdown(), "No runs") {
		t.Fatalf("%+v %v", in, err)
	}
}

// The second call reads no ledger: a removed file is not noticed while
// the index still lists it unchanged.
func TestSummariesAreKept(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, "r-1", now.Add(-time.Minute), "v1", true, 5)
	ix := index(t, dir)
	e := NewEngine()
	if _, err := e.Compute(ix, Query{}, now, nil); err != nil {
		t.Fatal(err)
	}
	p, _ := ledger.FindRun(dir, "r-1")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	in, err := e.Compute(ix, Query{}, now, nil)
	if err != nil || in.Runs != 1 || in.Unreadable != 0 {
		t.Fatalf("second call re-read the ledger: %+v %v", in, err)
	}
}

// BenchmarkInsights100k is insights over 100,000 runs whose summaries are
// kept (the steady state of a collector answering insights).
func BenchmarkInsights100k(b *testing.B) {
	dir := b.TempDir()
	const n = 100_000
	for i := 0; i < n; i++ {
		idx := []string{"v1", "v2", "v3"}[i%3]
		writeRun(b, dir, fmt.Sprintf("run-%06d", i), now.Add(-time.Duration(i+1)*500*time.Millisecond), idx, i%7 == 0, float64(i%100))
	}
	ix := runindex.New(dir, runindex.Options{})
	if _, err := ix.Refresh(); err != nil {
		b.Fatal(err)
	}
	e := NewEngine()
	var before, after runtimeMem
	before.read()
	if in, err := e.Compute(ix, Query{}, now, nil); err != nil || in.Runs != n {
		b.Fatalf("%v %+v", err, in)
	}
	after.read()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.Compute(ix, Query{}, now, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "runs/s")
	b.ReportMetric(float64(after.heap-before.heap)/float64(n), "kept-B/run")
}
