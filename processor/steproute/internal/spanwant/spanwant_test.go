package spanwant

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

func key(i int) Key {
	return Key{Trace: pcommon.TraceID{1, byte(i >> 8), byte(i)}, Span: pcommon.SpanID{2, byte(i >> 8), byte(i)}}
}

func TestWantTake(t *testing.T) {
	s := New(100)
	s.Want(key(1))
	s.Want(Key{}) // ignored
	if s.Len() != 1 {
		t.Fatalf("len %d", s.Len())
	}
	if s.Take(key(2)) {
		t.Fatal("took an unwanted span")
	}
	if !s.Take(key(1)) || s.Take(key(1)) {
		t.Fatal("a wanted span is taken exactly once")
	}
}

func TestBounded(t *testing.T) {
	s := New(10)
	for i := 0; i < 1000; i++ {
		s.Want(key(i))
		if s.Len() > 10 {
			t.Fatalf("len %d > 10 after %d wants", s.Len(), i+1)
		}
	}
	// The newest are kept, the oldest forgotten and counted.
	if !s.Take(key(999)) || s.Take(key(0)) {
		t.Fatal("want the newest kept and the oldest forgotten")
	}
	if s.Forgotten() < 980 {
		t.Fatalf("forgotten %d", s.Forgotten())
	}
}
