package tui

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/runledger/runledger/internal/termsafe"
)

// safe escapes producer text (run ids, kinds, codes, resources) for one
// line of the screen. Call it before fit or cut, so that widths are those
// of what is printed.
func safe(s string) string { return termsafe.Line(s) }

// fit cuts s (which may hold escape sequences) to width cells and pads it
// with spaces to exactly width cells.
func fit(s string, width int) string {
	if width <= 0 {
		return ""
	}
	w := ansi.StringWidth(s)
	if w > width {
		s = ansi.Truncate(s, width, "…")
		w = ansi.StringWidth(s)
	}
	if w < width {
		s += strings.Repeat(" ", width-w)
	}
	return s
}

// cut shortens plain s to at most width cells.
func cut(s string, width int) string {
	if width <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= width {
		return s
	}
	return ansi.Truncate(s, width, "…")
}

// oneLine folds newlines and tabs into spaces and escapes what is left
// that could control the terminal.
func oneLine(s string) string {
	return safe(strings.Join(strings.Fields(s), " "))
}

// wrap breaks plain s into lines of at most width cells, keeping at most
// maxLines (0: all); the last kept line ends with "…" when text was cut.
// Each line of s is escaped (safe) before it is wrapped.
func wrap(s string, width, maxLines int) []string {
	if width <= 0 {
		return nil
	}
	var out []string
	for para := range strings.SplitSeq(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		para = safe(strings.ReplaceAll(para, "\t", "    "))
		wrapped := ansi.Wrap(para, width, " ")
		out = append(out, strings.Split(wrapped, "\n")...)
	}
	if maxLines > 0 && len(out) > maxLines {
		out = out[:maxLines]
		out[maxLines-1] = cut(out[maxLines-1]+" …", width)
		if !strings.HasSuffix(out[maxLines-1], "…") {
			out[maxLines-1] = cut(out[maxLines-1], width-1) + "…"
		}
	}
	return out
}

// fmtMS formats a duration in milliseconds compactly: 0.4ms, 12.5ms, 2.31s,
// 3m04s, 1h02m.
func fmtMS(ms float64) string {
	switch {
	case ms < 0:
		return "-"
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + "ms"
	case ms < 10_000:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + "s"
	case ms < 60_000:
		return strconv.FormatFloat(ms/1000, 'f', 1, 64) + "s"
	}
	d := time.Duration(ms * float64(time.Millisecond))
	if d < time.Hour {
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// fmtNum formats a size: integers as they are, large values with k/M/G.
func fmtNum(f float64) string {
	a := f
	if a < 0 {
		a = -a
	}
	switch {
	case a >= 1e9:
		return strconv.FormatFloat(f/1e9, 'f', 1, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(f/1e6, 'f', 1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(f/1e3, 'f', 1, 64) + "k"
	case f == float64(int64(f)):
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', 4, 64)
}

// fmtSizes formats sizes as "hits=50 rows=1.2k", keys sorted.
func fmtSizes(m map[string]float64) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, safe(k)+"="+fmtNum(m[k]))
	}
	return strings.Join(parts, " ")
}

// fmtValue formats an attribute value: strings as they are, the rest as
// JSON.
func fmtValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// fmtTime formats a time in UTC for tables.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("01-02 15:04:05")
}

// shortID shortens a hex trace or span id for narrow columns.
func shortID(id string, n int) string {
	if len(id) <= n {
		return id
	}
	return id[:n]
}
