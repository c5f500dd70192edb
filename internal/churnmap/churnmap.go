// Package churnmap keeps maps with steady insert/delete churn at the size
// their entries need.
//
// A Go map never shrinks: deleted slots become tombstones, and a map whose
// keys keep changing (traces held for seconds, runs indexed while they are
// written) grows to several times the size of its live entries, by
// measurement 4-8x under the collector's load. Rebuilding it after enough
// deletes bounds that, at an amortised cost of one copy per entry per few
// deletes.
package churnmap

// Counter counts the deletes from one map since it was last rebuilt.
type Counter struct{ deletes int }

// minDeletes keeps small maps from being rebuilt over and over.
const minDeletes = 4096

// Deleted records n deletes.
func (c *Counter) Deleted(n int) { c.deletes += n }

// Compact returns m, or a copy of m sized for its entries when more deletes
// than four times its length (and at least minDeletes) were recorded since
// the last copy.
func Compact[K comparable, V any](m map[K]V, c *Counter) map[K]V {
	if c.deletes < minDeletes || c.deletes < 4*len(m) {
		return m
	}
	c.deletes = 0
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
