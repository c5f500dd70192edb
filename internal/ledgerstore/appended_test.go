package ledgerstore_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/ledgerstore"
)

// The Appended hook hands over exactly what a reader of the file decodes
// (the summary fields), including texts the encoder rewrites, and the byte
// range the lines occupy.
func TestWriterAppendedMatchesFile(t *testing.T) {
	var got []ledger.Appended
	dir := t.TempDir()
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir, Hooks: ledgerstore.Hooks{Appended: func(a *ledger.Appended) {
		c := *a
		c.Lines = append([]ledger.Line(nil), a.Lines...)
		got = append(got, c)
	}}})
	oddLine := stepLine("r-odd\xff", 1, day1)
	oddLine.Kind = "stage\xfe.k"
	oddLine.Service = "svc\xff\xfe"
	odd := ledger.NewEntry(&oddLine) // the encoder writes invalid UTF-8 as U+FFFD
	dupLine := stepLine("r-a", 2, day1)
	dupLine.Status = "failed"
	dup := ledger.NewEntry(&dupLine)
	first := events("r-a", 0, 2, day1)
	mustWrite(t, w, append(first, odd))
	mustWrite(t, w, []ledger.Entry{dup, event("r-a", 3, day1.Add(time.Second))})
	mustWrite(t, w, []ledger.Entry{event("r-a", 3, day1.Add(time.Second))}) // deduped: no call

	if len(got) != 3 {
		t.Fatalf("%d Appended calls, want 3 (two for r-a, one for r-odd): %+v", len(got), got)
	}
	byPath := map[string][]ledger.Appended{}
	for _, a := range got {
		byPath[a.Path] = append(byPath[a.Path], a)
	}
	for path, as := range byPath {
		lines, st := readSummary(t, path)
		var from int64
		var heard []ledger.Line
		for _, a := range as {
			if a.From != from {
				t.Fatalf("%s: append from %d, want %d", path, a.From, from)
			}
			from = a.To
			heard = append(heard, a.Lines...)
		}
		if from != st.Offset {
			t.Fatalf("%s: appends end at %d, file at %d", path, from, st.Offset)
		}
		if len(heard) != len(lines) {
			t.Fatalf("%s: heard %d lines, file has %d", path, len(heard), len(lines))
		}
		for i := range lines {
			want := ledger.Line{V: lines[i].V, RunID: lines[i].RunID, Seq: lines[i].Seq, TS: lines[i].TS,
				Kind: lines[i].Kind, Status: lines[i].Status, Service: lines[i].Service}
			if !reflect.DeepEqual(heard[i], want) {
				t.Fatalf("%s line %d: heard %+v\nfile     %+v", path, i, heard[i], want)
			}
		}
	}
	if as := byPath[ledger.RunPath(dir, day1, "r-a")]; len(as) != 2 || as[1].Lines[0].Status != "failed" {
		t.Fatalf("r-a appends: %+v", as)
	}
}

func readSummary(t *testing.T, path string) ([]ledger.Line, ledger.ReadStats) {
	t.Helper()
	var out []ledger.Line
	st, err := ledger.ReadSummaryFrom(path, 0, func(l *ledger.Line) error {
		c := *l
		c.ErrorCode, c.TraceID, c.SpanID, c.SpanName, c.EventID = "", "", "", "", ""
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, st
}
