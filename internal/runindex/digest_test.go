package runindex

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
)

// A StopDigest fed a run's lines one by one names the root cause of every
// ended run of the report's test data as the report does (the list's one
// documented exception: a timeout only the detail text tells).
func TestStopDigestAgreesWithReport(t *testing.T) {
	files, err := filepath.Glob("../report/testdata/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no report test data: %v", err)
	}
	ended := 0
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".jsonl")
		t.Run(name, func(t *testing.T) {
			rep, err := report.BuildFile(file, report.Options{Now: func() time.Time { return reportNow }})
			if err != nil {
				t.Fatal(err)
			}
			var d StopDigest
			var tr report.Tracker
			endStatus, hasEnd := "", false
			if _, err := ledger.ReadFile(file, func(l *ledger.Line) error {
				d.Observe(l, strings.Clone)
				tr.Observe(l)
				if l.Kind == "run.end" {
					endStatus, hasEnd = l.Status, true
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !hasEnd {
				return
			}
			ended++
			status := EndStatus(endStatus)
			if want := tr.Status(reportNow, 0); status != want || status != rep.Status {
				t.Fatalf("EndStatus(%q) = %s, tracker %s, report %s", endStatus, status, want, rep.Status)
			}
			got := d.Stop(status, true)
			want := Stop{Category: rep.StopReason.Category, Stage: rep.StopReason.Stage, ErrorCode: rep.StopReason.ErrorCode}
			if name == "timeout_ann_504" {
				want.Category = report.CategoryError // the detail says 504; the digest has no detail
			}
			if got != want {
				t.Errorf("digest says %+v, report %+v", got, want)
			}
		})
	}
	if ended < 10 {
		t.Fatalf("only %d ended runs in the test data", ended)
	}
}
