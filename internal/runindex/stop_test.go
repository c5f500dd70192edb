package runindex

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
)

// reportNow is the clock of the report package's golden reports: after
// the in-progress run's last event and over an hour after the stalled
// run's.
var reportNow = time.Date(2026, 11, 25, 10, 10, 0, 0, time.UTC)

// stopOfEntry is the stop reason a listing shows for e.
func stopOfEntry(e Entry) Stop {
	return Stop{Category: e.StopCategory, Stage: e.StopStage, ErrorCode: e.StopErrorCode}
}

// The run list says why a run stopped as its report does: for every
// ledger of the report's test data, the category, stage and error code of
// a listed run, whether the index read the file, was fed by a writer or
// settled the run, are the report's stop_reason. The documented exceptions
// (see Stop): stalled and in_progress runs, for which the report names the
// declared stage that never reported (run.start attrs, not in a summary)
// and the list none, and timeouts only the detail text tells.
func TestStopAgreesWithReport(t *testing.T) {
	// The list's verdict where the report reads the detail: timeout_ann_504
	// fails without error code, with detail "upstream returned 504 Gateway
	// Timeout".
	detailOnly := map[string]string{"timeout_ann_504": report.CategoryError}
	files, err := filepath.Glob("../report/testdata/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no report test data: %v", err)
	}
	opts := Options{Now: func() time.Time { return reportNow }}
	settled := 0
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".jsonl")
		t.Run(name, func(t *testing.T) {
			rep, err := report.BuildFile(file, report.Options{Now: func() time.Time { return reportNow }})
			if err != nil {
				t.Fatal(err)
			}
			want := Stop{Category: rep.StopReason.Category, Stage: rep.StopReason.Stage, ErrorCode: rep.StopReason.ErrorCode}
			if want.Category == report.CategoryStalled || want.Category == report.CategoryInProgress {
				want.Stage = ""
			}
			if c, ok := detailOnly[name]; ok {
				if want.Category != report.CategoryTimeout {
					t.Fatalf("report says %s: the exception is stale", want.Category)
				}
				want.Category = c
			}
			var lines []ledger.Line
			if _, err := ledger.ReadFile(file, func(l *ledger.Line) error { lines = append(lines, *l); return nil }); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			runID := lines[0].RunID
			hasEnd := false
			for i := range lines {
				hasEnd = hasEnd || lines[i].Kind == "run.end"
			}

			// Read from the file.
			dir := t.TempDir()
			path := ledger.RunPath(dir, lines[0].TS, runID)
			appendFile(t, path, data)
			read := New(dir, opts)
			if _, err := read.Refresh(); err != nil {
				t.Fatal(err)
			}
			// Fed by a writer: the summaries of the entries it appends.
			fed := New(dir, opts)
			var sum []ledger.Line
			for i := range lines {
				e := ledger.NewEntry(&lines[i])
				sum = append(sum, e.Summary(lines[i].Seq))
			}
			fed.Appended(&ledger.Appended{Path: path, From: 0, To: int64(len(data)), Lines: sum})
			for name, ix := range map[string]*Index{"read": read, "fed": fed} {
				e, ok := ix.Get(runID)
				if !ok {
					t.Fatalf("%s: run %s not indexed", name, runID)
				}
				if got := stopOfEntry(e); got != want {
					t.Errorf("%s: list says %+v, report %+v", name, got, want)
				}
				// A run with run.end settles; the settled summary says the same.
				if n := ix.freeze(time.Now().Add(time.Hour)); n != 1 {
					if hasEnd {
						t.Fatalf("%s: %d runs settled", name, n)
					}
					continue
				}
				settled++
				e, _ = ix.Get(runID)
				if got := stopOfEntry(e); got != want {
					t.Errorf("%s, settled: list says %+v, report %+v", name, got, want)
				}
			}
		})
	}
	if settled == 0 {
		t.Fatal("no run settled: the settled summaries went untested")
	}
}

// codeLine is one ledger line with an error code, as JSON.
func codeLine(t testing.TB, run string, seq uint64, at time.Time, kind, status, code string) []byte {
	t.Helper()
	b := ledger.AppendLine(nil, &ledger.Line{V: 1, RunID: run, Seq: seq, TS: at, Kind: kind, Status: status, ErrorCode: code})
	return append(b, '\n')
}

