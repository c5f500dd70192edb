package ledger

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// decodeLineStd is the reference decoder: DecodeLine as it was written with
// encoding/json. DecodeLine must accept and reject the same lines and give
// the same Line.
func decodeLineStd(b []byte, l *Line) error {
	*l = Line{}
	if err := json.Unmarshal(b, l); err != nil {
		return err
	}
	if l.V != Version || l.RunID == "" || l.Kind == "" {
		return ErrInvalidLine
	}
	return nil
}

// sameFloat compares bit for bit, so NaN equals NaN and 0 differs from -0.
func sameFloat(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b)
}

// sameValue compares decoded JSON values (as encoding/json decodes into an
// empty interface), telling nil maps and slices from empty ones.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && sameFloat(x, y)
	case []any:
		y, ok := b.([]any)
		if !ok || (x == nil) != (y == nil) || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || (x == nil) != (y == nil) || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	}
	return false
}

// diffLines returns how got differs from want, or "".
func diffLines(got, want *Line) string {
	var d []string
	check := func(name string, ok bool) {
		if !ok {
			d = append(d, name)
		}
	}
	check("v", got.V == want.V)
	check("run_id", got.RunID == want.RunID)
	check("seq", got.Seq == want.Seq)
	_, gotOff := got.TS.Zone()
	_, wantOff := want.TS.Zone()
	check("ts", got.TS.Equal(want.TS) && gotOff == wantOff && got.TS.Location().String() == want.TS.Location().String())
	check("kind", got.Kind == want.Kind)
	check("status", got.Status == want.Status)
	check("error_code", got.ErrorCode == want.ErrorCode)
	check("detail", got.Detail == want.Detail)
	check("duration_ms", (got.DurationMS == nil) == (want.DurationMS == nil) &&
		(got.DurationMS == nil || sameFloat(*got.DurationMS, *want.DurationMS)))
	sizesOK := (got.Sizes == nil) == (want.Sizes == nil) && len(got.Sizes) == len(want.Sizes)
	for k, v := range want.Sizes {
		w, ok := got.Sizes[k]
		sizesOK = sizesOK && ok && sameFloat(v, w)
	}
	check("sizes", sizesOK)
	resOK := (got.Resources == nil) == (want.Resources == nil) && len(got.Resources) == len(want.Resources)
	for k, v := range want.Resources {
		w, ok := got.Resources[k]
		resOK = resOK && ok && v == w
	}
	check("resources", resOK)
	var gotAttrs, wantAttrs any = got.Attrs, want.Attrs
	if got.Attrs == nil {
		gotAttrs = map[string]any(nil)
	}
	check("attrs", sameValue(gotAttrs, wantAttrs))
	check("trace_id", got.TraceID == want.TraceID)
	check("span_id", got.SpanID == want.SpanID)
	check("span_name", got.SpanName == want.SpanName)
	check("service", got.Service == want.Service)
	check("event_id", got.EventID == want.EventID)
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprintf("fields %v differ:\n got %#v\nwant %#v", d, *got, *want)
}

// checkAgainstStd decodes in with DecodeLine and with encoding/json and
// fails t if they disagree.
func checkAgainstStd(t *testing.T, in []byte) {
	t.Helper()
	var got, want Line
	errGot := DecodeLine(in, &got)
	errWant := decodeLineStd(in, &want)
	if (errGot == nil) != (errWant == nil) || errors.Is(errGot, ErrInvalidLine) != errors.Is(errWant, ErrInvalidLine) {
		t.Fatalf("input %q:\n got error %v\nwant error %v", in, errGot, errWant)
	}
	if errWant != nil && !errors.Is(errWant, ErrInvalidLine) {
		return
	}
	if d := diffLines(&got, &want); d != "" {
		t.Fatalf("input %q: %s", in, d)
	}
}

