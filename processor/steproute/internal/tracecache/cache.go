// Package tracecache is the per-trace run id memory of the steproute
// processor: a bounded, concurrency-safe LRU map from trace id to run id in
// which an entry is forgotten when its trace has not been seen for a TTL.
//
// Entries live in one slice linked by indices, so steady-state Put and Get do
// not allocate.
package tracecache

import (
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

const none = int32(-1)

type entry struct {
	key        pcommon.TraceID
	val        string
	exp        int64
	prev, next int32
}

// Cache maps trace ids to run ids. All methods are safe for concurrent use.
// Times are nanoseconds on any monotonic clock chosen by the caller.
type Cache struct {
	mu   sync.Mutex
	size int
	ttl  int64
	// index holds at most size entries; a plain map is fine under churn at
	// that bound, since Go's maps reuse deleted slots before they grow.
	index   map[pcommon.TraceID]int32
	entries []entry
	head    int32 // most recently used
	tail    int32 // least recently used
	free    int32 // free list through next

	evictedSize int64
	evictedTTL  int64
}

// New returns a cache holding at most size traces (size must be positive),
// each for ttl after it was last seen.
func New(size int, ttl time.Duration) *Cache {
	hint := min(size, 4096)
	return &Cache{
		size:    size,
		ttl:     int64(ttl),
		index:   make(map[pcommon.TraceID]int32, hint),
		entries: make([]entry, 0, hint),
		head:    none,
		tail:    none,
		free:    none,
	}
}

// Get returns the run id remembered for tid and marks the trace as seen.
func (c *Cache) Get(tid pcommon.TraceID, now int64) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.index[tid]
	if !ok {
		return "", false
	}
	e := &c.entries[i]
	if e.exp <= now {
		c.remove(i)
		c.evictedTTL++
		return "", false
	}
	e.exp = now + c.ttl
	c.moveToFront(i)
	return e.val, true
}

// Put remembers runID for tid (the latest value wins) and marks the trace as
// seen. It evicts expired entries and, past the size bound, the least
// recently seen ones.
func (c *Cache) Put(tid pcommon.TraceID, runID string, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[tid]; ok {
		e := &c.entries[i]
		e.val = runID
		e.exp = now + c.ttl
		c.moveToFront(i)
	} else {
		i := c.alloc()
		c.entries[i] = entry{key: tid, val: runID, exp: now + c.ttl, prev: none, next: none}
		c.index[tid] = i
		c.pushFront(i)
	}
	for c.tail != none && c.entries[c.tail].exp <= now {
		c.remove(c.tail)
		c.evictedTTL++
	}
	for len(c.index) > c.size {
		c.remove(c.tail)
		c.evictedSize++
	}
}

// Len returns the number of remembered traces, expired ones included until
// they are noticed.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.index)
}

// DrainEvictions returns the number of entries evicted because of the size
// bound and because of the TTL since the previous call.
func (c *Cache) DrainEvictions() (size, ttl int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	size, ttl = c.evictedSize, c.evictedTTL
	c.evictedSize, c.evictedTTL = 0, 0
	return size, ttl
}

func (c *Cache) alloc() int32 {
	if c.free != none {
		i := c.free
		c.free = c.entries[i].next
		return i
	}
	c.entries = append(c.entries, entry{})
	return int32(len(c.entries) - 1)
}

func (c *Cache) remove(i int32) {
	c.unlink(i)
	delete(c.index, c.entries[i].key)
	c.entries[i] = entry{prev: none, next: c.free}
	c.free = i
}

func (c *Cache) unlink(i int32) {
	e := &c.entries[i]
	if e.prev != none {
		c.entries[e.prev].next = e.next
	} else {
		c.head = e.next
	}
	if e.next != none {
		c.entries[e.next].prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = none, none
}

func (c *Cache) pushFront(i int32) {
	e := &c.entries[i]
	e.prev = none
	e.next = c.head
	if c.head != none {
		c.entries[c.head].prev = i
	}
	c.head = i
	if c.tail == none {
		c.tail = i
	}
}

func (c *Cache) moveToFront(i int32) {
	if c.head == i {
		return
	}
	c.unlink(i)
	c.pushFront(i)
}