// writeCodeRun writes a run of steps given as kind, status, code triples,
// one second apart.
func writeCodeRun(t testing.TB, dir, run string, start time.Time, steps ...string) {
	t.Helper()
	var data []byte
	for i := 0; i < len(steps); i += 3 {
		data = append(data, codeLine(t, run, uint64(i/3+1), start.Add(time.Duration(i/3)*time.Second), steps[i], steps[i+1], steps[i+2])...)
	}
	appendFile(t, ledger.RunPath(dir, start, run), data)
}

// A listing names why each run stopped, in its JSON too, and filters on
// the stop category and the root cause's error code, live and settled.
func TestListShowsAndFiltersStop(t *testing.T) {
	dir := t.TempDir()
	writeCodeRun(t, dir, "r-ann", t0, "run.start", "ok", "", "ann.faiss.search", "failed", "index_not_found",
		"retrieval.error", "failed", "index_not_found", "run.end", "failed", "")
	writeCodeRun(t, dir, "r-embed", t0.Add(time.Minute), "run.start", "ok", "", "embed.vllm", "failed", "deadline_exceeded",
		"run.end", "failed", "")
	writeCodeRun(t, dir, "r-retry", t0.Add(2*time.Minute), "run.start", "ok", "", "embed.vllm", "failed", "http_503",
		"embed.vllm", "ok", "", "run.end", "ok", "")
	writeCodeRun(t, dir, "r-cancel", t0.Add(3*time.Minute), "run.start", "ok", "", "llm.call", "cancelled", "client_gone",
		"run.end", "cancelled", "")
	writeCodeRun(t, dir, "r-open", t0.Add(4*time.Minute), "run.start", "ok", "")
	ix := newIndex(dir)
	if _, err := ix.Refresh(); err != nil {
		t.Fatal(err)
	}
	want := map[string]Stop{
		"r-ann":    {Category: "error", Stage: "ann", ErrorCode: "index_not_found"},
		"r-embed":  {Category: "timeout", Stage: "embed", ErrorCode: "deadline_exceeded"},
		"r-retry":  {Category: "completed", Stage: "run"},
		"r-cancel": {Category: "cancelled", Stage: "llm", ErrorCode: "client_gone"},
		"r-open":   {Category: "stalled"},
	}
	for _, phase := range []string{"live", "settled"} {
		if phase == "settled" && ix.freeze(time.Now().Add(time.Hour)) != 4 {
			t.Fatal("the ended runs did not settle")
		}
		p, err := ix.List(Query{})
		if err != nil || len(p.Runs) != len(want) {
			t.Fatalf("%s: %+v %v", phase, p, err)
		}
		for _, e := range p.Runs {
			if got := stopOfEntry(e); got != want[e.RunID] {
				t.Errorf("%s: %s stops %+v, want %+v", phase, e.RunID, got, want[e.RunID])
			}
		}
		js, _ := json.Marshal(p.Runs[len(p.Runs)-1]) // r-ann, the oldest
		if !strings.Contains(string(js), `"stop_category":"error","stop_stage":"ann","stop_error_code":"index_not_found"`) {
			t.Errorf("%s: JSON %s", phase, js)
		}
		check := func(v url.Values, ids ...string) {
			t.Helper()
			q, err := ParseQuery(v, t0)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ix.List(q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range p.Runs {
				got = append(got, e.RunID)
			}
			if strings.Join(got, ",") != strings.Join(ids, ",") || p.Matched != len(ids) {
				t.Errorf("%s %v: runs %v (matched %d), want %v", phase, v, got, p.Matched, ids)
			}
		}
		check(url.Values{"stop": {"error"}}, "r-ann")
		check(url.Values{"stop": {"timeout,cancelled"}}, "r-cancel", "r-embed")
		check(url.Values{"stop": {"error", "timeout"}}, "r-embed", "r-ann")
		check(url.Values{"error_code": {"Index-Not-Found"}}, "r-ann")
		check(url.Values{"error_code": {"http_503"}}) // recovered: not why r-retry stopped
		check(url.Values{"stop": {"cancelled"}, "error_code": {"client_gone"}}, "r-cancel")
		check(url.Values{"status": {"failed"}, "stop": {"timeout"}}, "r-embed")
		// The taxonomy: index_not_found is config, a deadline a
		// dependency's, client_gone no rule knows.
		check(url.Values{"error_category": {"config"}}, "r-ann")
		check(url.Values{"error_category": {"dependency,unknown"}}, "r-cancel", "r-embed")
		check(url.Values{"error_category": {"model"}})
		classes := map[string]string{}
		for _, e := range p.Runs {
			classes[e.RunID] = e.StopErrorCategory
		}
		if want := map[string]string{"r-ann": "config", "r-embed": "dependency", "r-cancel": "unknown", "r-retry": "", "r-open": ""}; !maps.Equal(classes, want) {
			t.Errorf("%s: error categories %v, want %v", phase, classes, want)
		}
	}
}

// The index classifies with the configured table, as reportapi's reports do.
func TestListUsesConfiguredTaxonomy(t *testing.T) {
	dir := t.TempDir()
	writeCodeRun(t, dir, "r-cancel", t0, "run.start", "ok", "", "llm.call", "cancelled", "client_gone", "run.end", "cancelled", "")
	tab, err := (&report.RemediationConfig{Rules: []report.RemediationRule{
		{Stage: "llm", Code: "client_gone", Text: "The user left.", Category: "user"},
	}}).Table()
	if err != nil {
		t.Fatal(err)
	}
	ix := New(dir, Options{Remediations: tab})
	if _, err := ix.Refresh(); err != nil {
		t.Fatal(err)
	}
	p, err := ix.List(Query{ErrorCategories: []string{"user"}})
	if err != nil || len(p.Runs) != 1 || p.Runs[0].StopErrorCategory != "user" {
		t.Fatalf("%+v %v", p, err)
	}
	if e, ok := ix.Get("r-cancel"); !ok || e.StopErrorCategory != "user" {
		t.Fatalf("Get: %+v", e)
	}
}

func TestParseQueryStop(t *testing.T) {
	for _, v := range []url.Values{{"stop": {"failed"}}, {"stop": {"error,bogus"}}, {"error_category": {"network"}}} {
		if _, err := ParseQuery(v, t0); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%v: err %v, want ErrBadQuery", v, err)
		}
	}
	q, err := ParseQuery(url.Values{"stop": {"error, timeout"}, "error_code": {"http_503"}}, t0)
	if err != nil || len(q.Stops) != 2 || q.Stops[1] != "timeout" || q.ErrorCode != "http_503" {
		t.Fatalf("%+v %v", q, err)
	}
	back, err := ParseQuery(q.Values(), t0)
	if err != nil || strings.Join(back.Stops, ",") != "error,timeout" || back.ErrorCode != "http_503" {
		t.Fatalf("round trip %+v %v", back, err)
	}
	q, err = ParseQuery(url.Values{"error_category": {"infra", "config"}}, t0)
	if err != nil || strings.Join(q.ErrorCategories, ",") != "infra,config" {
		t.Fatalf("%+v %v", q, err)
	}
	if back, err := ParseQuery(q.Values(), t0); err != nil || strings.Join(back.ErrorCategories, ",") != "infra,config" {
		t.Fatalf("round trip %+v %v", back, err)
	}
	for _, p := range []string{"stop", "error_code", "error_category"} {
		if !slices.Contains(QueryParams(), p) {
			t.Errorf("QueryParams lacks %s", p)
		}
	}
}

