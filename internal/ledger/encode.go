package ledger

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/runledger/runledger/internal/stepschema"
)

// MaxDepth bounds nested maps and slices in attribute values; deeper
// values are written as null. Encoders of other sources (the exporter's
// pdata one) use it too, so every writer cuts at the same depth.
const MaxDepth = 64

// Encode returns l as one ledger line without its trailing newline.
func Encode(l *Line) []byte {
	return AppendLine(make([]byte, 0, 512), l)
}

// AppendLine appends l as one ledger line (keys in schema order, no trailing
// newline) to dst. Map keys of Sizes, Resources and Attrs are sorted so the
// output is deterministic; an empty Status is written as "ok". It is the
// reference encoder for tools and tests; the exporter renders its lines
// straight from pdata into the same form.
func AppendLine(dst []byte, l *Line) []byte {
	v := l.V
	if v == 0 {
		v = Version
	}
	b := append(dst, `{"v":`...)
	b = strconv.AppendInt(b, int64(v), 10)
	b = append(b, `,"run_id":`...)
	b = AppendString(b, l.RunID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, l.Seq, 10)
	return AppendTail(b, l)
}

// AppendTail appends the part of l's line that follows seq, from `,"ts":`
// to the closing brace: the Tail of an Entry (see AppendEntry).
func AppendTail(dst []byte, l *Line) []byte {
	b := append(dst, `,"ts":`...)
	b = appendTime(b, l.TS)
	b = append(b, `,"kind":`...)
	b = AppendString(b, l.Kind)
	b = append(b, `,"status":`...)
	if l.Status == "" {
		b = AppendString(b, stepschema.StatusOK)
	} else {
		b = AppendString(b, l.Status)
	}
	if l.ErrorCode != "" {
		b = append(b, `,"error_code":`...)
		b = AppendString(b, l.ErrorCode)
	}
	if l.Detail != "" {
		b = append(b, `,"detail":`...)
		b = AppendString(b, l.Detail)
	}
	if l.DurationMS != nil && finite(*l.DurationMS) {
		b = append(b, `,"duration_ms":`...)
		b = AppendFloat(b, *l.DurationMS)
	}
	if len(l.Sizes) > 0 {
		first := true
		for _, k := range slices.Sorted(maps.Keys(l.Sizes)) {
			f := l.Sizes[k]
			if !finite(f) {
				continue
			}
			b = AppendMemberKey(b, `,"sizes":{`, k, &first)
			b = AppendFloat(b, f)
		}
		if !first {
			b = append(b, '}')
		}
	}
	if len(l.Resources) > 0 {
		b = append(b, `,"resources":{`...)
		for i, k := range slices.Sorted(maps.Keys(l.Resources)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, k)
			b = append(b, ':')
			b = AppendString(b, l.Resources[k])
		}
		b = append(b, '}')
	}
	if len(l.Attrs) > 0 {
		b = append(b, `,"attrs":`...)
		b = appendAnyMap(b, l.Attrs, 0)
	}
	b = AppendOptString(b, `,"trace_id":`, l.TraceID)
	b = AppendOptString(b, `,"span_id":`, l.SpanID)
	b = AppendOptString(b, `,"span_name":`, l.SpanName)
	b = AppendOptString(b, `,"service":`, l.Service)
	b = AppendOptString(b, `,"event_id":`, l.EventID)
	return append(b, '}')
}

// AppendMemberKey writes open (for the first member of an object, which
// *first says and which it clears) or a comma, then the quoted key and a
// colon: the way optional objects such as sizes are written only when they
// get a member.
func AppendMemberKey(b []byte, open, key string, first *bool) []byte {
	if *first {
		b = append(b, open...)
		*first = false
	} else {
		b = append(b, ',')
	}
	b = AppendString(b, key)
	return append(b, ':')
}

// AppendOptString writes key (such as `,"service":`) and the quoted s, or
// nothing when s is empty: how optional string fields are written.
func AppendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, key...)
	return AppendString(b, s)
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendAnyMap(b []byte, m map[string]any, depth int) []byte {
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, k)
		b = append(b, ':')
		b = appendAny(b, m[k], depth+1)
	}
	return append(b, '}')
}

// appendAny writes a decoded-JSON-like Go value. Unusual types go through
// encoding/json; values it cannot encode become null.
func appendAny(b []byte, v any, depth int) []byte {
	if depth > MaxDepth {
		return append(b, "null"...)
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return AppendString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case float64:
		return AppendNumber(b, x)
	case float32:
		return AppendNumber(b, float64(x))
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10)
	case json.Number:
		if _, err := strconv.ParseFloat(string(x), 64); err == nil {
			return append(b, x...)
		}
		return AppendString(b, string(x))
	case []byte:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, x)
		return append(b, '"')
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendAny(b, e, depth+1)
		}
		return append(b, ']')
	case []string:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, e)
		}
		return append(b, ']')
	case map[string]any:
		return appendAnyMap(b, x, depth)
	default:
		enc, err := json.Marshal(x)
		if err != nil {
			return append(b, "null"...)
		}
		return append(b, enc...)
	}
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// AppendNumber writes f as a JSON number, or as the string "NaN", "+Inf" or
// "-Inf", which JSON has no number for.
func AppendNumber(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Inf"`...)
	}
	return AppendFloat(b, f)
}

// AppendFloat writes a finite f in the shortest form that parses back to
// the same float64, the way encoding/json does: integral values without a
// fraction ("12"), exponents only for very small or very large magnitudes.
func AppendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 -> 1e-7, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// AppendString writes s as a quoted JSON string. Control characters, quote
// and backslash are escaped, U+2028/U+2029 too (so lines are safe to embed
// in JavaScript), and every byte of invalid UTF-8 becomes \ufffd. HTML
// characters are kept as they are.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
