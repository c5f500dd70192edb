// Package termsafe makes producer-supplied text safe to print to a terminal.
//
// Run ids, step kinds, details and attribute values come from whoever sends
// OTLP to the collector. Printed raw, an ESC sequence can clear the screen,
// move the cursor or retitle the window, a CR can overwrite a line, and
// bidirectional overrides can make text read differently from what it is.
// Human output (tables, Markdown, the TUI) goes through this package; JSON
// output stays exact.
package termsafe

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// String returns s with every character that could control a terminal
// written as a Go-style escape: C0 controls other than newline and tab
// (\r, \x1b, \x00...), DEL, C1 controls, Unicode bidirectional controls and
// bytes that are not valid UTF-8 (\xff). Text without such characters is
// returned unchanged, without allocating.
func String(s string) string { return escape(s, false) }

// Line is String for single-line output (a table cell, a status line):
// newline and tab are escaped too.
func Line(s string) string { return escape(s, true) }

func escape(s string, oneLine bool) string {
	i := firstUnsafe(s, oneLine)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(hex2(s[i]))
		case unsafeRune(r, oneLine):
			b.WriteString(quoteRune(r))
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// firstUnsafe returns the index of the first byte String would change, or
// -1.
func firstUnsafe(s string, oneLine bool) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && !(c == '\n' && !oneLine) && !(c == '\t' && !oneLine) || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || unsafeRune(r, oneLine) {
			return i
		}
		i += size
	}
	return -1
}

func unsafeRune(r rune, oneLine bool) bool {
	switch {
	case r == '\n' || r == '\t':
		return oneLine
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true // bidirectional controls
	}
	return false
}

func quoteRune(r rune) string {
	switch r {
	case '\n':
		return `\n`
	case '\t':
		return `\t`
	case '\r':
		return `\r`
	}
	if r < 0x100 {
		return `\x` + hex2(byte(r))
	}
	q := strconv.QuoteRuneToASCII(r) // '\u202e'
	return q[1 : len(q)-1]
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}

// Clip returns s cut to at most width runes for a table column: longer text
// keeps its start and its end around an ellipsis, since ids that share a
// prefix (a ULID's timestamp, a service name) differ at the end.
func Clip(s string, width int) string {
	if width < 1 {
		return ""
	}
	n := utf8.RuneCountInString(s)
	if n <= width {
		return s
	}
	if width < 5 {
		return string([]rune(s)[:width])
	}
	rs := []rune(s)
	tail := (width - 1) / 2
	head := width - 1 - tail
	return string(rs[:head]) + "…" + string(rs[n-tail:])
}