// stopOfLines is the stop reason an index fed lines (as a writer hands
// them) lists for run r.
func stopOfLines(t *testing.T, lines ...ledger.Line) Stop {
	t.Helper()
	dir := t.TempDir()
	ix := New(dir, Options{Now: func() time.Time { return t0.Add(time.Minute) }})
	for i := range lines {
		lines[i].V, lines[i].RunID, lines[i].Seq = 1, "r", uint64(i+1)
		if lines[i].TS.IsZero() {
			lines[i].TS = t0.Add(time.Duration(i) * time.Millisecond)
		}
	}
	ix.Appended(&ledger.Appended{Path: ledger.RunPath(dir, t0, "r"), From: 0, To: 1, Lines: lines})
	e, ok := ix.Get("r")
	if !ok {
		t.Fatal("run not indexed")
	}
	return stopOfEntry(e)
}

// The rules the report's test data do not reach.
func TestStopRules(t *testing.T) {
	l := func(kind, status, code string) ledger.Line {
		return ledger.Line{Kind: kind, Status: status, ErrorCode: code}
	}
	for _, c := range []struct {
		name  string
		lines []ledger.Line
		want  Stop
	}{
		{"an error report without code defers to the earliest real failure",
			[]ledger.Line{l("ann.search", "failed", "index_not_found"), l("retrieval.error", "failed", "")},
			Stop{"error", "ann", "index_not_found"}},
		{"an error report whose code matches nothing is the root cause",
			[]ledger.Line{l("ann.search", "failed", "x"), l("ann.search", "ok", ""), l("retrieval.error", "failed", "boom"), l("run.end", "failed", "")},
			Stop{"error", "retrieval", "boom"}},
		{"codes match whatever their case",
			[]ledger.Line{l("embed.call", "failed", "HTTP_503"), l("embed.error", "failed", "http_503")},
			Stop{"error", "embed", "HTTP_503"}},
		{"a recovered failure is not the root cause",
			[]ledger.Line{l("embed.call", "failed", "http_503"), l("embed.call", "ok", ""), l("ann.search", "failed", "locked")},
			Stop{"error", "ann", "locked"}},
		{"every failure recovered: the latest one",
			[]ledger.Line{l("embed.call", "failed", "http_503"), l("embed.call", "ok", ""), l("run.end", "failed", "")},
			Stop{"error", "embed", "http_503"}},
		{"a cancelled step while a failure is open does not cancel",
			[]ledger.Line{l("embed.call", "failed", "oom"), l("llm.call", "cancelled", "gone")},
			Stop{"error", "embed", "oom"}},
		{"cancelled by run.end",
			[]ledger.Line{l("run.start", "ok", ""), l("run.end", "cancelled", "sigterm")},
			Stop{"cancelled", "run", "sigterm"}},
		{"the earliest failure in time, not in the file",
			[]ledger.Line{{Kind: "llm.call", Status: "failed", ErrorCode: "late", TS: t0.Add(time.Second)},
				{Kind: "embed.call", Status: "failed", ErrorCode: "early", TS: t0}},
			Stop{"error", "embed", "early"}},
		{"a timeout code", []ledger.Line{l("embed.call", "failed", "Gateway-Timeout")}, Stop{"timeout", "embed", "Gateway-Timeout"}},
		{"no error code in the summaries (a producer that leaves Entry.ErrorCode empty)",
			[]ledger.Line{l("ann.search", "failed", ""), l("run.end", "failed", "")}, Stop{"error", "ann", ""}},
		{"a recorded exception ranks after a failed step, even an earlier one",
			[]ledger.Line{{Kind: "embed.exception", Status: "failed", ErrorCode: "RuntimeError", TS: t0},
				{Kind: "ann.search", Status: "failed", ErrorCode: "locked", TS: t0.Add(time.Second)}},
			Stop{"error", "ann", "locked"}},
		{"an exception alone is the root cause",
			[]ledger.Line{l("exception", "failed", "ValueError"), l("run.end", "failed", "")},
			Stop{"error", "exception", "ValueError"}},
	} {
		if got := stopOfLines(t, c.lines...); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
		// The report says the same of these lines (none has a detail).
		sr := report.Build(c.lines, report.Options{Now: func() time.Time { return t0.Add(time.Minute) }}).StopReason
		if rep := (Stop{sr.Category, sr.Stage, sr.ErrorCode}); rep != c.want {
			t.Errorf("%s: the report says %+v, the test %+v", c.name, rep, c.want)
		}
	}
}

