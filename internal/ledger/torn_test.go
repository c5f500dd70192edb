package ledger

import (
	"fmt"
	"testing"
	"time"
)

// Recovering a file's tail reads its canonical lines without allocating
// per line (a cold run's open reads up to the dedupe window of them).
func TestScanTailAllocs(t *testing.T) {
	var region []byte
	for i := range 100 {
		d := float64(i) / 4
		l := Line{RunID: "r", Seq: uint64(i + 1), TS: time.Unix(int64(i), 0), Kind: "k", DurationMS: &d,
			Detail: "x\ny", Sizes: map[string]float64{"n": 1}, Resources: map[string]string{"r": "s"},
			Attrs: map[string]any{"n": i}, EventID: fmt.Sprintf("%032x", i+1)}
		region = append(AppendLine(region, &l), '\n')
	}
	ids := make([]EventID, 0, 100)
	var seq uint64
	allocs := testing.AllocsPerRun(20, func() {
		ids = ids[:0]
		seq, _ = scanTail(region, true, 100, &ids)
	})
	if seq != 100 || len(ids) != 100 || ids[0] != (EventID{15: 100}) {
		t.Fatalf("seq %d, %d ids, newest %x", seq, len(ids), ids[0])
	}
	if allocs > 0 {
		t.Fatalf("scanTail allocates %v times for 100 lines", allocs)
	}
}
