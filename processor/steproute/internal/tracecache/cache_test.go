package tracecache

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func tid(n int) pcommon.TraceID {
	var t pcommon.TraceID
	t[0] = byte(n >> 8)
	t[1] = byte(n)
	t[15] = 1
	return t
}

func TestGetPut(t *testing.T) {
	c := New(10, time.Minute)
	_, ok := c.Get(tid(1), 0)
	assert.False(t, ok)
	c.Put(tid(1), "r1", 0)
	got, ok := c.Get(tid(1), 1)
	require.True(t, ok)
	assert.Equal(t, "r1", got)
	c.Put(tid(1), "r2", 2)
	got, _ = c.Get(tid(1), 3)
	assert.Equal(t, "r2", got, "latest value wins")
	assert.Equal(t, 1, c.Len())
}

func TestSizeBoundEvictsLeastRecentlySeen(t *testing.T) {
	c := New(3, time.Minute)
	for i := range 3 {
		c.Put(tid(i), fmt.Sprint("r", i), int64(i))
	}
	_, ok := c.Get(tid(0), 10) // 0 is now the most recent
	require.True(t, ok)
	c.Put(tid(3), "r3", 11)
	assert.Equal(t, 3, c.Len())
	_, ok = c.Get(tid(1), 12)
	assert.False(t, ok, "trace 1 was the least recently seen")
	for _, i := range []int{0, 2, 3} {
		_, ok := c.Get(tid(i), 13)
		assert.True(t, ok, i)
	}
	size, ttl := c.DrainEvictions()
	assert.Equal(t, int64(1), size)
	assert.Equal(t, int64(0), ttl)
	size, _ = c.DrainEvictions()
	assert.Equal(t, int64(0), size, "drained")
}

func TestTTL(t *testing.T) {
	ttl := time.Second
	c := New(10, ttl)
	c.Put(tid(1), "r1", 0)
	c.Put(tid(2), "r2", 0)
	_, ok := c.Get(tid(1), int64(ttl)-1)
	require.True(t, ok, "seen again just before expiry, which refreshes it")
	_, ok = c.Get(tid(1), 2*int64(ttl)-2)
	assert.True(t, ok)
	_, ok = c.Get(tid(2), int64(ttl))
	assert.False(t, ok, "expired")
	c.Put(tid(3), "r3", 10*int64(ttl))
	assert.Equal(t, 1, c.Len(), "expired entries at the tail are evicted on Put")
	_, ttlEv := c.DrainEvictions()
	assert.Equal(t, int64(2), ttlEv)
}

func TestReuseAfterEviction(t *testing.T) {
	c := New(2, time.Minute)
	for i := range 1000 {
		c.Put(tid(i), "r", int64(i))
	}
	assert.Equal(t, 2, c.Len())
	assert.LessOrEqual(t, len(c.entries), 3, "slots are reused")
	got, ok := c.Get(tid(999), 1000)
	require.True(t, ok)
	assert.Equal(t, "r", got)
}

func TestConcurrent(t *testing.T) {
	c := New(100, time.Minute)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				c.Put(tid(i%300), fmt.Sprint(g), int64(i))
				c.Get(tid((i+7)%300), int64(i))
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, c.Len(), 100)
}

func TestPutGetDoNotAllocate(t *testing.T) {
	c := New(100, time.Minute)
	for i := range 100 {
		c.Put(tid(i), "r", 0)
	}
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		n++
		c.Put(tid(n%200), "r", int64(n))
		c.Get(tid((n+50)%200), int64(n))
	})
	assert.Zero(t, allocs)
}