// checkFastPath fails t if the fast path accepts in (in full or summary
// mode) and encoding/json reads it differently.
func checkFastPath(t *testing.T, in []byte) {
	t.Helper()
	var fast, want Line
	if decodeFast(in, &fast, false) {
		if err := json.Unmarshal(in, &want); err != nil {
			t.Fatalf("input %q: fast path accepts, encoding/json: %v", in, err)
		}
		if d := diffLines(&fast, &want); d != "" {
			t.Fatalf("input %q: fast path: %s", in, d)
		}
	}
	fast = Line{}
	if decodeFast(in, &fast, true) {
		var sum summaryLine
		if err := json.Unmarshal(in, &sum); err != nil {
			t.Fatalf("input %q: fast summary accepts, encoding/json: %v", in, err)
		}
		want = Line{V: sum.V, RunID: sum.RunID, Seq: sum.Seq, TS: sum.TS, Kind: sum.Kind, Status: sum.Status,
			ErrorCode: sum.ErrorCode, DurationMS: sum.DurationMS, TraceID: sum.TraceID, SpanID: sum.SpanID,
			SpanName: sum.SpanName, Service: sum.Service, EventID: sum.EventID}
		if d := diffLines(&fast, &want); d != "" {
			t.Fatalf("input %q: fast summary: %s", in, d)
		}
	}
}

// The lines the encoder writes take the fast path.
func TestCanonicalLinesTakeFastPath(t *testing.T) {
	d := 12.5
	lines := [][]byte{benchLine(0), benchLine(4321), Encode(&Line{V: 1, RunID: "r\u2028\"x", Seq: 3,
		TS: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Kind: "k\x01", Status: "failed", ErrorCode: "e",
		Detail: "d\xff\n\t\\", DurationMS: &d, Sizes: map[string]float64{"a": 1e-7, "b": 1e21},
		Resources: map[string]string{"\t": "\\"}, Attrs: map[string]any{"x": []any{map[string]any{"y": nil}},
			"n": math.Inf(1), "e": map[string]any{}, "s": []any{}}, TraceID: "t", SpanID: "s", SpanName: "n",
		Service: "svc", EventID: "0123456789abcdef0123456789abcdef"})}
	for _, in := range lines {
		for _, summary := range []bool{false, true} {
			var l Line
			if !decodeFast(in, &l, summary) {
				t.Errorf("fast path (summary %v) refuses %s", summary, in)
			}
		}
		checkFastPath(t, in)
	}
}

