package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/internal/stepschema"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCountLedgers(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "2026-11-25", "load-1.jsonl"), "{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3}\n")
	// A torn last line is not a line.
	writeFile(t, filepath.Join(dir, "2026-11-25", "load-2.jsonl"), "{\"seq\":1}\n{\"se")
	writeFile(t, filepath.Join(dir, "2026-11-26", "trace-0af7651916cd43dd8448eb211c80319c.jsonl"), "{}\n{}\n")
	writeFile(t, filepath.Join(dir, "2026-11-25", "notes.txt"), "not\na\nledger\n")

	out, err := countLedgers(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Output{Files: 3, Bytes: 30 + 14 + 6, Lines: 6, StepEvents: 6, FallbackEvents: 2, FallbackFiles: 1}
	if out != want {
		t.Errorf("countLedgers = %+v, want %+v", out, want)
	}
	if _, err := countLedgers(filepath.Join(dir, "missing")); err == nil {
		t.Error("no error for a missing folder")
	}
}

func TestCountPatternAcrossReads(t *testing.T) {
	pat := []byte("abcab")
	for _, in := range []string{
		"",
		"abcab",
		"abcabcab",                   // overlapping: counted once
		"xxabcabxxabcab\nabcababcab", // 4
		strings.Repeat("abcab\n", 1000),
	} {
		want := int64(0)
		for rest := in; ; {
			i := strings.Index(rest, string(pat))
			if i < 0 {
				break
			}
			want++
			rest = rest[i+len(pat):]
		}
		// Whole, then one byte per read (every match straddles reads).
		for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
			hits, lines, size, err := countPattern(r, pat)
			if err != nil || hits != want || lines != int64(strings.Count(in, "\n")) || size != int64(len(in)) {
				t.Errorf("%T %q: hits %d lines %d size %d err %v; want hits %d", r, in, hits, lines, size, err, want)
			}
		}
	}
	if _, _, _, err := countPattern(bytes.NewReader(nil), nil); err == nil {
		t.Error("no error for an empty pattern")
	}
}

// peerTraces builds a request like the load's: stage spans with step
// events, a span with a non-step event, a noise span without events.
func peerTraces(spans int) (ptrace.Traces, int64) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr(stepschema.AttrServiceName, "svc")
	ss := rs.ScopeSpans().AppendEmpty()
	var steps int64
	for i := 0; i < spans; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetName("stage")
		sp.Attributes().PutStr("db.system", "redis")
		switch i % 3 {
		case 0: // noise
		case 1:
			ev := sp.Events().AppendEmpty()
			ev.SetName("exception")
			ev.Attributes().PutStr("exception.message", "step.kind mentioned in a value")
		default:
			for k := 0; k < 5; k++ {
				ev := sp.Events().AppendEmpty()
				ev.SetName("embed.vllm")
				ev.Attributes().PutStr(stepschema.AttrKind, "embed.vllm")
				ev.Attributes().PutStr(stepschema.AttrStatus, "ok")
				ev.Attributes().PutDouble(stepschema.AttrDurationMS, 1.5)
				steps++
			}
		}
	}
	return td, steps
}

// decodeSteps counts step events the slow way, with the pdata decoder.
func decodeSteps(t *testing.T, content []byte) int64 {
	t.Helper()
	var n int64
	var u ptrace.JSONUnmarshaler
	for _, line := range bytes.Split(bytes.TrimSpace(content), []byte{'\n'}) {
		td, err := u.UnmarshalTraces(line)
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					for _, ev := range sp.Events().All() {
						if _, ok := ev.Attributes().Get(stepschema.AttrKind); ok {
							n++
						}
					}
				}
			}
		}
	}
	return n
}

func TestCountPeerOutputMatchesDecoder(t *testing.T) {
	dir := t.TempDir()
	var m ptrace.JSONMarshaler
	var total, bytesTotal int64
	// The current file and a rotated backup, a few requests each.
	for _, name := range []string{"traces.json", "traces-2026-11-25T17-00-00.000.json"} {
		var buf bytes.Buffer
		var fileSteps int64
		for _, n := range []int{1, 7, 300} {
			td, steps := peerTraces(n)
			b, err := m.MarshalTraces(td)
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(b)
			buf.WriteByte('\n')
			fileSteps += steps
		}
		if got := decodeSteps(t, buf.Bytes()); got != fileSteps {
			t.Fatalf("%s: decoder counted %d step events, built %d", name, got, fileSteps)
		}
		total += fileSteps
		bytesTotal += int64(buf.Len())
		writeFile(t, filepath.Join(dir, name), buf.String())
	}
	out, err := countPeerOutput(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Output{Files: 2, Bytes: bytesTotal, Lines: 6, StepEvents: total}
	if out != want {
		t.Errorf("countPeerOutput = %+v, want %+v", out, want)
	}
}

func TestCountLedgersSkipsSpanRecords(t *testing.T) {
	dir := t.TempDir()
	body := `{"v":1,"run_id":"r","seq":1,"ts":"2026-11-25T09:00:00Z","kind":"a","status":"ok"}` + "\n" +
		`{"v":1,"run_id":"r","rec":"span","ts":"2026-11-25T09:00:00Z","end":"2026-11-25T09:00:01Z","trace_id":"t","span_id":"s","span_name":"n","status":"ok"}` + "\n" +
		`{"v":1,"run_id":"r","seq":2,"ts":"2026-11-25T09:00:01Z","kind":"b","status":"ok"}` + "\n"
	if err := os.MkdirAll(filepath.Join(dir, "2026-11-25"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "2026-11-25", "r.jsonl"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := countLedgers(dir)
	if err != nil || out.StepEvents != 2 {
		t.Fatalf("%+v %v: want 2 step events", out, err)
	}
}
