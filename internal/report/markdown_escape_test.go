package report

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// Issue #22: producer values printed in the Markdown report (run id, kinds,
// error codes, details, resources, statuses) cannot drive the terminal it is
// printed to; the JSON report keeps them exact.
func TestMarkdownEscapesTerminalControls(t *testing.T) {
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	const evil = "\x1b[2J\x1b]0;pwned\x07\r\x00\u202e"
	lines := []ledger.Line{
		{V: 1, RunID: "r" + evil, Seq: 1, TS: ts, Kind: "run.start", Status: "ok"},
		{V: 1, RunID: "r" + evil, Seq: 2, TS: ts.Add(time.Second), Kind: "ann" + evil + ".search", Status: "failed",
			ErrorCode: "timeout" + evil, Detail: "line one\nline two" + evil,
			Resources: map[string]string{"index" + evil: "v3" + evil}},
	}
	r := Build(lines, Options{Now: func() time.Time { return ts.Add(time.Hour) }})
	md := r.Markdown()
	for _, c := range []string{"\x1b", "\r", "\x00", "\x07", "\u202e"} {
		if strings.Contains(md, c) {
			t.Fatalf("Markdown contains raw %q:\n%s", c, md)
		}
	}
	for _, want := range []string{`\x1b[2J`, `timeout\x1b`, `\u202e`} {
		if !strings.Contains(md, want) {
			t.Fatalf("Markdown lacks escaped %q:\n%s", want, md)
		}
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.RunID != "r"+evil || back.StopReason.ErrorCode != "timeout"+evil {
		t.Fatalf("JSON changed producer values: run %q code %q", back.RunID, back.StopReason.ErrorCode)
	}
}
