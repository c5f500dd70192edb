package ledger

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// An entry's Summary is what ReadSummaryFrom reads back from the line
// AppendEntry writes, error code included: a run index fed by the writer
// and one that reads the file say the same about why a run stopped.
func TestEntrySummaryMatchesReadBack(t *testing.T) {
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	lines := []Line{
		{RunID: "r-1", TS: ts, Kind: "ann.faiss.search", Status: "failed", ErrorCode: "index_not_found",
			Detail: "no index", Service: "retriever"},
		{RunID: "r-1", TS: ts, Kind: "embed.call", Status: "failed", ErrorCode: "code\xff", Service: "svc"},
		{RunID: "r-1", TS: ts, Kind: "run.end", Status: "ok"},
	}
	var data []byte
	var want []Line
	for i := range lines {
		e := NewEntry(&lines[i])
		data = append(AppendEntry(data, &e, uint64(i+1)), '\n')
		want = append(want, e.Summary(uint64(i+1)))
	}
	p := filepath.Join(t.TempDir(), "r-1.jsonl")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var got []Line
	if _, err := ReadSummaryFrom(p, 0, func(l *Line) error {
		// The fields Summary does not report.
		l.DurationMS, l.TraceID, l.SpanID, l.SpanName, l.EventID = nil, "", "", "", ""
		got = append(got, *l)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %+v\nsummary   %+v", got, want)
	}
	if want[0].ErrorCode != "index_not_found" || want[1].ErrorCode != "code\uFFFD" {
		t.Fatalf("summary error codes %q, %q", want[0].ErrorCode, want[1].ErrorCode)
	}
}