// decodeCases are lines that exercise the corners of the decoder; each is
// checked against encoding/json and seeds FuzzDecodeLine.
var decodeCases = []string{
	// plain, reordered, with and without optional keys
	`{"v":1,"run_id":"r","seq":1,"ts":"2026-11-25T09:00:00Z","kind":"k","status":"ok"}`,
	`{"kind":"k","ts":"2026-11-25T09:00:00.123456789Z","seq":2,"run_id":"r","v":1}`,
	` { "v" : 1 , "run_id" : "r" , "kind" : "k" } ` + "\t\r\n",
	`{"v":1,"run_id":"r","kind":"k","duration_ms":12.5,"sizes":{"a":1,"b":-2.5e3},"resources":{"x":"y"},` +
		`"attrs":{"n":16,"s":"t","b":true,"f":false,"z":null,"a":[1,"2",[],{}],"o":{"p":{"q":[null]}}}}`,
	// unknown keys of every type
	`{"v":1,"extra":{"a":[1,2,{"b":null}],"c":"\u00e9"},"run_id":"r","more":[true,false,null,-0.5e-3],"kind":"k","x":"y"}`,
	// null: no-op on strings and numbers, clears pointer and maps
	`{"v":1,"run_id":"r","kind":"k","status":null,"seq":null,"ts":null}`,
	`{"v":1,"run_id":"r","kind":"k","run_id":null,"v":null}`,
	`{"v":1,"run_id":"r","kind":"k","duration_ms":1,"duration_ms":null,"sizes":{"a":1},"sizes":null,"attrs":null}`,
	`{"v":1,"run_id":"r","kind":"k","sizes":{"a":null},"resources":{"b":null},"attrs":{"c":null}}`,
	// duplicates: last wins, maps merge
	`{"v":2,"v":1,"run_id":"a","run_id":"b","kind":"k","seq":1,"seq":2}`,
	`{"v":1,"run_id":"r","kind":"k","sizes":{"a":1},"sizes":{"b":2,"a":3},"attrs":{"x":1},"attrs":{"y":{"z":1}}}`,
	`{"v":1,"run_id":"r","kind":"k","resources":{"a":"1","a":"2"},"resources":{}}`,
	`{"v":1,"run_id":"r","kind":"k","sizes":{},"resources":{},"attrs":{}}`,
	// keys matched case-insensitively, with escapes, with Unicode folding
	`{"V":1,"RUN_ID":"r","Kind":"k","sTaTuS":"ok","Duration_MS":3}`,
	`{"v":1,"run\u005fid":"r","\u006bind":"k"}`,
	"{\"v\":1,\"run_id\":\"r\",\"\u212aind\":\"k\",\"\u017feq\":5}", // Kelvin sign, long s
	"{\"v\":1,\"run_id\":\"r\",\"kind\":\"k\",\"\u0130\":1,\"\u0131\":2}",
	`{"v":1,"run_id":"r","kind":"k","kind ":"x","KIND":"y"}`,
	// string escapes, surrogates, invalid UTF-8
	`{"v":1,"run_id":"r","kind":"k","detail":"a\"b\\c\/d\be\ff\ng\rh\ti\u0000j\u00e9\u20ac"}`,
	`{"v":1,"run_id":"r","kind":"k","detail":"\ud83d\ude00 \ud83d \ude00 \ud83dx \ud83d\u0041 \udc00\ud800\udc00"}`,
	`{"v":1,"run_id":"r","kind":"k","detail":"\uD800\uD800\uDC00","status":"\uDBFF\uDFFF"}`,
	"{\"v\":1,\"run_id\":\"r\xff\",\"kind\":\"k\xc3\",\"detail\":\"\xed\xa0\x80 \xf4\x90\x80\x80 ok \xc3\xa9\"}",
	"{\"v\":1,\"run_id\":\"r\",\"kind\":\"k\",\"resources\":{\"\xfe\":\"\xff\"},\"attrs\":{\"\xfe\":[\"\xff\\n\"]}}",
	"{\"v\":1,\"run_id\":\"r\",\"kind\":\"k\",\"detail\":\"\u2028\u2029\x7f\"}",
	// numbers
	`{"v":1,"run_id":"r","kind":"k","seq":18446744073709551615,"duration_ms":-0,"sizes":{"a":1E+2,"b":1e-400,"c":123456789012345678901234567890}}`,
	`{"v":1,"run_id":"r","kind":"k","seq":18446744073709551616}`,
	`{"v":1,"run_id":"r","kind":"k","seq":-0}`,
	`{"v":1,"run_id":"r","kind":"k","seq":1.0}`,
	`{"v":1.0,"run_id":"r","kind":"k"}`,
	`{"v":1e0,"run_id":"r","kind":"k"}`,
	`{"v":-1,"run_id":"r","kind":"k"}`,
	`{"v":1,"run_id":"r","kind":"k","duration_ms":1e309}`,
	`{"v":1,"run_id":"r","kind":"k","attrs":{"a":1e309}}`,
	`{"v":1,"run_id":"r","kind":"k","x":1e309}`,
	`{"v":1,"run_id":"r","kind":"k","attrs":{"a":0.1,"b":9007199254740993,"c":-9007199254740993,"d":5e-324}}`,
	`{"v":1,"run_id":"r","kind":"k","duration_ms":01}`,
	`{"v":1,"run_id":"r","kind":"k","duration_ms":1.}`,
	`{"v":1,"run_id":"r","kind":"k","duration_ms":.5}`,
	`{"v":1,"run_id":"r","kind":"k","duration_ms":1e}`,
	`{"v":1,"run_id":"r","kind":"k","duration_ms":+1}`,
	`{"v":1,"run_id":"r","kind":"k","duration_ms":-}`,
	// timestamps
	`{"v":1,"run_id":"r","kind":"k","ts":"2026-11-25T09:00:00.5+02:00"}`,
	`{"v":1,"run_id":"r","kind":"k","ts":"2026-11-25T09:00:00,5Z"}`,
	`{"v":1,"run_id":"r","kind":"k","ts":"2026-11-25T9:00:00Z"}`,
	`{"v":1,"run_id":"r","kind":"k","ts":"2026-11-25T09:00:00+24:00"}`,
	`{"v":1,"run_id":"r","kind":"k","ts":"2026-11-25 09:00:00Z"}`,
	`{"v":1,"run_id":"r","kind":"k","ts":"2026\u002d11-25T09:00:00Z"}`,
	`{"v":1,"run_id":"r","kind":"k","ts":""}`,
	`{"v":1,"run_id":"r","kind":"k","ts":0}`,
	`{"v":1,"run_id":"r","kind":"k","ts":{}}`,
	`{"v":1,"run_id":"r","kind":"k","ts":[]}`,
	// wrong types
	`{"v":"1","run_id":"r","kind":"k"}`,
	`{"v":1,"run_id":1,"kind":"k"}`,
	`{"v":1,"run_id":"r","kind":true}`,
	`{"v":1,"run_id":"r","kind":"k","detail":{}}`,
	`{"v":1,"run_id":"r","kind":"k","duration_ms":"1"}`,
	`{"v":1,"run_id":"r","kind":"k","sizes":[]}`,
	`{"v":1,"run_id":"r","kind":"k","sizes":{"a":"1"}}`,
	`{"v":1,"run_id":"r","kind":"k","sizes":{"a":true}}`,
	`{"v":1,"run_id":"r","kind":"k","resources":{"a":1}}`,
	`{"v":1,"run_id":"r","kind":"k","resources":"a"}`,
	`{"v":1,"run_id":"r","kind":"k","attrs":[1]}`,
	`{"v":1,"run_id":"r","kind":"k","attrs":"x"}`,
	// not a v1 line
	`{}`,
	`{"v":1,"run_id":"","kind":"k"}`,
	`{"v":1,"run_id":"r"}`,
	`null`,
	`[]`,
	`"x"`,
	`1`,
	`true`,
	``,
	` `,
	// syntax errors
	`{"v":1,"run_id":"r","kind":"k"`,
	`{"v":1,"run_id":"r","kind":"k"}}`,
	`{"v":1,"run_id":"r","kind":"k"} x`,
	`{"v":1,"run_id":"r","kind":"k"}{}`,
	`{"v":1,"run_id":"r","kind":"k",}`,
	`{"v":1,,"run_id":"r","kind":"k"}`,
	`{"v":1 "run_id":"r","kind":"k"}`,
	`{"v":1,"run_id":"r","kind":"k","x":[1,]}`,
	`{"v":1,"run_id":"r","kind":"k","x":[1}`,
	`{"v":1,"run_id":"r","kind":"k","x":{"a"}}`,
	`{"v":1,"run_id":"r","kind":"k","x":{1:2}}`,
	`{"v":1,"run_id":"r","kind":"k","x":tru}`,
	`{"v":1,"run_id":"r","kind":"k","x":nulll}`,
	`{"v":1,"run_id":"r","kind":"k","x":NaN}`,
	`{"v":1,"run_id":"r","kind":"k","detail":"a\x"}`,
	`{"v":1,"run_id":"r","kind":"k","detail":"a\u12"}`,
	`{"v":1,"run_id":"r","kind":"k","detail":"a\u12g4"}`,
	`{"v":1,"run_id":"r","kind":"k","detail":"\'"}`,
	"{\"v\":1,\"run_id\":\"r\",\"kind\":\"k\",\"detail\":\"a\tb\"}",
	"{\"v\":1,\"run_id\":\"r\",\"kind\":\"k\",\"detail\":\"a\x00b\"}",
	"\ufeff{\"v\":1,\"run_id\":\"r\",\"kind\":\"k\"}",
	`{'v':1}`,
}

