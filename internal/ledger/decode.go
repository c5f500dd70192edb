package ledger

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The line decoder below is written by hand for speed: a report over a big
// ledger spends most of its time decoding lines. It accepts exactly the lines
// encoding/json accepts when unmarshalling into a Line and gives the same
// Line (FuzzDecodeLine checks this against encoding/json):
//   - keys in any order; unknown keys are skipped (but must be valid JSON);
//     keys match fields exactly or, failing that, case-insensitively the way
//     encoding/json folds them; the last of duplicate keys wins, and
//     duplicate "sizes", "resources" or "attrs" objects are merged;
//   - null leaves a string, number or "ts" unchanged and clears duration_ms
//     or a map; any other value of the wrong type is an error;
//   - strings are unescaped like encoding/json does it, with invalid UTF-8
//     and unpaired surrogates becoming U+FFFD;
//   - "ts" goes through time.Time's own UnmarshalJSON;
//   - attrs values decode to float64, string, bool, nil, []any and
//     map[string]any; objects and arrays nest at most maxNesting deep.
//
// Every decoded Line gets fresh maps (callers keep shallow copies of lines
// they were handed). Strings that need no unescaping are substrings of one
// copy of the line, so a line costs one string allocation however many
// fields it has.

// maxNesting bounds how deep objects and arrays nest in a line, the line's
// own object included. It is encoding/json's limit, so both reject the same
// lines.
const maxNesting = 10000

// lineError is a syntax or type error in a line.
type lineError struct {
	off int
	msg string
}

func (e *lineError) Error() string {
	return "ledger line: " + e.msg + " at offset " + strconv.Itoa(e.off)
}

// Bits of what scanString saw in a string's contents.
const (
	strEscaped = 1 << iota // a backslash escape
	strHigh                // a byte outside ASCII
)

// Bytes repeated over a word, for testing eight string bytes at once.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// strPlain marks the bytes a string may contain that need no attention:
// printable ASCII other than the quote and the backslash.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// lineDecoder reads one line. b is the line and s the same bytes as a
// string, so that substrings of s can be handed out without copying.
type lineDecoder struct {
	b     []byte
	s     string
	i     int // read position in b
	depth int // objects and arrays open at i
	// summary skips detail, sizes, resources and attrs (checked as JSON
	// only): the fields an index of many lines does not need.
	summary bool
}

// decodeLine decodes b into l, which must be zero. It does not check the
// schema version or the required fields.
func decodeLine(b []byte, l *Line) error { return decodeLineMode(b, l, false) }

// decodeLineMode is decodeLine, skipping the bulky fields when summary is set.
func decodeLineMode(b []byte, l *Line, summary bool) error {
	d := lineDecoder{b: b, summary: summary}
	switch d.peek() {
	case '{':
		d.s = string(b)
		if err := d.line(l); err != nil {
			return err
		}
	case 'n':
		// null leaves l as it is, as encoding/json does.
		if err := d.literal("null"); err != nil {
			return err
		}
	case 0:
		return d.syntax()
	default:
		// Valid JSON or not, anything else is not a line.
		return d.fail("line is not a JSON object")
	}
	if d.peek(); d.i != len(b) {
		return d.fail("data after the line's object")
	}
	return nil
}

func (d *lineDecoder) fail(msg string) error { return &lineError{off: d.i, msg: msg} }

func (d *lineDecoder) syntax() error {
	if d.i >= len(d.b) {
		return d.fail("unexpected end of line")
	}
	return d.fail("invalid character " + strconv.QuoteRune(rune(d.b[d.i])))
}

func (d *lineDecoder) wrongType(field string) error {
	return d.fail("wrong JSON type for " + strconv.Quote(field))
}

// peek skips white space and returns the next byte, or 0 at the end.
func (d *lineDecoder) peek() byte {
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c > ' ' || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c
		}
		d.i++
	}
	return 0
}

// enter consumes the '{' or '[' at i.
func (d *lineDecoder) enter() error {
	d.depth++
	if d.depth > maxNesting {
		return d.fail("objects and arrays nested too deep")
	}
	d.i++
	return nil
}

// next is called after an object member or array element: it consumes a
// comma (true) or the closing byte (false).
func (d *lineDecoder) next(closing byte) (bool, error) {
	switch d.peek() {
	case ',':
		d.i++
		return true, nil
	case closing:
		d.i++
		d.depth--
		return false, nil
	}
	return false, d.syntax()
}

