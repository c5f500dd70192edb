package ledger

import (
	"encoding/json"
	"regexp"
	"testing"
)

var (
	testTrace = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	testSpan  = [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
)

func TestEventID(t *testing.T) {
	ts := uint64(1234)
	id := NewEventID(testTrace, testSpan, ts, "k", 0)
	if id != NewEventID(testTrace, testSpan, ts, "k", 0) {
		t.Fatal("not deterministic")
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id.String()) {
		t.Fatalf("bad form %q", id)
	}
	variants := []EventID{
		NewEventID([16]byte{}, testSpan, ts, "k", 0),
		NewEventID(testTrace, [8]byte{}, ts, "k", 0),
		NewEventID(testTrace, testSpan, ts+1, "k", 0),
		NewEventID(testTrace, testSpan, ts, "k2", 0),
		NewEventID(testTrace, testSpan, ts, "k", 1),
	}
	seen := map[EventID]bool{id: true}
	for i, v := range variants {
		if seen[v] {
			t.Fatalf("variant %d collides", i)
		}
		seen[v] = true
	}
	if p, err := ParseEventID(id.String()); err != nil || p != id {
		t.Fatalf("parse: %v %v", p, err)
	}
	if _, err := ParseEventID("xyz"); err == nil {
		t.Fatal("parsed garbage")
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		buf = AppendEventID(buf[:0], NewEventID(testTrace, testSpan, ts, "kind", 3))
	}); n != 0 {
		t.Fatalf("NewEventID+AppendEventID allocate %v times", n)
	}
	if !json.Valid(append(append([]byte(`"`), AppendEventID(nil, id)...), '"')) {
		t.Fatal("not a JSON string body")
	}
}