func TestDecodeLineMatchesEncodingJSON(t *testing.T) {
	for _, c := range decodeCases {
		checkAgainstStd(t, []byte(c))
		checkFastPath(t, []byte(c))
	}
	deep := func(n int, open, closing string) string {
		return `{"v":1,"run_id":"r","kind":"k","attrs":{"a":` + strings.Repeat(open, n) + strings.Repeat(closing, n) + `}}`
	}
	// The line's object and attrs count: 9998 more levels are the most
	// encoding/json takes.
	for _, n := range []int{9997, 9998, 9999} {
		checkAgainstStd(t, []byte(deep(n, "[", "]")))
		checkAgainstStd(t, []byte(deep(n, `{"a":`, "}")))
		checkAgainstStd(t, []byte(strings.Replace(deep(n, "[", "]"), `"attrs"`, `"unknown"`, 1)))
	}
	for _, p := range testdataLines(t) {
		checkAgainstStd(t, p)
	}
}

func TestDecodeLineValues(t *testing.T) {
	in := `{"seq":7,"kind":"k","v":1,"run_id":"r-\u00e9","ts":"2026-11-25T10:01:02.123456789Z","detail":"a\nb\ud83d\ude00",` +
		`"attrs":{"n":16,"l":[1,"x",null,true]},"Status":"ok"}`
	var l Line
	if err := DecodeLine([]byte(in), &l); err != nil {
		t.Fatal(err)
	}
	want := Line{V: 1, RunID: "r-é", Seq: 7, TS: time.Date(2026, 11, 25, 10, 1, 2, 123456789, time.UTC),
		Kind: "k", Status: "ok", Detail: "a\nb😀", Attrs: map[string]any{"n": 16.0, "l": []any{1.0, "x", nil, true}}}
	if d := diffLines(&l, &want); d != "" {
		t.Fatal(d)
	}
	if err := DecodeLine([]byte(`{"v":1,"run_id":"r","kind":"k","seq":"7"}`), &l); err == nil ||
		errors.Is(err, ErrInvalidLine) || !strings.Contains(err.Error(), `seq`) || l.RunID != "" {
		t.Fatalf("wrong type: got %v, line %+v", err, l)
	}
	if err := DecodeLine([]byte(`{"v":2,"run_id":"r","kind":"k"}`), &l); !errors.Is(err, ErrInvalidLine) {
		t.Fatalf("v2: got %v", err)
	}
}

