package ledger

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ReadSummaryFrom gives the same scalar fields and line counts as
// ReadFileFrom on what the encoder writes, without the bulky fields.
func TestReadSummaryMatchesFullRead(t *testing.T) {
	dur := 12.5
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var data []byte
	for i := 1; i <= 3; i++ {
		data = AppendLine(data, &Line{V: 1, RunID: "r-1", Seq: uint64(i), TS: ts.Add(time.Duration(i) * time.Second),
			Kind: "ann.faiss.search", Status: "failed", ErrorCode: "index_not_found", Detail: "no index",
			DurationMS: &dur, Sizes: map[string]float64{"hits": 5}, Resources: map[string]string{"index_version": "v3"},
			Attrs: map[string]any{"nprobe": 16.0}, Service: "retriever", EventID: "00112233445566778899aabbccddeeff"})
		data = append(data, '\n')
	}
	data = append(data, "not json\n{\"v\":1,\"run_id\":\"r-1\",\"kind\":\"torn"...)
	p := filepath.Join(t.TempDir(), "r-1.jsonl")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var full, sum []Line
	fst, err := ReadFileFrom(p, 0, func(l *Line) error { full = append(full, *l); return nil })
	if err != nil {
		t.Fatal(err)
	}
	sst, err := ReadSummaryFrom(p, 0, func(l *Line) error { sum = append(sum, *l); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if fst != sst || len(sum) != 3 {
		t.Fatalf("stats differ: full %+v summary %+v (%d lines)", fst, sst, len(sum))
	}
	for i := range sum {
		f, s := full[i], sum[i]
		if s.Detail != "" || s.Sizes != nil || s.Resources != nil || s.Attrs != nil {
			t.Errorf("summary line %d kept bulky fields: %+v", i, s)
		}
		f.Detail, f.Sizes, f.Resources, f.Attrs = "", nil, nil, nil
		if f.RunID != s.RunID || f.Seq != s.Seq || !f.TS.Equal(s.TS) || f.Kind != s.Kind || f.Status != s.Status ||
			f.ErrorCode != s.ErrorCode || *f.DurationMS != *s.DurationMS || f.Service != s.Service || f.EventID != s.EventID {
			t.Errorf("line %d: summary %+v, full %+v", i, s, f)
		}
	}
}
