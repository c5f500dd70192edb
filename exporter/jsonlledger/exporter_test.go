package jsonlledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/exporter/jsonlledger/internal/metadata"
	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/ledgerstore/ledgerstoretest"
	"github.com/runledger/runledger/internal/stepschema"
)

func TestSpanEventLineBytes(t *testing.T) {
	h := start(t, testConfig(t), nil)
	td := spanWith("", "", spanA,
		step{kind: "ann.faiss.search", run: "r-42", at: t0, attrs: map[string]any{
			"step.status": "ok", "step.detail": "top-k search", "step.duration_ms": 12.5,
			"step.size.hits": 50, "step.resource.index_version": "v3", "nprobe": 16}},
		step{at: t0, attrs: map[string]any{"not": "a step"}}, // ignored
		step{kind: "retrieval.error", run: "r-42", at: t0.Add(time.Millisecond), attrs: map[string]any{
			"step.status": "failed", "step.error.code": "timeout", "step.detail": "deadline \"exceeded\"\n"}},
	)
	h.consumeTraces(td)
	id1 := ledger.NewEventID(traceA, spanA, uint64(pcommon.NewTimestampFromTime(t0)), "ann.faiss.search", 0)
	id2 := ledger.NewEventID(traceA, spanA, uint64(pcommon.NewTimestampFromTime(t0.Add(time.Millisecond))), "retrieval.error", 1)
	p, got := h.file("r-42")
	want := []string{
		`{"v":1,"run_id":"r-42","seq":1,"ts":"2026-11-25T10:01:02.123456789Z","kind":"ann.faiss.search","status":"ok",` +
			`"detail":"top-k search","duration_ms":12.5,"sizes":{"hits":50},"resources":{"index_version":"v3"},"attrs":{"nprobe":16},` +
			`"trace_id":"a102030405060708090a0b0c0d0e0f10","span_id":"a102030405060708","span_name":"faiss.search",` +
			`"service":"retriever","event_id":"` + id1.String() + `"}`,
		`{"v":1,"run_id":"r-42","seq":2,"ts":"2026-11-25T10:01:02.124456789Z","kind":"retrieval.error","status":"failed",` +
			`"error_code":"timeout","detail":"deadline \"exceeded\"\n",` +
			`"trace_id":"a102030405060708090a0b0c0d0e0f10","span_id":"a102030405060708","span_name":"faiss.search",` +
			`"service":"retriever","event_id":"` + id2.String() + `"}`,
		// The span's record, after its steps; the span has no start, so its
		// first step's time stands in.
		`{"v":1,"run_id":"r-42","rec":"span","ts":"2026-11-25T10:01:02.123456789Z","end":"2026-11-25T10:01:02.123456789Z",` +
			`"trace_id":"a102030405060708090a0b0c0d0e0f10","span_id":"a102030405060708","span_name":"faiss.search",` +
			`"service":"retriever","status":"unset","event_id":"` + ledger.SpanEventID(traceA, spanA).String() + `"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if filepath.Base(filepath.Dir(p)) != "2026-11-25" || filepath.Base(p) != "r-42.jsonl" {
		t.Fatalf("path %s", p)
	}
	if n := h.counter("otelcol_exporter_jsonlledger_lines_written"); n != 2 {
		t.Fatalf("lines_written = %d", n)
	}
	if n := h.counter("otelcol_exporter_jsonlledger_bytes_written"); n != int64(len(strings.Join(want, "\n"))+1) {
		t.Fatalf("bytes_written = %d", n)
	}
	if n := h.counter("otelcol_exporter_jsonlledger_runs_open"); n != 1 {
		t.Fatalf("runs_open = %d", n)
	}
}

func TestLogRecordLineBytes(t *testing.T) {
	h := start(t, testConfig(t), nil)
	ld := logsWith("", spanB, "embedding 128 chunks",
		step{kind: "embed.vllm", run: "r-7", at: t0, attrs: map[string]any{
			"step.duration_ms": 40, "step.size.vectors": 128, "step.resource.model": "bge", "batch": true}},
		step{at: t0, attrs: map[string]any{"event.name": "other"}}, // ignored
		// Same (trace, span, time, kind) twice: index 0 and 1; no record
		// time: the observed time is used.
		step{kind: "embed.vllm", run: "r-7", attrs: map[string]any{"step.detail": "second"}},
		step{kind: "embed.vllm", run: "r-7", attrs: map[string]any{"step.detail": "third"}},
	)
	h.consumeLogs(ld)
	ts := pcommon.NewTimestampFromTime(t0)
	id1 := ledger.NewEventID(traceA, spanB, uint64(ts), "embed.vllm", 0)
	id2 := ledger.NewEventID(traceA, spanB, 0, "embed.vllm", 0)
	id3 := ledger.NewEventID(traceA, spanB, 0, "embed.vllm", 1)
	_, got := h.file("r-7")
	tail := `"trace_id":"a102030405060708090a0b0c0d0e0f10","span_id":"b102030405060708","service":"retriever","event_id":"`
	want := []string{
		`{"v":1,"run_id":"r-7","seq":1,"ts":"2026-11-25T10:01:02.123456789Z","kind":"embed.vllm","status":"ok",` +
			`"detail":"embedding 128 chunks","duration_ms":40,"sizes":{"vectors":128},"resources":{"model":"bge"},"attrs":{"batch":true},` +
			tail + id1.String() + `"}`,
		`{"v":1,"run_id":"r-7","seq":2,"ts":"2026-11-25T11:01:02.123456789Z","kind":"embed.vllm","status":"ok",` +
			`"detail":"second",` + tail + id2.String() + `"}`,
		`{"v":1,"run_id":"r-7","seq":3,"ts":"2026-11-25T11:01:02.123456789Z","kind":"embed.vllm","status":"ok",` +
			`"detail":"third",` + tail + id3.String() + `"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Redelivery of the whole request writes nothing.
	h.consumeLogs(ld)
	if _, again := h.file("r-7"); len(again) != 3 {
		t.Fatalf("redelivered logs duplicated: %d lines", len(again))
	}
	if n := h.counter("otelcol_exporter_jsonlledger_events_deduped"); n != 3 {
		t.Fatalf("events_deduped = %d", n)
	}
}

func TestRunIDResolution(t *testing.T) {
	h := start(t, testConfig(t), nil)
	h.consumeTraces(spanWith("span-run", "res-run", spanA,
		step{kind: "a", run: "event-run", at: t0}, step{kind: "b", at: t0}))
	h.consumeTraces(spanWith("", "res-run", spanB, step{kind: "c", at: t0}))
	h.consumeTraces(spanWith("", "", spanB, step{kind: "d", at: t0.Add(time.Second)}))
	h.consumeLogs(logsWith("res-run", spanA, "", step{kind: "e", at: t0}))
	nolog := logsWith("", spanA, "", step{kind: "f", at: t0})
	nolog.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).SetTraceID(pcommon.TraceID{})
	h.consumeLogs(nolog)
	for run, kinds := range map[string]string{
		"event-run": "a", "span-run": "b", "res-run": "c e", "trace-" + traceA.String(): "d", "unknown": "f",
	} {
		var got []string
		for _, l := range h.lines(run) {
			got = append(got, l.Kind)
		}
		if strings.Join(got, " ") != kinds {
			t.Errorf("run %s: kinds %v, want %s", run, got, kinds)
		}
	}
}

func TestTracesAndLogsShareOneRunFile(t *testing.T) {
	h := start(t, testConfig(t), nil)
	for i := 0; i < 6; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		if i%2 == 0 {
			h.consumeTraces(spanWith("", "", spanA, step{kind: fmt.Sprintf("span.%d", i), run: "mixed", at: at}))
		} else {
			h.consumeLogs(logsWith("", spanA, "", step{kind: fmt.Sprintf("log.%d", i), run: "mixed", at: at}))
		}
	}
	lines := h.lines("mixed")
	var kinds []string
	for _, l := range lines {
		kinds = append(kinds, l.Kind)
	}
	if strings.Join(kinds, " ") != "span.0 log.1 span.2 log.3 span.4 log.5" {
		t.Fatalf("kinds in file order: %v", kinds)
	}
	ents, _ := os.ReadDir(filepath.Join(h.cfg.Directory, "2026-11-25"))
	if len(ents) != 1 {
		t.Fatalf("%d files", len(ents))
	}
}

func TestSharedInstanceBetweenSignals(t *testing.T) {
	f := newFactory(nil).(exporter.Factory)
	cfg := testConfig(t)
	set := exportertest.NewNopSettings(metadata.Type)
	ctx := context.Background()
	te, err := f.CreateTraces(ctx, set, cfg.Config)
	if err != nil {
		t.Fatal(err)
	}
	le, err := f.CreateLogs(ctx, set, cfg.Config)
	if err != nil {
		t.Fatal(err)
	}
	// A second config gets its own instance, on its own store.
	cfg2 := testConfig(t)
	cfg2.Store = component.MustNewIDWithName("reportapi", "two")
	te2, err := f.CreateTraces(ctx, set, cfg2.Config)
	if err != nil {
		t.Fatal(err)
	}
	host := cfg.host(t).(storeHost)
	host.exts[cfg2.Store] = cfg2.host(t).GetExtensions()[cfg2.Store]
	for _, c := range []component.Component{te, le, te2} {
		if err := c.Start(ctx, host); err != nil {
			t.Fatal(err)
		}
	}
	if err := te.ConsumeTraces(ctx, spanWith("", "", spanA, step{kind: "k", run: "r", at: t0})); err != nil {
		t.Fatal(err)
	}
	// The traces pipeline stops first; the logs one still writes (e.g. while
	// its queue drains), into the same file with the next seq.
	if err := te.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := le.ConsumeLogs(ctx, logsWith("", spanA, "", step{kind: "k2", run: "r", at: t0})); err != nil {
		t.Fatalf("logs after traces shutdown: %v", err)
	}
	if err := le.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := le.ConsumeLogs(ctx, logsWith("", spanA, "", step{kind: "k3", run: "r", at: t0})); err == nil {
		t.Fatal("write after the last shutdown succeeded")
	}
	if err := te2.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, cfg: cfg}
	if l := h.lines("r"); len(l) != 2 || l[1].Kind != "k2" {
		t.Fatalf("lines %+v", l)
	}
	if _, err := os.Stat(cfg2.Directory); err != nil {
		t.Fatalf("second instance did not start: %v", err)
	}
}

func TestSeqContinuesAfterRestartAndMidnight(t *testing.T) {
	cfg := testConfig(t)
	cfg.Retention = 0
	late := time.Date(2026, 11, 25, 23, 59, 59, 0, time.UTC)
	h := start(t, cfg, nil)
	h.consumeTraces(spanWith("", "", spanA, step{kind: "a", run: "night", at: late}))
	h.stop()
	h2 := start(t, cfg, nil)
	h2.consumeTraces(spanWith("", "", spanA, step{kind: "b", run: "night", at: late.Add(2 * time.Second)}))
	h2.consumeLogs(logsWith("", spanA, "", step{kind: "c", run: "night", at: late.Add(time.Hour)}))
	lines := h2.lines("night")
	if len(lines) != 3 || lines[2].Kind != "c" {
		t.Fatalf("lines %+v", lines)
	}
	p, _ := h2.file("night")
	if filepath.Base(filepath.Dir(p)) != "2026-11-25" {
		t.Fatalf("run moved to %s", p)
	}
	ents, _ := os.ReadDir(cfg.Directory)
	if ents = slices.DeleteFunc(ents, func(e os.DirEntry) bool { return !e.IsDir() }); len(ents) != 1 {
		t.Fatalf("%d date folders", len(ents))
	}
}

func TestRedeliveryDeduped(t *testing.T) {
	h := start(t, testConfig(t), nil)
	td := spanWith("", "", spanA, step{kind: "a", run: "dd", at: t0}, step{kind: "a", run: "dd", at: t0})
	h.consumeTraces(td)
	h.consumeTraces(td)
	if l := h.lines("dd"); len(l) != 2 {
		t.Fatalf("%d lines", len(l))
	}
	// A second span with identical events is a different event (span id).
	h.consumeTraces(spanWith("", "", spanB, step{kind: "a", run: "dd", at: t0}))
	if l := h.lines("dd"); len(l) != 3 {
		t.Fatalf("%d lines", len(l))
	}
}

func TestHostileRunIDs(t *testing.T) {
	cfg := testConfig(t)
	h := start(t, cfg, nil)
	ids := []string{"../../etc/passwd", "/abs", "..", "CON", "lpt1.txt", `..\..\win`}
	// Ids the report API could not look up go to the trace's fallback run
	// (stepschema.ValidRunID), here as in steproute.
	for i, id := range []string{strings.Repeat("x", 10<<10), "nul\x00ctl\x01"} {
		h.consumeTraces(spanWith("", "", spanA, step{kind: fmt.Sprint("bad", i), run: id, at: t0}))
	}
	if l := h.lines(stepschema.FallbackRunID(traceA)); len(l) != 2 {
		t.Fatalf("unreachable ids: %d lines in the fallback run", len(l))
	}
	for _, id := range ids {
		h.consumeTraces(spanWith("", "", spanA, step{kind: "k", run: id, at: t0}))
	}
	root := filepath.Dir(cfg.Directory)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(p, cfg.Directory+string(filepath.Separator)) {
			t.Errorf("file outside directory: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if l := h.lines(id); len(l) != 1 || l[0].RunID != id {
			t.Fatalf("id %q: %+v", id, l)
		}
	}
}

func TestLRUWithManyRuns(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxOpenFiles = 2
	h := start(t, cfg, nil)
	const runs = 30
	for round := 0; round < 4; round++ {
		td := ptrace.NewTraces()
		for r := 0; r < runs; r++ {
			spanWith("", "", spanA, step{kind: "k", run: fmt.Sprintf("lru-%d", r),
				at: t0.Add(time.Duration(round) * time.Second)}).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		h.consumeTraces(td)
		h.consumeTraces(td) // redelivery: deduped even though files were closed
	}
	for r := 0; r < runs; r++ {
		if l := h.lines(fmt.Sprintf("lru-%d", r)); len(l) != 4 {
			t.Fatalf("run %d: %d lines", r, len(l))
		}
	}
	if n := h.counter("otelcol_exporter_jsonlledger_runs_open"); n > 2 {
		t.Fatalf("runs_open = %d", n)
	}
}

func TestTornLineRepaired(t *testing.T) {
	cfg := testConfig(t)
	h := start(t, cfg, nil)
	h.consumeTraces(spanWith("", "", spanA, step{kind: "a", run: "torn", at: t0}))
	h.stop()
	p, _ := h.file("torn")
	f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"v":1,"run_id":"torn","seq":2,"ts":"2026-11-`)
	f.Close()
	h2 := start(t, cfg, nil)
	h2.consumeTraces(spanWith("", "", spanA, step{kind: "b", run: "torn", at: t0.Add(time.Second)}))
	if l := h2.lines("torn"); len(l) != 2 || l[1].Kind != "b" {
		t.Fatalf("lines %+v", l)
	}
	if n := h2.counter("otelcol_exporter_jsonlledger_torn_lines_repaired"); n != 1 {
		t.Fatalf("torn_lines_repaired = %d", n)
	}
	if h2.logObs.FilterMessage("cut torn last line off ledger file").Len() != 1 {
		t.Fatalf("logs %v", h2.logObs.All())
	}
}

func TestDiskErrors(t *testing.T) {
	for _, tc := range []struct {
		op    ledgerstoretest.Op
		errno syscall.Errno
	}{
		{ledgerstoretest.OpWrite, syscall.ENOSPC},
		{ledgerstoretest.OpOpen, syscall.EACCES},
		{ledgerstoretest.OpOpen, syscall.EROFS},
	} {
		t.Run(tc.errno.Error(), func(t *testing.T) {
			fsys := ledgerstoretest.New(nil)
			cfg := testConfig(t)
			h := start(t, cfg, fsys)
			h.consumeTraces(spanWith("", "", spanA, step{kind: "a", run: "disk", at: t0}))
			p, _ := h.file("disk")
			before, _ := os.ReadFile(p)
			fsys.Fail(tc.op, tc.errno)
			td := spanWith("", "", spanB, step{kind: "b", run: "disk", at: t0}, step{kind: "c", run: "other", at: t0})
			for i := 0; i < 10; i++ {
				err := h.traces.ConsumeTraces(context.Background(), td)
				if !errors.Is(err, tc.errno) {
					t.Fatalf("consume: %v", err)
				}
			}
			after, _ := os.ReadFile(p)
			if tc.op == ledgerstoretest.OpWrite && string(before) != string(after) {
				t.Fatalf("failed writes changed the ledger:\n%s\n%s", before, after)
			}
			if tc.op == ledgerstoretest.OpOpen {
				// The open file of "disk" takes its line once (retries are
				// deduped); only the new run "other" fails.
				if l := h.lines("disk"); len(l) != 2 || !strings.HasPrefix(string(after), string(before)) {
					t.Fatalf("lines %+v", l)
				}
			}
			if n := h.logObs.FilterMessageSnippet("ledger writes failing").Len(); n > 2 || n == 0 {
				t.Fatalf("%d error log lines for 10 failing exports", n)
			}
			if n := h.counter("otelcol_exporter_jsonlledger_write_errors"); n < 10 {
				t.Fatalf("write_errors = %d", n)
			}
			// The health check shows the failing writes once, not per export.
			if got := h.status.statuses(); len(got) != 1 || got[0] != componentstatus.StatusRecoverableError {
				t.Fatalf("statuses while failing = %v, want one RecoverableError", got)
			}
			fsys.Fail(tc.op, nil)
			h.consumeTraces(td)
			if l := h.lines("disk"); len(l) != 2 || l[1].Kind != "b" {
				t.Fatalf("lines %+v", l)
			}
			if l := h.lines("other"); len(l) != 1 {
				t.Fatalf("lines %+v", l)
			}
			if h.logObs.FilterMessage("ledger writes recovered").Len() == 0 {
				t.Fatal("no recovery log line")
			}
			if got := h.status.statuses(); len(got) != 2 || got[1] != componentstatus.StatusOK {
				t.Fatalf("statuses after recovery = %v, want RecoverableError then OK", got)
			}
		})
	}
}

func TestRetentionSweepAtStart(t *testing.T) {
	cfg := testConfig(t)
	cfg.Retention = 48 * time.Hour
	old := filepath.Join(cfg.Directory, "2001-01-01")
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "r.jsonl"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, cfg, nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(old); errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("expired folder not removed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFsyncAlways(t *testing.T) {
	fsys := ledgerstoretest.New(nil)
	cfg := testConfig(t)
	cfg.Fsync = "always"
	h := start(t, cfg, fsys)
	h.consumeTraces(spanWith("", "", spanA, step{kind: "a", run: "sync", at: t0}))
	p, _ := h.file("sync")
	if fsys.Syncs(p) != 1 {
		t.Fatalf("%d syncs before ack", fsys.Syncs(p))
	}
	fsys.Fail(ledgerstoretest.OpSync, syscall.EIO)
	if err := h.traces.ConsumeTraces(context.Background(),
		spanWith("", "", spanA, step{kind: "b", run: "sync", at: t0})); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync failure not reported: %v", err)
	}
	fsys.Fail(ledgerstoretest.OpSync, nil)
}

func TestConcurrentConsume(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxOpenFiles = 3
	h := start(t, cfg, nil)
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				run := fmt.Sprintf("cc-%d", i%5)
				at := t0.Add(time.Duration(g*1000+i) * time.Millisecond)
				var err error
				if i%2 == 0 {
					err = h.traces.ConsumeTraces(context.Background(), spanWith("", "", spanA, step{kind: "k", run: run, at: at}))
				} else {
					err = h.logs.ConsumeLogs(context.Background(), logsWith("", spanA, "", step{kind: "k", run: run, at: at}))
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for r := 0; r < 5; r++ {
		total += len(h.lines(fmt.Sprintf("cc-%d", r)))
	}
	if total != 240 {
		t.Fatalf("%d lines", total)
	}
}

// The store's run index hears of every append inside the write call.
func TestStoreIndexIsNotified(t *testing.T) {
	cfg := testConfig(t)
	var mu sync.Mutex
	var paths, kinds []string
	cfg.appended = func(a *ledger.Appended) {
		mu.Lock()
		defer mu.Unlock()
		paths = append(paths, a.Path)
		for _, l := range a.Lines {
			kinds = append(kinds, l.Kind)
		}
	}
	h := start(t, cfg, nil)
	at := time.Now().UTC()
	h.consumeTraces(spanWith("r-obs", "", spanA, step{kind: "run.start", at: at}))
	want := ledger.RunPath(cfg.Directory, at, "r-obs")
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 || paths[0] != want || !slices.Equal(kinds, []string{"run.start"}) {
		t.Fatalf("index heard %v %v, want [%s] [run.start]", paths, kinds, want)
	}
}

// A config naming a missing extension, or one that is not a ledger store,
// fails at start with a message that says what to configure; a second
// exporter on the same store is refused (it would number seq twice).
func TestStoreMisconfigured(t *testing.T) {
	ctx := context.Background()
	set := exportertest.NewNopSettings(metadata.Type)
	cfg := testConfig(t)
	startWith := func(host component.Host, cfg *Config) error {
		te, err := newFactory(nil).CreateTraces(ctx, set, cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = te.Start(ctx, host)
		if err == nil {
			t.Cleanup(func() { _ = te.Shutdown(ctx) })
		}
		return err
	}
	err := startWith(componenttest.NewNopHost(), cfg.Config)
	if err == nil || !strings.Contains(err.Error(), `store "reportapi" is not a configured extension`) {
		t.Fatalf("missing store: %v", err)
	}
	notAStore := struct {
		component.StartFunc
		component.ShutdownFunc
	}{}
	wrong := storeHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{cfg.Store: notAStore}}
	if err := startWith(wrong, cfg.Config); err == nil || !strings.Contains(err.Error(), "is not a ledger store") {
		t.Fatalf("wrong extension: %v", err)
	}
	host := cfg.host(t)
	if err := startWith(host, cfg.Config); err != nil {
		t.Fatal(err)
	}
	other := createDefaultConfig().(*Config) // another config naming the same store
	if err := startWith(host, other); err == nil || !strings.Contains(err.Error(), "already has a writer") {
		t.Fatalf("second writer: %v", err)
	}
}