// TestReadLinesOwnTheirData checks what readers rely on: a shallow copy of
// the Line passed to the callback keeps its maps and strings, unchanged by
// later lines.
func TestReadLinesOwnTheirData(t *testing.T) {
	var buf bytes.Buffer
	for i := range 3 {
		d := float64(i)
		l := Line{V: 1, RunID: "r", Seq: uint64(i + 1), Kind: fmt.Sprintf("k%d", i), DurationMS: &d,
			Sizes: map[string]float64{"n": float64(i)}, Resources: map[string]string{"r": fmt.Sprint(i)},
			Attrs: map[string]any{"a": float64(i), "l": []any{float64(i)}}}
		buf.Write(Encode(&l))
		buf.WriteByte('\n')
	}
	var kept []Line
	st, err := Read(&buf, 0, func(l *Line) error { kept = append(kept, *l); return nil })
	if err != nil || st.Lines != 3 {
		t.Fatal(err, st)
	}
	for i, l := range kept {
		f := float64(i)
		if l.Kind != fmt.Sprintf("k%d", i) || *l.DurationMS != f || l.Sizes["n"] != f ||
			l.Resources["r"] != fmt.Sprint(i) || l.Attrs["a"] != f || l.Attrs["l"].([]any)[0] != f {
			t.Errorf("line %d changed by later lines: %+v", i, l)
		}
	}
}

func TestDecodeLineAllocs(t *testing.T) {
	b := benchLine(12345)
	var l Line
	allocs := testing.AllocsPerRun(100, func() {
		if err := DecodeLine(b, &l); err != nil {
			t.Fatal(err)
		}
	})
	// The line's string, duration_ms and three maps (map and its table
	// each); the attrs are small numbers, which need no allocation.
	if allocs > 8 {
		t.Errorf("DecodeLine: %v allocations per line, want at most 8", allocs)
	}
}

