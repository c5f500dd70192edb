package ledger

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func ptr[T any](v T) *T { return &v }

func TestEncodeDecodeRoundTrip(t *testing.T) {
	ts := time.Date(2026, 11, 25, 10, 1, 2, 123456789, time.UTC)
	in := Line{
		V: 1, RunID: "r-42", Seq: 7, TS: ts, Kind: "ann.faiss.search", Status: "failed",
		ErrorCode: "timeout", Detail: "top-k \"search\"\n\x01 é",
		DurationMS: ptr(12.5),
		Sizes:      map[string]float64{"hits": 50, "bytes": 1.5e21, "tiny": 1e-9},
		Resources:  map[string]string{"index_version": "v3", "model": "m"},
		Attrs: map[string]any{"nprobe": 16.0, "channels": []any{"bm25", "ann"}, "ok": true, "none": nil,
			"nested": map[string]any{"a": "b"}},
		TraceID: "0102030405060708090a0b0c0d0e0f10", SpanID: "0102030405060708",
		SpanName: "faiss.search", Service: "retriever", EventID: "00112233445566778899aabbccddeeff",
	}
	b := Encode(&in)
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %s", b)
	}
	var out Line
	if err := DecodeLine(b, &out); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if !out.TS.Equal(in.TS) {
		t.Fatalf("ts %v != %v", out.TS, in.TS)
	}
	out.TS = in.TS
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip differs:\n in  %#v\n out %#v", in, out)
	}
	// Key order is the schema's.
	keys := []string{`"v"`, `"run_id"`, `"seq"`, `"ts"`, `"kind"`, `"status"`, `"error_code"`, `"detail"`,
		`"duration_ms"`, `"sizes"`, `"resources"`, `"attrs"`, `"trace_id"`, `"span_id"`, `"span_name"`,
		`"service"`, `"event_id"`}
	last := -1
	for _, k := range keys {
		i := strings.Index(string(b), k+":")
		if i <= last {
			t.Fatalf("key %s out of order in %s", k, b)
		}
		last = i
	}
}

func TestEncodeOmitsEmptyOptionalKeys(t *testing.T) {
	l := Line{RunID: "r", Seq: 1, TS: time.Unix(0, 0), Kind: "k"}
	got := string(Encode(&l))
	want := `{"v":1,"run_id":"r","seq":1,"ts":"1970-01-01T00:00:00Z","kind":"k","status":"ok"}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	vals := []float64{0, -0.0, 1, -1, 12.5, 0.1, 1e-6, 1e-7, 123456789, 1e20, 1e21, 1.5e300, 5e-324,
		math.MaxFloat64, -2.5e-10, 3.14159265358979, 100, 1 << 53}
	for _, v := range vals {
		want, _ := json.Marshal(v)
		if got := AppendFloat(nil, v); string(got) != string(want) {
			t.Errorf("%v: got %s want %s", v, got, want)
		}
	}
}

// expectString is what a JSON decoder must read back from AppendString(s):
// s with each byte of invalid UTF-8 replaced by U+FFFD.
func expectString(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.WriteString(s[i : i+n])
		}
		i += n
	}
	return sb.String()
}

func checkString(t *testing.T, s string) {
	t.Helper()
	b := AppendString(nil, s)
	if !json.Valid(b) || !utf8.Valid(b) {
		t.Fatalf("AppendString(%q) = %q is not valid JSON/UTF-8", s, b)
	}
	for _, c := range b {
		if c < 0x20 {
			t.Fatalf("raw control byte in %q", b)
		}
	}
	var got string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if want := expectString(s); got != want {
		t.Fatalf("AppendString(%q) decodes to %q, want %q", s, got, want)
	}
}

func TestAppendStringEscaping(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "nl\n cr\r tab\t bs\b ff\f",
		"\x00\x01\x1f\x7f", "é ü 日本 🚀", "bad \xff\xfe utf8 \xc3", "\u2028\u2029", "<html>&amp;",
		string(utf8.RuneError), "trunc \xe6\x97"} {
		checkString(t, s)
	}
	if got := string(AppendString(nil, "a\xffb")); got != `"a\ufffdb"` {
		t.Fatalf("invalid UTF-8: got %s", got)
	}
	if got := string(AppendString(nil, "<&>")); got != `"<&>"` {
		t.Fatalf("HTML characters are escaped: %s", got)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "日本\u2028", "\x00\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkString(t, s) })
}
