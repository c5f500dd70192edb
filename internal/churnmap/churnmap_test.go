package churnmap

import (
	"runtime"
	"testing"
)

// churn keeps live entries in a map while ops keys come and go, compacting
// when compact is true, and returns the map's heap in bytes.
func churn(t *testing.T, live, ops int, compact bool) (map[[16]byte]int32, uint64) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := map[[16]byte]int32{}
	var c Counter
	key := func(i int) (k [16]byte) {
		k[0], k[1], k[2], k[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		return k
	}
	for i := range ops {
		m[key(i)] = int32(i)
		if i >= live {
			delete(m, key(i-live))
			c.Deleted(1)
			if compact {
				m = Compact(m, &c)
			}
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	return m, after.HeapAlloc - before.HeapAlloc
}

// Under churn a compacted map keeps the same entries in a fraction of the
// memory of one left alone.
func TestCompactBoundsChurn(t *testing.T) {
	const live, ops = 10000, 2000000
	plain, grown := churn(t, live, ops, false)
	compacted, kept := churn(t, live, ops, true)
	if len(plain) != live || len(compacted) != live {
		t.Fatalf("lengths %d and %d, want %d", len(plain), len(compacted), live)
	}
	for k, v := range plain {
		if compacted[k] != v {
			t.Fatalf("entry %v: %d, want %d", k, compacted[k], v)
		}
	}
	t.Logf("%d live entries after %d inserts: %d bytes left alone, %d compacted", live, ops, grown, kept)
	if kept*2 > grown {
		t.Fatalf("compacted map holds %d bytes, the plain one %d: no saving", kept, grown)
	}
}

// A map with few deletes is returned as it is.
func TestCompactLeavesQuietMapsAlone(t *testing.T) {
	m := map[int]int{1: 1, 2: 2}
	var c Counter
	c.Deleted(minDeletes - 1)
	m[3] = 3
	if got := Compact(m, &c); len(got) != 3 || c.deletes != minDeletes-1 {
		t.Fatalf("compacted early: %v, counter %d", got, c.deletes)
	}
	got := Compact(m, func() *Counter { c.Deleted(1); return &c }())
	if len(got) != 3 || c.deletes != 0 {
		t.Fatalf("not compacted at the threshold: %v, counter %d", got, c.deletes)
	}
}
