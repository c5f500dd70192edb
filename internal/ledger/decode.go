package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Lines are decoded in two ways. The fast path reads exactly the canonical
// form the encoder writes (keys in schema order, no whitespace, strings
// with the escapes encoding/json understands except surrogates, JSON
// numbers) without reflection, with strings sharing one copy of the line.
// Anything else (hand-edited lines, other key orders or case, null values,
// deep nesting) gives up and goes to encoding/json, which is then the
// definition of what a line means. FuzzDecodeLine checks that the two agree
// on every line the fast path accepts.

// decodeLineMode decodes b into l, which must be zero, skipping the bulky
// fields when summary is set. It does not check the schema version or the
// required fields.
func decodeLineMode(b []byte, l *Line, summary bool) error {
	if decodeFast(b, l, summary) {
		return nil
	}
	*l = Line{}
	if !summary {
		if err := json.Unmarshal(b, l); err != nil {
			return fmt.Errorf("ledger line: %w", err)
		}
		return nil
	}
	var s summaryLine
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("ledger line: %w", err)
	}
	*l = Line{V: s.V, RunID: s.RunID, Seq: s.Seq, TS: s.TS, Kind: s.Kind, Status: s.Status,
		ErrorCode: s.ErrorCode, DurationMS: s.DurationMS, TraceID: s.TraceID, SpanID: s.SpanID,
		SpanName: s.SpanName, Service: s.Service, EventID: s.EventID}
	return nil
}

// summaryLine is Line with the fields a summary skips only checked to be
// JSON.
type summaryLine struct {
	V          int             `json:"v"`
	RunID      string          `json:"run_id"`
	Seq        uint64          `json:"seq"`
	TS         time.Time       `json:"ts"`
	Kind       string          `json:"kind"`
	Status     string          `json:"status"`
	ErrorCode  string          `json:"error_code"`
	Detail     json.RawMessage `json:"detail"`
	DurationMS *float64        `json:"duration_ms"`
	Sizes      json.RawMessage `json:"sizes"`
	Resources  json.RawMessage `json:"resources"`
	Attrs      json.RawMessage `json:"attrs"`
	TraceID    string          `json:"trace_id"`
	SpanID     string          `json:"span_id"`
	SpanName   string          `json:"span_name"`
	Service    string          `json:"service"`
	EventID    string          `json:"event_id"`
}

// Optional keys in schema order, after status.
const (
	keyErrorCode = iota
	keyDetail
	keyDurationMS
	keySizes
	keyResources
	keyAttrs
	keyTraceID
	keySpanID
	keySpanName
	keyService
	keyEventID
)

var optionalKeys = [...]string{"error_code", "detail", "duration_ms", "sizes", "resources", "attrs",
	"trace_id", "span_id", "span_name", "service", "event_id"}

// maxFastDepth bounds nesting on the fast path; deeper lines (rare, and
// bounded by encoding/json's own limit) take the slow one.
const maxFastDepth = 64

// fastDecoder reads one canonical line. s is b as a string, so strings
// without escapes are handed out as substrings of one copy.
type fastDecoder struct {
	b []byte
	s string
	i int
	// scan checks duration_ms without keeping it (it would take an
	// allocation): lineSeqID needs only seq and event_id.
	scan bool
}

// decodeFast decodes a canonical line into l, reporting false (l then
// partly filled) for anything else. l's strings share one copy of b.
func decodeFast(b []byte, l *Line, summary bool) bool {
	if !canonicalStart(b) {
		return false
	}
	d := fastDecoder{b: b, s: string(b), i: len(canonicalHead)}
	return d.line(l, summary)
}

const canonicalHead = `{"v":1,"run_id":`

func canonicalStart(b []byte) bool {
	return bytes.HasPrefix(b, []byte(canonicalHead)) && b[len(b)-1] == '}'
}

// lineSeqID returns the seq and event id (zero when it has none) of a valid
// line, for torn-tail recovery, which may read many lines on a file's open:
// a canonical line is decoded without copying it, so the Line's strings
// alias b and must not outlive the call.
func lineSeqID(b []byte) (seq uint64, id EventID, ok bool) {
	if isSpanLine(b) {
		return 0, id, false // no seq; the step lines before it have one
	}
	var l Line
	d := fastDecoder{b: b, i: len(canonicalHead), scan: true}
	if canonicalStart(b) {
		d.s = unsafe.String(unsafe.SliceData(b), len(b))
	}
	if d.s == "" || !d.line(&l, true) {
		// Declared here so that only this rare path allocates it (the
		// fallback's Line escapes into encoding/json).
		slow := new(Line)
		if decodeLineMode(b, slow, true) != nil {
			return 0, id, false
		}
		l = *slow
	}
	if l.V != Version || l.RunID == "" || l.Kind == "" {
		return 0, id, false
	}
	id, _ = ParseEventID(l.EventID)
	return l.Seq, id, true
}

