package holdlog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func open(t *testing.T, dir string) (*Log, []Entry, Stats) {
	t.Helper()
	l, es, st, err := Open(Config{Dir: dir, Sync: SyncAlways})
	if err != nil {
		t.Fatal(err)
	}
	return l, es, st
}

func entries(n int) []NewEntry {
	out := make([]NewEntry, n)
	for i := range out {
		out[i] = NewEntry{Signal: 1, Trace: [16]byte{byte(i + 1)}, Arrival: int64(1000 + i),
			Payload: bytes.Repeat([]byte{byte('a' + i)}, 100+i)}
	}
	return out
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segExt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// What is appended and not released comes back after a reopen, with its
// payload, trace and arrival; released entries do not.
func TestReplayKeepsLiveEntries(t *testing.T) {
	dir := t.TempDir()
	l, es, _ := open(t, dir)
	if len(es) != 0 {
		t.Fatalf("new log replayed %d entries", len(es))
	}
	in := entries(3)
	ids, locs, err := l.Append(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Read(locs[1])
	if err != nil || !bytes.Equal(got, in[1].Payload) {
		t.Fatalf("Read = %q, %v", got, err)
	}
	if err := l.Release(ids[:1], locs[:1]); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, es, st := open(t, dir)
	defer l2.Close()
	if len(es) != 2 || st.Released != 1 || st.Corrupt != 0 {
		t.Fatalf("replayed %d entries, stats %+v; want 2 live, 1 released", len(es), st)
	}
	for i, e := range es {
		w := in[i+1]
		if e.ID != ids[i+1] || e.Trace != w.Trace || e.Arrival != w.Arrival || !bytes.Equal(e.Payload, w.Payload) {
			t.Fatalf("entry %d = %+v, want %+v", i, e, w)
		}
		if p, err := l2.Read(e.Loc); err != nil || !bytes.Equal(p, w.Payload) {
			t.Fatalf("Read(replayed %d) = %q, %v", i, p, err)
		}
	}
	// New ids do not reuse replayed ones.
	nids, _, err := l2.Append(entries(1))
	if err != nil || nids[0] <= ids[2] {
		t.Fatalf("new id %v after %v (%v)", nids, ids, err)
	}
}

// Once everything is released, no segment is left behind.
func TestReleasedSegmentsAreDeleted(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir)
	ids, locs, err := l.Append(entries(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, es, _ := open(t, dir)
	if len(segFiles(t, dir)) != 2 {
		t.Fatalf("segments %v, want the replayed one and a new one", segFiles(t, dir))
	}
	_ = ids
	if err := l2.Release([]uint64{es[0].ID, es[1].ID}, []Loc{es[0].Loc, es[1].Loc}); err != nil {
		t.Fatal(err)
	}
	_ = locs
	if n := l2.Live(); n != 0 {
		t.Fatalf("Live = %d", n)
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	if s := segFiles(t, dir); len(s) != 0 {
		t.Fatalf("segments left after everything was released: %v", s)
	}
}

// Garbage in the middle of a segment and a torn record at its tail are
// counted and skipped; the valid entries around them are kept.
func TestCorruptMiddleAndTornTail(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir)
	in := entries(4)
	_, locs, err := l.Append(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, segName(locs[0].Seg))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// Scribble over the second entry's payload, then tear a copy of the
	// first record off at the tail.
	copy(b[locs[1].Off:], "GARBAGE GARBAGE")
	first := b[:locs[0].Off+int64(locs[0].Len)]
	b = append(b, first[:len(first)/2]...)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	l2, es, st := open(t, dir)
	defer l2.Close()
	var got []string
	for _, e := range es {
		got = append(got, fmt.Sprint(e.Payload[0]))
	}
	want := []string{fmt.Sprint(in[0].Payload[0]), fmt.Sprint(in[2].Payload[0]), fmt.Sprint(in[3].Payload[0])}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replayed payloads %v, want %v", got, want)
	}
	if st.Corrupt != 2 {
		t.Fatalf("Corrupt = %d, want 2 (middle and tail)", st.Corrupt)
	}
}

// A segment replaced by a symlink is not followed.
func TestSymlinkedSegmentRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(target, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, segName(1))); err != nil {
		t.Fatal(err)
	}
	l, es, _, err := Open(Config{Dir: dir, Sync: SyncAlways})
	if err == nil {
		defer l.Close()
	}
	if len(es) != 0 {
		t.Fatalf("replayed %d entries through a symlink", len(es))
	}
}

func BenchmarkAppendRelease(b *testing.B) {
	l, _, _, err := Open(Config{Dir: b.TempDir(), Sync: SyncNever})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	in := []NewEntry{{Signal: 1, Payload: bytes.Repeat([]byte("x"), 4096)}}
	b.ReportAllocs()
	b.SetBytes(4096)
	for range b.N {
		ids, locs, err := l.Append(in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.Read(locs[0]); err != nil {
			b.Fatal(err)
		}
		if err := l.Release(ids, locs); err != nil {
			b.Fatal(err)
		}
	}
}