// empty reports, just after enter, whether the closing byte follows at
// once, and consumes it if so.
func (d *lineDecoder) empty(closing byte) bool {
	if d.peek() == closing {
		d.i++
		d.depth--
		return true
	}
	return false
}

// literal consumes the word true, false or null at i.
func (d *lineDecoder) literal(word string) error {
	if len(d.b)-d.i >= len(word) && string(d.b[d.i:d.i+len(word)]) == word {
		d.i += len(word)
		return nil
	}
	return d.fail("invalid literal")
}

// scanString consumes the string whose opening quote is at i and returns the
// bounds of its contents and what they hold (strEscaped, strHigh).
func (d *lineDecoder) scanString() (start, end int, flags uint8, err error) {
	b := d.b
	i := d.i + 1
	start = i
	for i < len(b) {
		if len(b)-i >= 8 {
			// Eight bytes at a time: find the first that is a quote, a
			// backslash, a control character or outside ASCII. (Each
			// zero-byte test can flag bytes after a true match, never
			// before it, so the lowest flag is exact.)
			x := binary.LittleEndian.Uint64(b[i:])
			q := x ^ (lsb * '"')
			e := x ^ (lsb * '\\')
			m := ((q-lsb)&^q | (e-lsb)&^e | (x-lsb*' ')&^x | x) & msb
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		}
		c := b[i]
		if strPlain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			d.i = i + 1
			return start, i, flags, nil
		case c == '\\':
			flags |= strEscaped
			if i+1 >= len(b) {
				d.i = len(b)
				return 0, 0, 0, d.fail("unexpected end of line in string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || hex4(b[i+2:i+6]) < 0 {
					d.i = i
					return 0, 0, 0, d.fail("invalid \\u escape in string")
				}
				i += 6
			default:
				d.i = i
				return 0, 0, 0, d.fail("invalid escape in string")
			}
		case c < ' ':
			d.i = i
			return 0, 0, 0, d.fail("control character in string")
		default:
			flags |= strHigh
			i++
		}
	}
	d.i = len(b)
	return 0, 0, 0, d.fail("unexpected end of line in string")
}

// str returns the contents b[start:end] of a string as encoding/json
// unquotes them.
func (d *lineDecoder) str(start, end int, flags uint8) string {
	if flags == 0 || flags == strHigh && utf8.Valid(d.b[start:end]) {
		return d.s[start:end]
	}
	return unquote(d.b[start:end])
}

// readString consumes the string at i and returns its value.
func (d *lineDecoder) readString() (string, error) {
	start, end, flags, err := d.scanString()
	if err != nil {
		return "", err
	}
	return d.str(start, end, flags), nil
}