// A run failing in more stages and with more codes than the digest holds
// keeps a bounded state, and its earliest failure stays the root cause.
func TestStopStateBounded(t *testing.T) {
	dir := t.TempDir()
	ix := newIndex(dir)
	var lines []ledger.Line
	for i := range 1000 {
		lines = append(lines, ledger.Line{V: 1, RunID: "r", Seq: uint64(i + 1), TS: t0.Add(time.Duration(i) * time.Millisecond),
			Kind: fmt.Sprintf("stage%d.call", i), Status: "failed", ErrorCode: fmt.Sprintf("code_%d", i)})
	}
	ix.Appended(&ledger.Appended{Path: ledger.RunPath(dir, t0, "r"), From: 0, To: 1, Lines: lines})
	f := ix.byRun["r"]
	if len(f.stop.stages) > maxStopStages || len(f.stop.codes) > maxStopCodes {
		t.Fatalf("state holds %d stages, %d codes", len(f.stop.stages), len(f.stop.codes))
	}
	if e, _ := ix.Get("r"); stopOfEntry(e) != (Stop{"error", "stage0", "code_0"}) {
		t.Fatalf("stop %+v", stopOfEntry(e))
	}
}

func TestStopText(t *testing.T) {
	for _, c := range []struct {
		e    Entry
		want string
	}{
		{Entry{StopCategory: "error", StopStage: "ann", StopErrorCode: "index_not_found"}, "error ann/index_not_found"},
		{Entry{StopCategory: "timeout", StopStage: "embed"}, "timeout embed"},
		{Entry{StopCategory: "error", StopErrorCode: "boom"}, "error boom"},
		{Entry{StopCategory: "completed", StopStage: "run"}, "completed"},
		{Entry{StopCategory: "stalled"}, "stalled"},
	} {
		if got := c.e.StopText(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
	}
}