// line decodes the line after its head (canonicalStart) into l.
func (d *fastDecoder) line(l *Line, summary bool) bool {
	b := d.b
	var ok bool
	if l.RunID, ok = d.str(); !ok || !d.lit(`,"seq":`) {
		return false
	}
	if l.Seq, ok = d.uint(); !ok || !d.lit(`,"ts":`) || !d.ts(&l.TS) || !d.lit(`,"kind":`) {
		return false
	}
	if l.Kind, ok = d.str(); !ok || !d.lit(`,"status":`) {
		return false
	}
	if l.Status, ok = d.str(); !ok {
		return false
	}
	next := 0
	for {
		if d.i == len(b)-1 {
			l.V = 1
			return true
		}
		if !d.lit(`,"`) {
			return false
		}
		k := d.optionalKey(next)
		if k < 0 || !d.lit(`":`) {
			return false
		}
		next = k + 1
		switch k {
		case keyErrorCode:
			l.ErrorCode, ok = d.str()
		case keyDetail:
			l.Detail, ok = d.strKeep(!summary)
		case keyDurationMS:
			var f float64
			if f, ok = d.number(); ok && !d.scan {
				l.DurationMS = new(float64) // allocated here only: &f would move f to the heap
				*l.DurationMS = f
			}
		case keySizes:
			ok = d.sizes(l, summary)
		case keyResources:
			ok = d.resources(l, summary)
		case keyAttrs:
			if d.i >= len(b) || b[d.i] != '{' {
				return false
			}
			var v any
			v, ok = d.value(!summary, 1)
			if !summary && ok {
				l.Attrs = v.(map[string]any)
			}
		case keyTraceID:
			l.TraceID, ok = d.str()
		case keySpanID:
			l.SpanID, ok = d.str()
		case keySpanName:
			l.SpanName, ok = d.str()
		case keyService:
			l.Service, ok = d.str()
		case keyEventID:
			l.EventID, ok = d.str()
		}
		if !ok {
			return false
		}
	}
}

// lit consumes lit.
func (d *fastDecoder) lit(lit string) bool {
	if !bytes.HasPrefix(d.b[d.i:], []byte(lit)) {
		return false
	}
	d.i += len(lit)
	return true
}

// optionalKey consumes the name of an optional key at or after index from
// in schema order and returns its index, or -1.
func (d *fastDecoder) optionalKey(from int) int {
	end := bytes.IndexByte(d.b[d.i:], '"')
	if end < 0 {
		return -1
	}
	name := d.s[d.i : d.i+end]
	for k := from; k < len(optionalKeys); k++ {
		if optionalKeys[k] == name {
			d.i += end
			return k
		}
	}
	return -1
}

// str reads a string.
func (d *fastDecoder) str() (string, bool) { return d.strKeep(true) }

// strKeep reads a string; with keep false it only checks it and returns "".
func (d *fastDecoder) strKeep(keep bool) (string, bool) {
	b := d.b
	i := d.i
	if i >= len(b) || b[i] != '"' {
		return "", false
	}
	i++
	start := i
	escaped, high := false, false
	for {
		if i >= len(b) {
			return "", false
		}
		c := b[i]
		switch {
		case c == '"':
			raw := b[start:i]
			if high && !utf8.Valid(raw) {
				return "", false // encoding/json rewrites it
			}
			d.i = i + 1
			switch {
			case !keep:
				return "", !escaped || validEscapes(raw)
			case !escaped:
				return d.s[start:i], true
			}
			return unescape(raw)
		case c == '\\':
			escaped = true
			i += 2
		case c < 0x20:
			return "", false
		default:
			high = high || c >= utf8.RuneSelf
			i++
		}
	}
}

// validEscapes reports whether unescape accepts raw, without allocating.
func validEscapes(raw []byte) bool {
	_, ok := unescapeTo(nil, raw, false)
	return ok
}

// unescape decodes the escapes of a string's contents, giving up on
// surrogates (encoding/json pairs or replaces them).
func unescape(raw []byte) (string, bool) {
	out, ok := unescapeTo(make([]byte, 0, len(raw)), raw, true)
	if !ok {
		return "", false
	}
	return string(out), true
}

// unescapeTo appends the decoded contents of raw to out (only checking them
// when keep is false).
func unescapeTo(out, raw []byte, keep bool) ([]byte, bool) {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			if keep {
				out = append(out, raw[i])
			}
			continue
		}
		i++
		r := rune(raw[i])
		switch raw[i] {
		case '"', '\\', '/':
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			if i+4 >= len(raw) {
				return out, false
			}
			r = 0
			for _, h := range raw[i+1 : i+5] {
				switch {
				case '0' <= h && h <= '9':
					r = r<<4 | rune(h-'0')
				case 'a' <= h|0x20 && h|0x20 <= 'f':
					r = r<<4 | rune(h|0x20-'a'+10)
				default:
					return out, false
				}
			}
			if utf16.IsSurrogate(r) {
				return out, false
			}
			i += 4
		default:
			return out, false
		}
		if keep {
			out = utf8.AppendRune(out, r)
		}
	}
	return out, true
}