// hex4 returns the value of four hex digits, or -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unquote unescapes the contents of a string that scanString accepted, as
// encoding/json does: unpaired surrogates and invalid UTF-8 become U+FFFD.
func unquote(src []byte) string {
	var sb strings.Builder
	sb.Grow(len(src))
	run := 0 // start of the bytes not written yet
	for i := 0; i < len(src); {
		c := src[i]
		if c < utf8.RuneSelf && c != '\\' {
			i++
			continue
		}
		if c != '\\' {
			r, size := utf8.DecodeRune(src[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			sb.Write(src[run:i])
			sb.WriteRune(utf8.RuneError)
			i++
			run = i
			continue
		}
		sb.Write(src[run:i])
		switch e := src[i+1]; e {
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r := hex4(src[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if len(src)-i >= 6 && src[i] == '\\' && src[i+1] == 'u' {
					r2 = hex4(src[i+2:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					sb.WriteRune(dec)
					i += 6
					run = i
					continue
				}
				r = utf8.RuneError
			}
			sb.WriteRune(r)
			run = i
			continue
		default: // '"', '\\', '/'
			sb.WriteByte(e)
		}
		i += 2
		run = i
	}
	sb.Write(src[run:])
	return sb.String()
}

// scanNumber consumes the JSON number at i and returns it; digits reports
// that it is a plain unsigned integer.
func (d *lineDecoder) scanNumber() (num string, digits bool, err error) {
	b := d.b
	start := d.i
	i := start
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i++
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		d.i = i
		return "", false, d.syntax()
	}
	digits = b[start] != '-'
	if i < len(b) && b[i] == '.' {
		digits = false
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			return "", false, d.syntax()
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		digits = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			return "", false, d.syntax()
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	d.i = i
	return d.s[start:i], digits, nil
}

// readFloat consumes the number at i as a float64; like encoding/json it
// fails on numbers out of float64's range.
func (d *lineDecoder) readFloat() (float64, error) {
	num, digits, err := d.scanNumber()
	if err != nil {
		return 0, err
	}
	if digits && len(num) <= 15 {
		// Below 2^53: exact, as strconv would give it.
		var n uint64
		for i := 0; i < len(num); i++ {
			n = n*10 + uint64(num[i]-'0')
		}
		return float64(n), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, d.fail("number " + num + " out of range")
	}
	return f, nil
}

// Fields of Line, as found by fieldIndex.
const (
	fieldUnknown = iota
	fieldV
	fieldRunID
	fieldSeq
	fieldTS
	fieldKind
	fieldStatus
	fieldErrorCode
	fieldDetail
	fieldDurationMS
	fieldSizes
	fieldResources
	fieldAttrs
	fieldTraceID
	fieldSpanID
	fieldSpanName
	fieldService
	fieldEventID
)

// fieldNames is the JSON name of each field, by index.
var fieldNames = [...]string{
	fieldUnknown: "", fieldV: "v", fieldRunID: "run_id", fieldSeq: "seq", fieldTS: "ts",
	fieldKind: "kind", fieldStatus: "status", fieldErrorCode: "error_code", fieldDetail: "detail",
	fieldDurationMS: "duration_ms", fieldSizes: "sizes", fieldResources: "resources",
	fieldAttrs: "attrs", fieldTraceID: "trace_id", fieldSpanID: "span_id",
	fieldSpanName: "span_name", fieldService: "service", fieldEventID: "event_id",
}

// exactField returns the field whose JSON name is key.
func exactField(key string) int {
	switch key {
	case "v":
		return fieldV
	case "run_id":
		return fieldRunID
	case "seq":
		return fieldSeq
	case "ts":
		return fieldTS
	case "kind":
		return fieldKind
	case "status":
		return fieldStatus
	case "error_code":
		return fieldErrorCode
	case "detail":
		return fieldDetail
	case "duration_ms":
		return fieldDurationMS
	case "sizes":
		return fieldSizes
	case "resources":
		return fieldResources
	case "attrs":
		return fieldAttrs
	case "trace_id":
		return fieldTraceID
	case "span_id":
		return fieldSpanID
	case "span_name":
		return fieldSpanName
	case "service":
		return fieldService
	case "event_id":
		return fieldEventID
	}
	return fieldUnknown
}

// fieldIndex finds the field for an unquoted key the way encoding/json
// does: the exact name, else the name that matches after case folding.
func fieldIndex(key string) int {
	if f := exactField(key); f != fieldUnknown {
		return f
	}
	if len(key) > 3*len("duration_ms") {
		return fieldUnknown // no fold of a field name is this long
	}
	var buf [3 * len("duration_ms")]byte
	folded := appendFoldedName(buf[:0], key)
	switch string(folded) {
	case "V":
		return fieldV
	case "RUN_ID":
		return fieldRunID
	case "SEQ":
		return fieldSeq
	case "TS":
		return fieldTS
	case "KIND":
		return fieldKind
	case "STATUS":
		return fieldStatus
	case "ERROR_CODE":
		return fieldErrorCode
	case "DETAIL":
		return fieldDetail
	case "DURATION_MS":
		return fieldDurationMS
	case "SIZES":
		return fieldSizes
	case "RESOURCES":
		return fieldResources
	case "ATTRS":
		return fieldAttrs
	case "TRACE_ID":
		return fieldTraceID
	case "SPAN_ID":
		return fieldSpanID
	case "SPAN_NAME":
		return fieldSpanName
	case "SERVICE":
		return fieldService
	case "EVENT_ID":
		return fieldEventID
	}
	return fieldUnknown
}

// appendFoldedName folds a name the way encoding/json matches keys to
// field names: ASCII letters to upper case, any other rune to the smallest
// rune of its case-folding orbit.
func appendFoldedName(out []byte, in string) []byte {
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(in[i:])
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		out = utf8.AppendRune(out, r)
		i += n
	}
	return out
}

// line decodes the object at i into l.
func (d *lineDecoder) line(l *Line) error {
	if err := d.enter(); err != nil {
		return err
	}
	if d.empty('}') {
		return nil
	}
	for {
		if d.peek() != '"' {
			return d.syntax()
		}
		start, end, flags, err := d.scanString()
		if err != nil {
			return err
		}
		var field int
		if flags == 0 {
			field = exactField(d.s[start:end])
			if field == fieldUnknown {
				field = fieldIndex(d.s[start:end])
			}
		} else {
			field = fieldIndex(d.str(start, end, flags))
		}
		if d.peek() != ':' {
			return d.syntax()
		}
		d.i++
		c := d.peek()
		if d.summary && (field == fieldDetail || field == fieldSizes || field == fieldResources || field == fieldAttrs) {
			field = fieldUnknown
		}
		switch field {
		case fieldV:
			err = d.intField(c, &l.V)
		case fieldRunID:
			err = d.stringField(c, field, &l.RunID)
		case fieldSeq:
			err = d.seqField(c, &l.Seq)
		case fieldTS:
			err = d.tsField(c, l)
		case fieldKind:
			err = d.stringField(c, field, &l.Kind)
		case fieldStatus:
			err = d.stringField(c, field, &l.Status)
		case fieldErrorCode:
			err = d.stringField(c, field, &l.ErrorCode)
		case fieldDetail:
			err = d.stringField(c, field, &l.Detail)
		case fieldDurationMS:
			err = d.durationField(c, l)
		case fieldSizes:
			err = d.sizesField(c, l)
		case fieldResources:
			err = d.resourcesField(c, l)
		case fieldAttrs:
			err = d.attrsField(c, l)
		case fieldTraceID:
			err = d.stringField(c, field, &l.TraceID)
		case fieldSpanID:
			err = d.stringField(c, field, &l.SpanID)
		case fieldSpanName:
			err = d.stringField(c, field, &l.SpanName)
		case fieldService:
			err = d.stringField(c, field, &l.Service)
		case fieldEventID:
			err = d.stringField(c, field, &l.EventID)
		default:
			err = d.skip(c)
		}
		if err != nil {
			return err
		}
		if more, err := d.next('}'); !more {
			return err
		}
	}
}

func isNumberStart(c byte) bool { return c == '-' || '0' <= c && c <= '9' }

func (d *lineDecoder) stringField(c byte, field int, p *string) error {
	switch c {
	case '"':
		s, err := d.readString()
		if err != nil {
			return err
		}
		*p = s
		return nil
	case 'n':
		return d.literal("null") // null leaves a string as it is
	}
	return d.wrongTypeOrSyntax(c, fieldNames[field])
}

// wrongTypeOrSyntax reports a value of the wrong type, or a syntax error if
// c cannot start a value.
func (d *lineDecoder) wrongTypeOrSyntax(c byte, field string) error {
	switch {
	case c == '"', c == '{', c == '[', c == 't', c == 'f', c == 'n', isNumberStart(c):
		return d.wrongType(field)
	}
	return d.syntax()
}

func (d *lineDecoder) intField(c byte, p *int) error {
	switch {
	case isNumberStart(c):
		num, _, err := d.scanNumber()
		if err != nil {
			return err
		}
		if num == "1" {
			*p = 1
			return nil
		}
		n, err := strconv.ParseInt(num, 10, strconv.IntSize)
		if err != nil {
			return d.wrongType("v")
		}
		*p = int(n)
		return nil
	case c == 'n':
		return d.literal("null")
	}
	return d.wrongTypeOrSyntax(c, "v")
}

func (d *lineDecoder) seqField(c byte, p *uint64) error {
	switch {
	case isNumberStart(c):
		num, digits, err := d.scanNumber()
		if err != nil {
			return err
		}
		if digits && len(num) <= 19 {
			var n uint64
			for i := 0; i < len(num); i++ {
				n = n*10 + uint64(num[i]-'0')
			}
			*p = n
			return nil
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			return d.wrongType("seq")
		}
		*p = n
		return nil
	case c == 'n':
		return d.literal("null")
	}
	return d.wrongTypeOrSyntax(c, "seq")
}

func (d *lineDecoder) tsField(c byte, l *Line) error {
	switch c {
	case '"':
		start, end, _, err := d.scanString()
		if err != nil {
			return err
		}
		// encoding/json hands time.Time the quoted string as it is.
		if err := l.TS.UnmarshalJSON(d.b[start-1 : end+1]); err != nil {
			return d.fail("ts: " + err.Error())
		}
		return nil
	case 'n':
		return d.literal("null")
	}
	return d.wrongTypeOrSyntax(c, "ts")
}

func (d *lineDecoder) durationField(c byte, l *Line) error {
	switch {
	case isNumberStart(c):
		f, err := d.readFloat()
		if err != nil {
			return err
		}
		if l.DurationMS == nil {
			l.DurationMS = new(float64)
		}
		*l.DurationMS = f
		return nil
	case c == 'n':
		l.DurationMS = nil
		return d.literal("null")
	}
	return d.wrongTypeOrSyntax(c, "duration_ms")
}

// objectKey reads a member's key and the colon after it and returns the
// first byte of the value.
func (d *lineDecoder) objectKey() (string, byte, error) {
	if d.peek() != '"' {
		return "", 0, d.syntax()
	}
	k, err := d.readString()
	if err != nil {
		return "", 0, err
	}
	if d.peek() != ':' {
		return "", 0, d.syntax()
	}
	d.i++
	return k, d.peek(), nil
}

func (d *lineDecoder) sizesField(c byte, l *Line) error {
	return mapField(d, c, "sizes", &l.Sizes, d.sizeValue)
}

func (d *lineDecoder) sizeValue(c byte) (float64, error) {
	switch {
	case isNumberStart(c):
		return d.readFloat()
	case c == 'n':
		return 0, d.literal("null")
	}
	return 0, d.wrongTypeOrSyntax(c, "sizes")
}

func (d *lineDecoder) resourcesField(c byte, l *Line) error {
	return mapField(d, c, "resources", &l.Resources, d.resourceValue)
}

func (d *lineDecoder) resourceValue(c byte) (string, error) {
	switch c {
	case '"':
		return d.readString()
	case 'n':
		return "", d.literal("null")
	}
	return "", d.wrongTypeOrSyntax(c, "resources")
}

func (d *lineDecoder) attrsField(c byte, l *Line) error {
	return mapField(d, c, "attrs", &l.Attrs, d.value)
}

// mapField decodes the object-valued field name, whose value starts with c,
// into *m as encoding/json does: null clears the map, an object's members
// (each decoded by elem) are merged into it.
func mapField[V any](d *lineDecoder, c byte, name string, m *map[string]V, elem func(byte) (V, error)) error {
	switch c {
	case '{':
	case 'n':
		*m = nil
		return d.literal("null")
	default:
		return d.wrongTypeOrSyntax(c, name)
	}
	if *m == nil {
		*m = make(map[string]V)
	}
	return members(d, *m, elem)
}

// members decodes the object at i into m, each value decoded by elem.
func members[V any](d *lineDecoder, m map[string]V, elem func(byte) (V, error)) error {
	if err := d.enter(); err != nil {
		return err
	}
	if d.empty('}') {
		return nil
	}
	for {
		k, c, err := d.objectKey()
		if err != nil {
			return err
		}
		v, err := elem(c)
		if err != nil {
			return err
		}
		m[k] = v
		if more, err := d.next('}'); !more {
			return err
		}
	}
}

// value decodes the value at i, which starts with c, as encoding/json
// decodes into an empty interface.
func (d *lineDecoder) value(c byte) (any, error) {
	switch c {
	case '"':
		return d.readString()
	case '{':
		m := make(map[string]any)
		if err := members(d, m, d.value); err != nil {
			return nil, err
		}
		return m, nil
	case '[':
		if err := d.enter(); err != nil {
			return nil, err
		}
		a := make([]any, 0)
		if d.empty(']') {
			return a, nil
		}
		for {
			v, err := d.value(d.peek())
			if err != nil {
				return nil, err
			}
			a = append(a, v)
			more, err := d.next(']')
			if !more {
				return a, err
			}
		}
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	case 'n':
		return nil, d.literal("null")
	}
	if isNumberStart(c) {
		f, err := d.readFloat()
		if f >= 0 && f < float64(len(smallFloats)) && !math.Signbit(f) {
			if n := int(f); float64(n) == f {
				return smallFloats[n], err // no allocation for small counts
			}
		}
		return f, err
	}
	return nil, d.syntax()
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

// skip consumes the value at i, which starts with c, checking its syntax.
func (d *lineDecoder) skip(c byte) error {
	switch c {
	case '"':
		_, _, _, err := d.scanString()
		return err
	case '{':
		if err := d.enter(); err != nil {
			return err
		}
		if d.empty('}') {
			return nil
		}
		for {
			if d.peek() != '"' {
				return d.syntax()
			}
			if _, _, _, err := d.scanString(); err != nil {
				return err
			}
			if d.peek() != ':' {
				return d.syntax()
			}
			d.i++
			if err := d.skip(d.peek()); err != nil {
				return err
			}
			if more, err := d.next('}'); !more {
				return err
			}
		}
	case '[':
		if err := d.enter(); err != nil {
			return err
		}
		if d.empty(']') {
			return nil
		}
		for {
			if err := d.skip(d.peek()); err != nil {
				return err
			}
			if more, err := d.next(']'); !more {
				return err
			}
		}
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	}
	if isNumberStart(c) {
		_, _, err := d.scanNumber()
		return err
	}
	return d.syntax()
}