// testdataLines returns the lines of the report engine's test ledgers.
func testdataLines(tb testing.TB) [][]byte {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "report", "testdata", "*.jsonl"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no report test ledgers: %v", err)
	}
	var out [][]byte
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, MaxLineBytes)
		for sc.Scan() {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
		f.Close()
		if err := sc.Err(); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// benchLine is a line shaped like the report benchmark's (and the
// retrieval service's): sizes, resources, attrs, trace context.
func benchLine(i int) []byte {
	d := float64(i%97) + 0.5
	l := Line{V: 1, RunID: "r-big", Seq: uint64(i + 1),
		TS:   time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
		Kind: "ann.faiss.search", Status: "ok", DurationMS: &d,
		Sizes:     map[string]float64{"hits": float64(i % 50), "bytes": 4096},
		Resources: map[string]string{"index_version": "v3", "model": "bge-large"},
		Attrs:     map[string]any{"nprobe": 16, "batch": i / 100},
		TraceID:   fmt.Sprintf("%032x", i/50), SpanID: fmt.Sprintf("%016x", i), SpanName: "step",
		Service: "retriever", EventID: fmt.Sprintf("%032x", i)}
	return Encode(&l)
}

func FuzzDecodeLine(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c))
	}
	for _, p := range testdataLines(f) {
		f.Add(p)
	}
	f.Add(benchLine(7))
	for _, m := range []string{`"Seq":5,"ts":"2026-11-25T09:00:00Z"`, `"sizes":{"a":1},"sizes":{"b":2}`,
		`"detail":"\ud83d\ude00\ud800"`, `"x":[{"y":null}],"attrs":{"n":[1,2.5,"s"]}`} {
		f.Add([]byte(m))
	}
	d := 12.5
	f.Add(Encode(&Line{V: 1, RunID: "r\u2028\"x", Seq: 3, TS: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Kind: "k\x01",
		Status: "failed", ErrorCode: "e", Detail: "d\xff\n", DurationMS: &d,
		Sizes: map[string]float64{"a": 1e-7, "b": 1e21}, Resources: map[string]string{"\t": "\\"},
		Attrs: map[string]any{"x": []any{map[string]any{"y": nil}}, "n": math.Inf(1)}}))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkAgainstStd(t, in)
		checkFastPath(t, in)
		// Mutations of whole lines are seldom valid lines; also try the
		// input as members of a valid line and as an attrs value.
		const head = `{"v":1,"run_id":"r","kind":"k"`
		checkAgainstStd(t, slices.Concat([]byte(head+","), in, []byte("}")))
		checkAgainstStd(t, slices.Concat([]byte(head+`,"attrs":{"a":`), in, []byte("}}")))
		// And where the fast path reads them: a canonical line's values.
		const canon = `{"v":1,"run_id":"r","seq":1,"ts":"2026-11-25T09:00:00Z","kind":"k","status":"ok"`
		for _, key := range []string{`,"detail":`, `,"duration_ms":`, `,"sizes":{"a":`, `,"attrs":{"a":`} {
			closing := "}"
			if strings.HasSuffix(key, "{\"a\":") {
				closing = "}}"
			}
			line := slices.Concat([]byte(canon+key), in, []byte(closing))
			checkAgainstStd(t, line)
			checkFastPath(t, line)
		}
	})
}

// BenchmarkDecodeLine decodes lines like the report benchmark's.
func BenchmarkDecodeLine(b *testing.B) { benchDecode(b, DecodeLine) }

// BenchmarkDecodeLineStd is the same with encoding/json, for comparison.
func BenchmarkDecodeLineStd(b *testing.B) { benchDecode(b, decodeLineStd) }

func benchDecode(b *testing.B, decode func([]byte, *Line) error) {
	lines := make([][]byte, 1000)
	var size int64
	for i := range lines {
		lines[i] = benchLine(i)
		size += int64(len(lines[i]))
	}
	b.SetBytes(size / int64(len(lines)))
	b.ReportAllocs()
	var l Line
	n := 0
	for b.Loop() {
		if err := decode(lines[n%len(lines)], &l); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
