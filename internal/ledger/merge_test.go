package ledger

import (
	"testing"
	"time"
)

// A run split over two nodes, with events redelivered to both, merges into
// one timeline: ts order, each event once, seq 1..N; span records once per
// span, the most complete (latest end) record kept.
func TestMergeSplitRun(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	line := func(seq int, ms int, kind, id string) Line {
		return Line{V: 1, RunID: "r", Seq: uint64(seq), TS: at.Add(time.Duration(ms) * time.Millisecond), Kind: kind, Status: "ok", EventID: id}
	}
	a := Part{
		Lines: []Line{line(1, 0, "run.start", "e1"), line(2, 10, "embed", "e2"), line(3, 20, "ann", "e3")},
		Spans: []SpanRecord{{RunID: "r", TraceID: "t", SpanID: "s1", Start: at, End: at.Add(5 * time.Millisecond)}},
	}
	b := Part{
		// e3 redelivered after the partition moved; a hand-written line
		// without event id; a step at the same ts as one of a's.
		Lines: []Line{line(1, 20, "ann", "e3"), line(2, 10, "embed.rerank", "e4"), line(3, 30, "run.end", "e5"), line(4, 30, "note", "")},
		Spans: []SpanRecord{
			{RunID: "r", TraceID: "t", SpanID: "s1", Start: at, End: at.Add(40 * time.Millisecond)},
			{RunID: "r", TraceID: "t", SpanID: "s0", Start: at.Add(-time.Millisecond), End: at.Add(50 * time.Millisecond)},
		},
	}
	lines, spans := Merge([]Part{a, b})
	want := []string{"run.start", "embed", "embed.rerank", "ann", "run.end", "note"}
	if len(lines) != len(want) {
		t.Fatalf("merged %d lines, want %d: %+v", len(lines), len(want), lines)
	}
	for i, l := range lines {
		if l.Kind != want[i] || l.Seq != uint64(i+1) {
			t.Errorf("line %d: %s seq %d, want %s seq %d", i, l.Kind, l.Seq, want[i], i+1)
		}
		if i > 0 && l.TS.Before(lines[i-1].TS) {
			t.Errorf("line %d out of ts order", i)
		}
	}
	if len(spans) != 2 || spans[0].SpanID != "s0" || spans[1].SpanID != "s1" || !spans[1].End.Equal(at.Add(40*time.Millisecond)) {
		t.Fatalf("spans: %+v", spans)
	}
	// The parts are not modified: their seqs are the nodes' own.
	if b.Lines[1].Seq != 2 {
		t.Fatalf("part modified: %+v", b.Lines[1])
	}
}

func TestMergeNothing(t *testing.T) {
	lines, spans := Merge(nil)
	if len(lines) != 0 || len(spans) != 0 {
		t.Fatalf("%v %v", lines, spans)
	}
}

// BenchmarkMerge merges a run of 20,000 events split over two nodes, the
// 1,000 around the move redelivered to both.
func BenchmarkMerge(b *testing.B) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	const n, overlap = 20_000, 1_000
	var a, c Part
	for i := range n {
		l := Line{V: 1, RunID: "r", TS: at.Add(time.Duration(i) * time.Millisecond), Kind: "embed.vllm", Status: "ok",
			EventID: NewEventID([16]byte{1}, [8]byte{2}, uint64(i), "embed.vllm", 0).String()}
		if i < n/2+overlap/2 {
			l.Seq = uint64(len(a.Lines) + 1)
			a.Lines = append(a.Lines, l)
		}
		if i >= n/2-overlap/2 {
			l.Seq = uint64(len(c.Lines) + 1)
			c.Lines = append(c.Lines, l)
		}
	}
	parts := []Part{a, c}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		lines, _ := Merge(parts)
		if len(lines) != n {
			b.Fatalf("merged %d lines", len(lines))
		}
	}
	b.ReportMetric(float64(n+overlap)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
