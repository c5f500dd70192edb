package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenNow is the clock of the golden reports: 10:10 UTC, 20 s after the
// in-progress run's last event and over an hour after the stalled run's.
var goldenNow = time.Date(2026, 11, 25, 10, 10, 0, 0, time.UTC)

func fixedNow() time.Time { return goldenNow }

func buildTestdata(t *testing.T, name string, opts Options) *Report {
	t.Helper()
	opts.Now = fixedNow
	r, err := BuildFile(filepath.Join("testdata", name+".jsonl"), opts)
	if err != nil {
		t.Fatalf("BuildFile(%s): %v", name, err)
	}
	return r
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata ledgers: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		t.Run(name, func(t *testing.T) {
			r := buildTestdata(t, name, Options{})
			js, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			js = append(js, '\n')
			compareGolden(t, filepath.Join("testdata", "golden", name+".json"), js)
			compareGolden(t, filepath.Join("testdata", "golden", name+".md"), []byte(r.Markdown()))
		})
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update to create): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the built report (go test -update regenerates it)\n--- got ---\n%s", path, got)
	}
}

// TestStopReasons pins the user-visible verdict of every testdata ledger, so
// a golden regenerated with -update cannot silently change it.
func TestStopReasons(t *testing.T) {
	cases := []struct {
		name, status, category, kind, stage, code, confidence string
		remediationHas                                        string
	}{
		{"completed", StatusCompleted, CategoryCompleted, "run.end", "run", "", ConfidenceHigh, ""},
		{"completed_after_retry", StatusCompleted, CategoryCompleted, "run.end", "run", "", ConfidenceHigh, ""},
		{"failed_embed_oom", StatusFailed, CategoryError, "embed.vllm", "embed", "oom", ConfidenceHigh, "out of (GPU) memory"},
		{"failed_with_spans", StatusFailed, CategoryError, "ann.faiss.search", "ann", "index_not_found", ConfidenceHigh, ""},
		{"failed_embed_http503", StatusFailed, CategoryError, "embed.vllm", "embed", "http_503", ConfidenceHigh, "vLLM server"},
		{"failed_ann_index_not_found", StatusFailed, CategoryError, "ann.faiss.search", "ann", "index_not_found", ConfidenceHigh, "ANN index was not found"},
		{"failed_ann_dimension_mismatch", StatusFailed, CategoryError, "ann.faiss.search", "ann", "", ConfidenceHigh, "different embedding"},
		{"failed_hydrate_missing_table", StatusFailed, CategoryError, "hydrate.duckdb", "hydrate", "", ConfidenceHigh, "DuckDB table is missing"},
		{"failed_hydrate_locked", StatusFailed, CategoryError, "hydrate.duckdb", "hydrate", "locked", ConfidenceHigh, "locked by another process"},
		{"failed_git_blame_missing_path", StatusFailed, CategoryError, "git.blame", "git", "path_not_found", ConfidenceHigh, "does not exist at that revision"},
		{"failed_hybrid_empty_channel", StatusFailed, CategoryError, "retrieval.hybrid", "retrieval", "empty_channel", ConfidenceHigh, "empty channel"},
		{"failed_unknown_code", StatusFailed, CategoryError, "git.blame", "git", "weird_backend_state", ConfidenceMedium, GenericRemediation},
		{"failed_no_run_end", StatusFailed, CategoryError, "hydrate.duckdb", "hydrate", "table_not_found", ConfidenceMedium, "DuckDB table"},
		{"timeout_embed_deadline", StatusFailed, CategoryTimeout, "embed.vllm", "embed", "deadline_exceeded", ConfidenceHigh, "did not answer in time"},
		{"timeout_ann_504", StatusFailed, CategoryTimeout, "ann.faiss.search", "ann", "", ConfidenceHigh, "ANN search took too long"},
		{"cancelled", StatusCancelled, CategoryCancelled, "ann.faiss.search", "ann", "cancelled", ConfidenceHigh, "cancelled"},
		{"stalled", StatusStalled, CategoryStalled, "", "", "", ConfidenceMedium, "without run.end"},
		{"in_progress", StatusInProgress, CategoryInProgress, "", "", "", ConfidenceMedium, ""},
		{"torn_last_line", StatusStalled, CategoryStalled, "", "", "", ConfidenceMedium, ""},
		{"out_of_order", StatusFailed, CategoryTimeout, "hydrate.duckdb", "hydrate", "timeout", ConfidenceHigh, "Hydration queries took too long"},
		{"recovered_then_failed", StatusFailed, CategoryError, "hydrate.duckdb", "hydrate", "locked", ConfidenceHigh, "locked"},
		{"run_end_failed_no_step", StatusFailed, CategoryError, "run.end", "run", "", ConfidenceLow, GenericRemediation},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := buildTestdata(t, c.name, Options{})
			sr := r.StopReason
			if r.Status != c.status || sr.Category != c.category || sr.Kind != c.kind || sr.Stage != c.stage ||
				sr.ErrorCode != c.code || sr.Confidence != c.confidence {
				t.Errorf("got status=%s category=%s kind=%s stage=%s code=%q confidence=%s, want %s %s %s %s %q %s",
					r.Status, sr.Category, sr.Kind, sr.Stage, sr.ErrorCode, sr.Confidence,
					c.status, c.category, c.kind, c.stage, c.code, c.confidence)
			}
			if !strings.Contains(sr.Remediation, c.remediationHas) {
				t.Errorf("remediation %q does not mention %q", sr.Remediation, c.remediationHas)
			}
			if sr.EventSeq == nil || len(sr.Evidence) == 0 {
				t.Errorf("stop reason without event_seq or evidence: %+v", sr)
			}
			md := r.Markdown()
			if !strings.HasPrefix(md, "# Run "+r.RunID+": "+r.Status) || !strings.Contains(md, "**Stop reason:** "+sr.Category) {
				t.Errorf("markdown headline wrong:\n%s", md[:min(len(md), 300)])
			}
		})
	}
}

