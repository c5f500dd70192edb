package ledgerstore

import (
	"math/rand/v2"
	"testing"
)

func TestDedupeMatchesReference(t *testing.T) {
	for _, window := range []int{1, 2, 7, 64, 1024} {
		var d dedupe
		d.reset(window)
		var queue []uint64
		set := map[uint64]bool{}
		rng := rand.New(rand.NewPCG(uint64(window), 9))
		for i := 0; i < 20000; i++ {
			// Small key space with low bits colliding, so that ids come
			// back while in the window and after leaving it.
			k := uint64(rng.IntN(3*window+3)) << (rng.IntN(2) * 40)
			if got := d.contains(k); got != set[k] {
				t.Fatalf("window %d step %d: contains(%d) = %v, want %v", window, i, k, got, set[k])
			}
			if set[k] {
				continue
			}
			d.add(k)
			queue = append(queue, k)
			set[k] = true
			if len(queue) > window {
				delete(set, queue[0])
				queue = queue[1:]
			}
		}
	}
	var off dedupe
	off.reset(0)
	off.add(5)
	if off.contains(5) {
		t.Fatal("disabled window remembers")
	}
}

func BenchmarkDedupe(b *testing.B) {
	var d dedupe
	d.reset(1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		k := uint64(i)*0x9e3779b97f4a7c15 + 1
		if !d.contains(k) {
			d.add(k)
		}
	}
}
