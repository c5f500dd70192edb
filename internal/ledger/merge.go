package ledger

import (
	"cmp"
	"slices"
)

// Part is what one node holds of a run: its step lines and span records
// in file order (several collectors behind Kafka may each hold part of a
// run after its partition moved).
type Part struct {
	Lines []Line
	Spans []SpanRecord
}

// Merge returns the one view of a run whose ledger is split over parts,
// given in node order: the step lines ordered by ts (ties: node order,
// then the node's seq), a line whose event_id was already taken dropped
// (a redelivery written on two nodes), seq renumbered 1..N in that order;
// and the span records, one per (trace_id, span_id): the record with the
// latest end (ties: the first in node order). Lines without an event_id
// (written by hand) are all kept. The parts' maps and strings are shared,
// not copied.
func Merge(parts []Part) ([]Line, []SpanRecord) {
	type ref struct {
		node int
		l    *Line
	}
	var refs []ref
	for n := range parts {
		for i := range parts[n].Lines {
			refs = append(refs, ref{n, &parts[n].Lines[i]})
		}
	}
	slices.SortStableFunc(refs, func(a, b ref) int {
		return cmp.Or(a.l.TS.Compare(b.l.TS), cmp.Compare(a.node, b.node), cmp.Compare(a.l.Seq, b.l.Seq))
	})
	lines := make([]Line, 0, len(refs))
	seen := make(map[string]struct{}, len(refs))
	for _, r := range refs {
		if r.l.EventID != "" {
			if _, dup := seen[r.l.EventID]; dup {
				continue
			}
			seen[r.l.EventID] = struct{}{}
		}
		l := *r.l
		l.Seq = uint64(len(lines) + 1)
		lines = append(lines, l)
	}

	type spanKey struct{ trace, span string }
	at := map[spanKey]int{}
	var spans []SpanRecord
	for n := range parts {
		for _, s := range parts[n].Spans {
			k := spanKey{s.TraceID, s.SpanID}
			if i, ok := at[k]; ok {
				if s.End.After(spans[i].End) {
					spans[i] = s
				}
				continue
			}
			at[k] = len(spans)
			spans = append(spans, s)
		}
	}
	slices.SortStableFunc(spans, func(a, b SpanRecord) int { return a.Start.Compare(b.Start) })
	return lines, spans
}

// Collect appends a copy of l to the part's lines: a read callback
// (ReadSpans), whose Line is reused.
func (p *Part) Collect(l *Line) error {
	p.Lines = append(p.Lines, *l)
	return nil
}

// CollectSpan appends a copy of s to the part's span records.
func (p *Part) CollectSpan(s *SpanRecord) error {
	p.Spans = append(p.Spans, *s)
	return nil
}