// uint reads a JSON integer that fits uint64.
func (d *fastDecoder) uint() (uint64, bool) {
	start := d.i
	end := d.intPart()
	if end < 0 || d.b[start] == '-' || (end < len(d.b) && (d.b[end] == '.' || d.b[end]|0x20 == 'e')) {
		return 0, false
	}
	n, err := strconv.ParseUint(d.s[start:end], 10, 64)
	d.i = end
	return n, err == nil
}

// intPart returns the end of the integer part of a JSON number at d.i
// (with its sign), or -1.
func (d *fastDecoder) intPart() int {
	b, i := d.b, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		return i + 1
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i
	}
	return -1
}

// number reads a JSON number that fits float64.
func (d *fastDecoder) number() (float64, bool) {
	b, start := d.b, d.i
	i := d.intPart()
	if i < 0 {
		return 0, false
	}
	digits := func() bool {
		j := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return 0, false
		}
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(d.s[start:i], 64)
	d.i = i
	return f, err == nil
}

// ts reads the ts string as encoding/json does, through time.Time's own
// UnmarshalJSON.
func (d *fastDecoder) ts(t *time.Time) bool {
	start := d.i
	if _, ok := d.str(); !ok || bytes.IndexByte(d.b[start:d.i], '\\') >= 0 {
		return false
	}
	return t.UnmarshalJSON(d.b[start:d.i]) == nil
}

// object reads the members of an object, calling member with the decoder
// at each value.
func (d *fastDecoder) object(member func(key string) bool) bool {
	if !d.lit("{") {
		return false
	}
	if d.lit("}") {
		return true
	}
	for {
		k, ok := d.str()
		if !ok || !d.lit(":") || !member(k) {
			return false
		}
		if d.lit("}") {
			return true
		}
		if !d.lit(",") {
			return false
		}
	}
}

func (d *fastDecoder) sizes(l *Line, summary bool) bool {
	if summary {
		_, ok := d.value(false, 1)
		return ok
	}
	l.Sizes = make(map[string]float64)
	return d.object(func(k string) bool {
		f, ok := d.number()
		l.Sizes[k] = f
		return ok
	})
}

func (d *fastDecoder) resources(l *Line, summary bool) bool {
	if summary {
		_, ok := d.value(false, 1)
		return ok
	}
	l.Resources = make(map[string]string)
	return d.object(func(k string) bool {
		s, ok := d.str()
		l.Resources[k] = s
		return ok
	})
}

// value reads any JSON value as encoding/json decodes it into an empty
// interface; with keep false it only checks it.
func (d *fastDecoder) value(keep bool, depth int) (any, bool) {
	if d.i >= len(d.b) || depth > maxFastDepth {
		return nil, false
	}
	switch d.b[d.i] {
	case '"':
		if !keep {
			_, ok := d.strKeep(false)
			return nil, ok
		}
		return d.str()
	case '{':
		var m map[string]any
		if keep {
			m = make(map[string]any)
		}
		ok := d.object(func(k string) bool {
			v, ok := d.value(keep, depth+1)
			if keep {
				m[k] = v
			}
			return ok
		})
		return m, ok
	case '[':
		d.i++
		var a []any
		if keep {
			a = make([]any, 0)
		}
		if d.lit("]") {
			return a, true
		}
		for {
			v, ok := d.value(keep, depth+1)
			if !ok {
				return nil, false
			}
			if keep {
				a = append(a, v)
			}
			if d.lit("]") {
				return a, true
			}
			if !d.lit(",") {
				return nil, false
			}
		}
	case 't':
		return true, d.lit("true")
	case 'f':
		return false, d.lit("false")
	case 'n':
		return nil, d.lit("null")
	}
	f, ok := d.number()
	if !ok || !keep {
		return nil, ok
	}
	if f >= 0 && f < float64(len(smallFloats)) && !math.Signbit(f) {
		if n := int(f); float64(n) == f {
			return smallFloats[n], true // no allocation for small counts
		}
	}
	return f, true
}

// smallFloats holds the float64 values 0 to 255 already boxed in an
// interface; attrs values are often small counts. The table is never
// written after initialisation, and boxed values cannot be changed, so
// sharing them between lines is safe.
var smallFloats = func() (t [256]any) {
	for i := range t {
		t[i] = float64(i)
	}
	return t
}()
