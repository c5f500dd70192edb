package ledgerstore

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/runledger/runledger/internal/ledger"
)

// groupInput returns n events of runs runs, interleaved at random; each
// event's Kind records its position among its run's events.
func groupInput(rng *rand.Rand, n, runs int) []ledger.Entry {
	evs := make([]ledger.Entry, n)
	seen := map[string]int{}
	for i := range evs {
		id := fmt.Sprintf("run-%d", rng.IntN(runs))
		evs[i] = ledger.Entry{RunID: id, Kind: fmt.Sprint(seen[id]), Time: int64(i)}
		seen[id]++
	}
	return evs
}

// Grouping makes each run's events contiguous, runs in the order of their
// first event, each run's events in their order, nothing lost or added;
// with few and with many runs (map lookups), and already grouped input
// stays as it is.
func TestGroupByRun(t *testing.T) {
	var g grouper
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ n, runs int }{{0, 1}, {1, 1}, {50, 1}, {50, 3}, {400, 15}, {400, 16}, {1000, 200}, {3000, 3000}} {
		for round := 0; round < 5; round++ {
			in := groupInput(rng, tc.n, tc.runs)
			var firsts []string
			for _, e := range in {
				if !slices.Contains(firsts, e.RunID) {
					firsts = append(firsts, e.RunID)
				}
			}
			evs := slices.Clone(in)
			g.group(evs)
			var order []string
			next := map[string]int{}
			for i, e := range evs {
				if i == 0 || e.RunID != evs[i-1].RunID {
					if slices.Contains(order, e.RunID) {
						t.Fatalf("%+v: run %s is split", tc, e.RunID)
					}
					order = append(order, e.RunID)
				}
				if e.Kind != fmt.Sprint(next[e.RunID]) {
					t.Fatalf("%+v: run %s event %s where %d was due", tc, e.RunID, e.Kind, next[e.RunID])
				}
				next[e.RunID]++
			}
			if len(evs) != len(in) || !slices.Equal(order, firsts) {
				t.Fatalf("%+v: %d events in run order %v, want %d in %v", tc, len(evs), order, len(in), firsts)
			}
			// Grouped input is left as it is.
			again := slices.Clone(evs)
			g.group(again)
			if !slices.EqualFunc(again, evs, func(a, b ledger.Entry) bool { return a.RunID == b.RunID && a.Kind == b.Kind }) {
				t.Fatalf("%+v: grouped input reordered", tc)
			}
		}
	}
}

// BenchmarkGroupByRun groups a request as the exporter gets it under load
// (a run's held events first, its root's events at the end: 15 runs of 27
// events), against the stable sort it replaced.
func BenchmarkGroupByRun(b *testing.B) {
	var base []ledger.Entry
	for part := 0; part < 2; part++ {
		for r := 0; r < 15; r++ {
			for k := 0; k < []int{25, 2}[part]; k++ {
				base = append(base, ledger.Entry{RunID: fmt.Sprintf("load-01JDQ8X5ZK3V7B2N4M6P8R0T-%d", r), Kind: "k"})
			}
		}
	}
	evs := make([]ledger.Entry, len(base))
	b.Run("group", func(b *testing.B) {
		var g grouper
		b.ReportAllocs()
		for b.Loop() {
			copy(evs, base)
			g.group(evs)
		}
		b.ReportMetric(float64(len(base)*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("stable-sort", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			copy(evs, base)
			slices.SortStableFunc(evs, func(a, b ledger.Entry) int { return strings.Compare(a.RunID, b.RunID) })
		}
		b.ReportMetric(float64(len(base)*b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
