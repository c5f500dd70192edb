package termsafe

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"multi\nline\tkept", "multi\nline\tkept"},
		{"\x1b[2Jcleared", `\x1b[2Jcleared`},
		{"over\rwrite", `over\rwrite`},
		{"nul\x00byte", `nul\x00byte`},
		{"del\x7f", `del\x7f`},
		{"c1 \u009b31m", `c1 \x9b31m`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`},
		{"bad \xff utf8", `bad \xff utf8`},
		{"ünïcödé ✓ 日本", "ünïcödé ✓ 日本"},
	}
	for _, c := range cases {
		if got := String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLine(t *testing.T) {
	if got, want := Line("a\nb\tc\x1b"), `a\nb\tc\x1b`; got != want {
		t.Fatalf("Line = %q, want %q", got, want)
	}
}

// The output of String never contains a byte a terminal acts on.
func TestStringOutputIsInert(t *testing.T) {
	var all strings.Builder
	for c := 0; c < 256; c++ {
		all.WriteByte(byte(c))
	}
	for r := rune(0x80); r < 0x3000; r++ {
		all.WriteRune(r)
	}
	out := Line(all.String())
	if !utf8.ValidString(out) {
		t.Fatal("output is not valid UTF-8")
	}
	for _, r := range out {
		if unsafeRune(r, true) {
			t.Fatalf("unsafe rune %U left in output", r)
		}
	}
}

func TestUnchangedDoesNotAllocate(t *testing.T) {
	s := strings.Repeat("run-42 ok ", 20)
	if n := testing.AllocsPerRun(100, func() { _ = String(s) }); n != 0 {
		t.Fatalf("%v allocs for safe text", n)
	}
}

func TestClip(t *testing.T) {
	id := "01JDXKQ7Z8M3N4P5Q6R7S8T9VW"
	if got := Clip(id, 40); got != id {
		t.Fatalf("short id clipped: %q", got)
	}
	got := Clip(id, 13)
	if utf8.RuneCountInString(got) != 13 || !strings.HasPrefix(got, "01JDXK") || !strings.HasSuffix(got, "S8T9VW") {
		t.Fatalf("Clip = %q", got)
	}
	if got := Clip(strings.Repeat("x", 100000), 30); utf8.RuneCountInString(got) != 30 {
		t.Fatalf("huge id not capped: %d runes", utf8.RuneCountInString(got))
	}
	if got := Clip("abcdef", 3); got != "abc" {
		t.Fatalf("narrow Clip = %q", got)
	}
}