func TestRootCauseIsNotTheWrapper(t *testing.T) {
	r := buildTestdata(t, "failed_embed_oom", Options{})
	if got := *r.StopReason.EventSeq; got != 2 {
		t.Fatalf("event_seq = %d, want the embed.vllm step (2), not retrieval.error", got)
	}
	if r.ErrorCount != 2 || len(r.Errors) != 2 {
		t.Fatalf("errors = %d/%d, want both failed steps listed", r.ErrorCount, len(r.Errors))
	}
	r = buildTestdata(t, "out_of_order", Options{})
	if got := *r.StopReason.EventSeq; got != 5 {
		t.Fatalf("out of order: event_seq = %d, want hydrate.duckdb (5) although retrieval.error has an earlier ts", got)
	}
}

func TestTornAndSkippedLines(t *testing.T) {
	r := buildTestdata(t, "torn_last_line", Options{})
	if r.SkippedLines != 1 || r.PartialBytes == 0 || r.EventCount != 4 {
		t.Fatalf("skipped=%d partial=%d events=%d, want 1, >0, 4", r.SkippedLines, r.PartialBytes, r.EventCount)
	}
}

func TestTimelineOrderAndPaging(t *testing.T) {
	r := buildTestdata(t, "out_of_order", Options{})
	var seqs []uint64
	for _, e := range r.Timeline.Events {
		seqs = append(seqs, e.Seq)
	}
	want := []uint64{1, 3, 4, 2, 5, 6}
	if !equalSeqs(seqs, want) {
		t.Fatalf("timeline seqs %v, want %v (ts order)", seqs, want)
	}
	r = buildTestdata(t, "out_of_order", Options{TimelineOffset: 2, TimelineLimit: 2})
	seqs = seqs[:0]
	for _, e := range r.Timeline.Events {
		seqs = append(seqs, e.Seq)
	}
	if !equalSeqs(seqs, []uint64{4, 2}) || r.Timeline.NextOffset == nil || *r.Timeline.NextOffset != 4 || r.Timeline.Total != 6 {
		t.Fatalf("page 2: seqs %v next %v total %d", seqs, r.Timeline.NextOffset, r.Timeline.Total)
	}
	r = buildTestdata(t, "out_of_order", Options{TimelineOffset: 4, TimelineLimit: 10})
	if len(r.Timeline.Events) != 2 || r.Timeline.NextOffset != nil {
		t.Fatalf("last page: %d events, next %v", len(r.Timeline.Events), r.Timeline.NextOffset)
	}
	r = buildTestdata(t, "out_of_order", Options{TimelineOffset: 50})
	if len(r.Timeline.Events) != 0 {
		t.Fatalf("past the end: %d events", len(r.Timeline.Events))
	}
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStageStats(t *testing.T) {
	d := func(f float64) *float64 { return &f }
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var lines []ledger.Line
	for i, ms := range []float64{10, 20, 30, 40, 100} {
		lines = append(lines, ledger.Line{V: 1, RunID: "r", Seq: uint64(i + 1), TS: ts.Add(time.Duration(i) * time.Second),
			Kind: "embed.vllm", Status: "ok", DurationMS: d(ms), Sizes: map[string]float64{"vectors": 2},
			Resources: map[string]string{"model": []string{"a", "b"}[i%2]}})
	}
	r := Build(lines, Options{Now: func() time.Time { return ts }})
	if len(r.Stages) != 1 {
		t.Fatalf("stages: %+v", r.Stages)
	}
	s := r.Stages[0]
	if s.Count != 5 || s.TotalMS != 200 || s.P50MS != 30 || s.P95MS != 100 || s.MaxMS != 100 || s.Sizes["vectors"] != 10 ||
		len(s.Resources["model"]) != 2 || s.Stage != "embed" {
		t.Fatalf("stage stats: %+v", s)
	}
	if got := r.Resources["embed"]["model"]; len(got) != 2 || got[0] != "a" {
		t.Fatalf("resources per stage: %v", r.Resources)
	}
}

func TestStallAfterAndClock(t *testing.T) {
	last := time.Date(2026, 11, 25, 9, 3, 0, 140000000, time.UTC)
	for _, c := range []struct {
		now   time.Time
		stall time.Duration
		want  string
	}{
		{last.Add(4 * time.Minute), 0, StatusInProgress},
		{last.Add(6 * time.Minute), 0, StatusStalled},
		{last.Add(6 * time.Minute), 10 * time.Minute, StatusInProgress},
	} {
		r, err := BuildFile("testdata/stalled.jsonl", Options{Now: func() time.Time { return c.now }, StallAfter: c.stall})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != c.want || r.StopReason.Category != c.want {
			t.Errorf("now=%s stall=%s: status %s/%s, want %s", c.now, c.stall, r.Status, r.StopReason.Category, c.want)
		}
	}
}

func TestForeignRunLinesAreSkipped(t *testing.T) {
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lines := []ledger.Line{
		{V: 1, RunID: "a", Seq: 1, TS: ts, Kind: "run.start", Status: "ok"},
		{V: 1, RunID: "b", Seq: 2, TS: ts, Kind: "run.end", Status: "ok"},
	}
	r := Build(lines, Options{RunID: "a", Now: func() time.Time { return ts }})
	if r.EventCount != 1 || r.SkippedLines != 1 || r.Status != StatusInProgress {
		t.Fatalf("events=%d skipped=%d status=%s", r.EventCount, r.SkippedLines, r.Status)
	}
}

func TestBuildFileErrors(t *testing.T) {
	if _, err := BuildFile(filepath.Join(t.TempDir(), "missing.jsonl"), Options{}); err == nil {
		t.Fatal("missing file: no error")
	}
	empty := filepath.Join(t.TempDir(), "empty.jsonl")
	if err := os.WriteFile(empty, []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := BuildFile(empty, Options{}); err == nil {
		t.Fatal("file without events: no error")
	}
}

func TestIsTimeout(t *testing.T) {
	yes := [][2]string{{"timeout", ""}, {"DEADLINE_EXCEEDED", ""}, {"http_504", ""}, {"Gateway-Timeout", ""},
		{"", "context deadline exceeded"}, {"", "upstream returned HTTP 504"}, {"", "read timed out"}, {"ReadTimeout", ""}}
	no := [][2]string{{"oom", "out of memory"}, {"", "rows=15040"}, {"http_503", "service unavailable"}}
	for _, c := range yes {
		if !IsTimeout(c[0], c[1]) {
			t.Errorf("IsTimeout(%q, %q) = false", c[0], c[1])
		}
	}
	for _, c := range no {
		if IsTimeout(c[0], c[1]) {
			t.Errorf("IsTimeout(%q, %q) = true", c[0], c[1])
		}
	}
}

// Issue 21: a run without run.end is not reported as stopped "at" its last
// step, which succeeded: the report names it as the step the run stalled
// after, and, when run.start declared the stages, the stage that never
// reported.
func TestStalledAfterLastStep(t *testing.T) {
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	lines := func(stages any) []ledger.Line {
		start := ledger.Line{V: 1, RunID: "r", Seq: 1, TS: ts, Kind: "run.start", Status: "ok"}
		if stages != nil {
			start.Attrs = map[string]any{"stages": stages}
		}
		return []ledger.Line{start,
			{V: 1, RunID: "r", Seq: 2, TS: ts.Add(time.Second), Kind: "embed.vllm", Status: "ok"},
			{V: 1, RunID: "r", Seq: 3, TS: ts.Add(2 * time.Second), Kind: "ann.faiss.search", Status: "ok"},
		}
	}
	late := Options{Now: func() time.Time { return ts.Add(time.Hour) }}
	for name, stages := range map[string]any{
		"list":   []any{"embed", "ann", "hydrate", "rerank"},
		"string": "embed, ann.faiss, hydrate.duckdb, rerank",
	} {
		r := Build(lines(stages), late)
		sr := r.StopReason
		if sr.Category != CategoryStalled || sr.AfterKind != "ann.faiss.search" || sr.Stage != "hydrate" || sr.Kind != "" {
			t.Fatalf("%s: stop reason %+v", name, sr)
		}
		if md := r.Markdown(); !strings.Contains(md, "stalled after `ann.faiss.search`; stage `hydrate` never reported") {
			t.Fatalf("%s: Markdown headline:\n%s", name, md)
		}
	}
	r := Build(lines(nil), late)
	if sr := r.StopReason; sr.AfterKind != "ann.faiss.search" || sr.Stage != "" {
		t.Fatalf("undeclared stages: stop reason %+v", sr)
	}
	if md := r.Markdown(); !strings.Contains(md, "stalled after `ann.faiss.search`") || strings.Contains(md, "at stage") {
		t.Fatalf("Markdown headline:\n%s", md)
	}
}

// Issue 21: re-running with the same run id appends a second run to the
// ledger; the report says so instead of merging silently.
func TestReusedRunIDWarns(t *testing.T) {
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	run := func(seq uint64, at time.Time) []ledger.Line {
		return []ledger.Line{
			{V: 1, RunID: "r-42", Seq: seq, TS: at, Kind: "run.start", Status: "ok"},
			{V: 1, RunID: "r-42", Seq: seq + 1, TS: at.Add(time.Second), Kind: "run.end", Status: "ok"},
		}
	}
	once := Build(run(1, ts), Options{})
	if len(once.Warnings) != 0 {
		t.Fatalf("one run warned: %v", once.Warnings)
	}
	twice := Build(append(run(1, ts), run(3, ts.Add(time.Hour))...), Options{})
	if len(twice.Warnings) != 1 || !strings.Contains(twice.Warnings[0], "reused") {
		t.Fatalf("warnings %v", twice.Warnings)
	}
	if md := twice.Markdown(); !strings.Contains(md, "**Warning:** run.start (seq 3) after run.end (seq 2)") {
		t.Fatalf("Markdown:\n%s", md)
	}
}
