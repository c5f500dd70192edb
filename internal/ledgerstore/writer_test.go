package ledgerstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/ledgerstore"
	"github.com/runledger/runledger/internal/ledgerstore/ledgerstoretest"
)

var day1 = time.Date(2026, 11, 25, 23, 59, 58, 0, time.UTC)

// stepLine returns the line of step event n of run, with an id derived from
// (run, n).
func stepLine(run string, n int, at time.Time) ledger.Line {
	var span [8]byte
	copy(span[:], run)
	id := ledger.NewEventID([16]byte{1}, span, uint64(at.UnixNano()), "stage.k", uint32(n))
	return ledger.Line{RunID: run, TS: at, Kind: "stage.k", Attrs: map[string]any{"n": n},
		Service: "svc", EventID: id.String()}
}

// event returns the entry of stepLine(run, n, at).
func event(run string, n int, at time.Time) ledger.Entry {
	l := stepLine(run, n, at)
	return ledger.NewEntry(&l)
}

func events(run string, from, to int, at time.Time) []ledger.Entry {
	var out []ledger.Entry
	for n := from; n < to; n++ {
		out = append(out, event(run, n, at.Add(time.Duration(n)*time.Millisecond)))
	}
	return out
}

func newWriter(t testing.TB, cfg ledgerstore.WriterConfig) *ledgerstore.Writer {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.DedupeWindow == 0 {
		cfg.DedupeWindow = 64
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return day1 }
	}
	w, err := ledgerstore.NewWriter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func mustWrite(t *testing.T, w *ledgerstore.Writer, evs []ledger.Entry) ledgerstore.WriteResult {
	t.Helper()
	res, err := w.Write(evs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func readAll(t *testing.T, path string) ([]ledger.Line, ledger.ReadStats) {
	t.Helper()
	var out []ledger.Line
	st, err := ledger.ReadFile(path, func(l *ledger.Line) error {
		out = append(out, *l)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, st
}

// checkRun asserts the run's single ledger file holds whole lines with seq
// 1..want and returns it.
func checkRun(t *testing.T, dir, run string, want int) ([]ledger.Line, string) {
	t.Helper()
	p, err := ledger.FindRun(dir, run)
	if err != nil || p == "" {
		t.Fatalf("run %q: no ledger (%v)", run, err)
	}
	lines, st := readAll(t, p)
	if st.Skipped != 0 || st.Partial != 0 {
		t.Fatalf("run %q: %+v", run, st)
	}
	if len(lines) != want {
		t.Fatalf("run %q: %d lines, want %d", run, len(lines), want)
	}
	for i, l := range lines {
		if l.Seq != uint64(i+1) || l.RunID != run {
			t.Fatalf("run %q line %d: seq %d run %q", run, i, l.Seq, l.RunID)
		}
	}
	return lines, p
}

func TestWriterSeqContinuesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir})
	if res := mustWrite(t, w, events("r1", 0, 3, day1)); res.Lines != 3 || res.Bytes == 0 {
		t.Fatalf("result %+v", res)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(events("r1", 3, 4, day1)); !errors.Is(err, ledgerstore.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	w2 := newWriter(t, ledgerstore.WriterConfig{Dir: dir})
	if w2.Runs() != 1 {
		t.Fatalf("index has %d runs", w2.Runs())
	}
	mustWrite(t, w2, events("r1", 3, 5, day1))
	lines, _ := checkRun(t, dir, "r1", 5)
	if lines[4].Attrs["n"] != 4.0 {
		t.Fatalf("last line %+v", lines[4])
	}
}

// A file that appears after the writer indexed its directory (another
// writer, a restore) is continued, not truncated or restarted at seq 1.
func TestWriterContinuesFileItDidNotIndex(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir})
	// The file is written elsewhere and moved in (a restore), since a
	// second writer cannot open a directory that has one.
	elsewhere := t.TempDir()
	other := newWriter(t, ledgerstore.WriterConfig{Dir: elsewhere})
	mustWrite(t, other, events("r1", 0, 2, day1))
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	src := ledger.RunPath(elsewhere, day1, "r1")
	dst := ledger.RunPath(dir, day1, "r1")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(src, dst); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, events("r1", 1, 4, day1)) // event 1 is already there
	lines, _ := checkRun(t, dir, "r1", 4)
	for i, l := range lines {
		if l.Seq != uint64(i+1) || l.Attrs["n"] != float64(i) {
			t.Fatalf("line %d: seq %d n %v", i, l.Seq, l.Attrs["n"])
		}
	}
}

func TestWriterMidnightStaysInOneFile(t *testing.T) {
	dir := t.TempDir()
	now := day1
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir, Now: func() time.Time { return now }})
	mustWrite(t, w, events("night", 0, 1, day1))                    // 23:59:58 on day 1
	mustWrite(t, w, events("night", 1, 2, day1.Add(5*time.Second))) // 00:00:03 on day 2
	w.Close()
	now = day1.Add(24 * time.Hour)
	w2 := newWriter(t, ledgerstore.WriterConfig{Dir: dir, Now: func() time.Time { return now }})
	mustWrite(t, w2, events("night", 2, 3, now))
	mustWrite(t, w2, events("fresh", 0, 1, now))
	_, p := checkRun(t, dir, "night", 3)
	if filepath.Base(filepath.Dir(p)) != "2026-11-25" {
		t.Fatalf("run landed in %s", p)
	}
	_, p2 := checkRun(t, dir, "fresh", 1)
	if filepath.Base(filepath.Dir(p2)) != "2026-11-26" {
		t.Fatalf("new run landed in %s", p2)
	}
}

func TestWriterDateFolderClamp(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir, Retention: 48 * time.Hour})
	mustWrite(t, w, events("past", 0, 1, time.Unix(1, 0)))
	mustWrite(t, w, events("future", 0, 1, day1.Add(1000*time.Hour)))
	mustWrite(t, w, events("zero", 0, 1, time.Unix(0, 0)))
	for _, r := range []string{"past", "future", "zero"} {
		_, p := checkRun(t, dir, r, 1)
		if filepath.Base(filepath.Dir(p)) != "2026-11-25" {
			t.Fatalf("run %s landed in %s", r, p)
		}
	}
}

func TestWriterDedupe(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir, DedupeWindow: 8})
	evs := events("d", 0, 5, day1)
	mustWrite(t, w, evs)
	// Redelivery of the same batch, and a batch holding a duplicate.
	if res := mustWrite(t, w, events("d", 0, 5, day1)); res.Lines != 0 || res.Deduped != 5 {
		t.Fatalf("redelivery: %+v", res)
	}
	dup := append(events("d", 5, 6, day1), events("d", 5, 6, day1)...)
	if res := mustWrite(t, w, dup); res.Lines != 1 || res.Deduped != 1 {
		t.Fatalf("in-batch duplicate: %+v", res)
	}
	w.Close()
	// After a restart the window is seeded from the file.
	w2 := newWriter(t, ledgerstore.WriterConfig{Dir: dir, DedupeWindow: 8})
	if res := mustWrite(t, w2, events("d", 2, 7, day1)); res.Lines != 1 || res.Deduped != 4 {
		t.Fatalf("after restart: %+v", res)
	}
	checkRun(t, dir, "d", 7)
	// Beyond the window an old event is written again (documented bound).
	mustWrite(t, w2, events("d", 7, 20, day1))
	if res := mustWrite(t, w2, events("d", 0, 1, day1)); res.Lines != 1 {
		t.Fatalf("outside window: %+v", res)
	}
}

func TestWriterDedupeDisabled(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir, DedupeWindow: -1})
	mustWrite(t, w, events("d", 0, 2, day1))
	if res := mustWrite(t, w, events("d", 0, 2, day1)); res.Lines != 2 {
		t.Fatalf("%+v", res)
	}
}

func TestWriterRepairsTornLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		tail string
	}{
		{"short fragment", `{"v":1,"run_id":"t","seq":3,"ts":"20`},
		{"fragment longer than a read chunk", `{"v":1,"run_id":"t","detail":"` + strings.Repeat("x", 300<<10)},
		{"only a fragment", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := newWriter(t, ledgerstore.WriterConfig{Dir: dir})
			if tc.tail != "" {
				mustWrite(t, w, events("t", 0, 2, day1))
			}
			w.Close()
			p, _ := ledger.FindRun(dir, "t")
			if p == "" {
				p = ledger.RunPath(dir, day1, "t")
				os.MkdirAll(filepath.Dir(p), 0o755)
			}
			f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			frag := tc.tail
			if frag == "" {
				frag = `{"v":1,"run_id":"t","se`
			}
			f.WriteString(frag)
			f.Close()

			var torn atomic.Int64
			w2 := newWriter(t, ledgerstore.WriterConfig{Dir: dir, Hooks: ledgerstore.Hooks{
				TornLine: func(_ string, n int64) { torn.Add(n) }}})
			mustWrite(t, w2, events("t", 2, 4, day1))
			if torn.Load() != int64(len(frag)) {
				t.Fatalf("torn bytes %d, want %d", torn.Load(), len(frag))
			}
			if tc.tail == "" {
				lines, _ := readAll(t, p)
				if len(lines) != 2 || lines[0].Seq != 1 {
					t.Fatalf("lines %+v", lines)
				}
				return
			}
			checkRun(t, dir, "t", 4)
		})
	}
}

func TestWriterSeqFromLastValidLine(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir})
	mustWrite(t, w, events("g", 0, 3, day1))
	w.Close()
	p, _ := ledger.FindRun(dir, "g")
	f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0o644)
	f.WriteString("garbage line\n{\"v\":1,\"run_id\":\"g\",\"seq\":99,\n")
	f.Close()
	w2 := newWriter(t, ledgerstore.WriterConfig{Dir: dir})
	mustWrite(t, w2, events("g", 3, 4, day1))
	var seqs []uint64
	st, _ := ledger.ReadFile(p, func(l *ledger.Line) error { seqs = append(seqs, l.Seq); return nil })
	if st.Skipped != 2 || fmt.Sprint(seqs) != "[1 2 3 4]" {
		t.Fatalf("stats %+v seqs %v", st, seqs)
	}
}

func TestWriterLRU(t *testing.T) {
	dir := t.TempDir()
	var opened, closed atomic.Int64
	fsys := ledgerstoretest.New(nil)
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir, MaxOpenFiles: 2, FS: fsys, Hooks: ledgerstore.Hooks{
		FileOpened: func() { opened.Add(1) }, FileClosed: func() { closed.Add(1) }}})
	const runs = 20
	counts := make([]int, runs)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 400; i++ {
		r := rng.IntN(runs)
		run := fmt.Sprintf("run-%02d", r)
		n := counts[r]
		// Every write also redelivers the previous event: deduped after reopen too.
		evs := events(run, max(0, n-1), n+2, day1)
		mustWrite(t, w, evs)
		counts[r] = n + 2
		if w.OpenFiles() > 2 {
			t.Fatalf("%d files open", w.OpenFiles())
		}
	}
	if opened.Load()-closed.Load() != int64(w.OpenFiles()) || fsys.Opens() < 100 {
		t.Fatalf("opened %d closed %d open %d opens %d", opened.Load(), closed.Load(), w.OpenFiles(), fsys.Opens())
	}
	for r, n := range counts {
		if n > 0 {
			checkRun(t, dir, fmt.Sprintf("run-%02d", r), n)
		}
	}
}

func TestWriterConcurrent(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir, MaxOpenFiles: 4, DedupeWindow: 1024})
	const workers, runs, perWorker = 8, 10, 50
	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				var evs []ledger.Entry
				for r := 0; r < runs; r++ {
					n := g*perWorker + i
					evs = append(evs, event(fmt.Sprintf("c%d", r), n, day1))
					evs = append(evs, event(fmt.Sprintf("c%d", r), n, day1)) // duplicate
				}
				if _, err := w.Write(evs); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for r := 0; r < runs; r++ {
		checkRun(t, dir, fmt.Sprintf("c%d", r), workers*perWorker)
	}
}

func TestWriterHostileRunIDs(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "ledger")
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir})
	if res, err := w.Write(events("", 0, 2, day1)); err != nil || res.Invalid != 2 || res.Lines != 0 {
		t.Fatalf("empty run id: %+v %v", res, err)
	}
	ids := []string{"../../etc/passwd", "/abs", "..", strings.Repeat("L", 10<<10), "a\x00b\x01",
		"bad\xffutf8", "CON", "nul.txt", `..\x`, "ok-1"}
	for _, id := range ids {
		mustWrite(t, w, events(id, 0, 1, day1))
	}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if !d.IsDir() && !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Errorf("file outside the ledger directory: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		p, _ := ledger.FindRun(dir, id)
		lines, _ := readAll(t, p)
		want := strings.ToValidUTF8(id, "\uFFFD")
		if id == "bad\xffutf8" {
			want = "bad\uFFFDutf8"
		}
		if len(lines) != 1 || lines[0].RunID != want {
			t.Fatalf("id %q: lines %+v", id, lines)
		}
	}
}

func TestWriterFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		op    ledgerstoretest.Op
		errno syscall.Errno
	}{
		{"disk full mid-write", ledgerstoretest.OpWrite, syscall.ENOSPC},
		{"permission denied on open", ledgerstoretest.OpOpen, syscall.EACCES},
		{"read-only folder", ledgerstoretest.OpMkdir, syscall.EROFS},
		{"fsync fails", ledgerstoretest.OpSync, syscall.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fsys := ledgerstoretest.New(nil)
			core, logs := observer.New(zapcore.InfoLevel)
			var errCount atomic.Int64
			now := day1
			w := newWriter(t, ledgerstore.WriterConfig{Dir: dir, FS: fsys, Fsync: ledgerstore.FsyncAlways,
				Logger: zap.New(core), Now: func() time.Time { return now },
				Hooks: ledgerstore.Hooks{WriteError: func(error) { errCount.Add(1) }}})
			mustWrite(t, w, events("f", 0, 3, day1))
			if tc.op == ledgerstoretest.OpOpen || tc.op == ledgerstoretest.OpMkdir {
				// Make the run need a new folder / file: a new day, a closed file.
				now = day1.Add(24 * time.Hour)
			}
			run := "f"
			if tc.op == ledgerstoretest.OpOpen || tc.op == ledgerstoretest.OpMkdir {
				run = "g"
			}
			var before []byte
			if p, _ := ledger.FindRun(dir, "f"); p != "" {
				before, _ = os.ReadFile(p)
			}
			fsys.Fail(tc.op, tc.errno)
			for i := 0; i < 5; i++ {
				_, err := w.Write(events(run, 3, 40, now))
				if !errors.Is(err, tc.errno) {
					t.Fatalf("attempt %d: err %v, want %v", i, err, tc.errno)
				}
			}
			if p, _ := ledger.FindRun(dir, "f"); tc.op == ledgerstoretest.OpWrite {
				after, _ := os.ReadFile(p)
				if !bytes.Equal(before, after) {
					t.Fatalf("failed write changed the file:\n%s\n---\n%s", before, after)
				}
			}
			if n := logs.FilterMessageSnippet("failing").Len(); n != 1 {
				t.Fatalf("%d error log lines for one condition: %v", n, logs.All())
			}
			if errCount.Load() < 5 {
				t.Fatalf("write errors counted: %d", errCount.Load())
			}
			fsys.Fail(tc.op, nil)
			res := mustWrite(t, w, events(run, 3, 40, now))
			if logs.FilterMessage("ledger writes recovered").Len() != 1 {
				t.Fatalf("no recovery log: %v", logs.All())
			}
			switch tc.op {
			case ledgerstoretest.OpSync:
				// Lines were written before fsync failed: the retry dedupes them.
				if res.Deduped != 37 {
					t.Fatalf("retry after fsync failure: %+v", res)
				}
				checkRun(t, dir, "f", 40)
			case ledgerstoretest.OpWrite:
				checkRun(t, dir, "f", 40)
			default:
				checkRun(t, dir, "g", 37)
			}
		})
	}
}

func TestWriterFsync(t *testing.T) {
	dir := t.TempDir()
	fsys := ledgerstoretest.New(nil)
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir, FS: fsys, Fsync: ledgerstore.FsyncInterval,
		FsyncInterval: time.Hour, MaxOpenFiles: 1})
	mustWrite(t, w, events("a", 0, 1, day1))
	pa := ledger.RunPath(dir, day1, "a")
	if fsys.Syncs(pa) != 0 {
		t.Fatal("synced before the interval")
	}
	mustWrite(t, w, events("b", 0, 1, day1)) // evicts a, still dirty
	w.Sync()
	pb := ledger.RunPath(dir, day1, "b")
	if fsys.Syncs(pa) != 1 || fsys.Syncs(pb) != 1 {
		t.Fatalf("syncs a=%d b=%d", fsys.Syncs(pa), fsys.Syncs(pb))
	}
	w.Sync()
	if fsys.Syncs(pb) != 1 {
		t.Fatal("clean file synced again")
	}

	dirA := t.TempDir()
	wa := newWriter(t, ledgerstore.WriterConfig{Dir: dirA, FS: fsys, Fsync: ledgerstore.FsyncAlways})
	mustWrite(t, wa, events("c", 0, 2, day1))
	mustWrite(t, wa, events("c", 2, 3, day1))
	if n := fsys.Syncs(ledger.RunPath(dirA, day1, "c")); n != 2 {
		t.Fatalf("fsync always: %d syncs", n)
	}
}

// testClock is a settable clock safe for the writer's background loops.
type testClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *testClock {
	c := &testClock{}
	c.set(t)
	return c
}
func (c *testClock) set(t time.Time)       { c.ns.Store(t.UnixNano()) }
func (c *testClock) now() time.Time        { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) get() func() time.Time { return c.now }

func TestWriterRetention(t *testing.T) {
	dir := t.TempDir()
	clock := newClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir, Now: clock.get(), Retention: 7 * 24 * time.Hour,
		SweepInterval: time.Hour, MaxOpenFiles: 2})
	mustWrite(t, w, events("old", 0, 1, clock.now()))
	clock.set(clock.now().Add(24 * time.Hour))
	mustWrite(t, w, events("longrun", 0, 1, clock.now()))
	clock.set(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	mustWrite(t, w, events("recent", 0, 1, clock.now())) // closes "old" (LRU)
	clock.set(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	removed, err := w.Sweep()
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || filepath.Base(removed[0]) != "2026-11-01" {
		t.Fatalf("removed %v", removed)
	}
	if _, err := os.Stat(filepath.Join(dir, "2026-11-02", "longrun.jsonl")); err != nil {
		t.Fatalf("open file removed: %v", err)
	}
	// The open run keeps its file; the expired one starts a new file today.
	mustWrite(t, w, events("longrun", 1, 2, clock.now()))
	checkRun(t, dir, "longrun", 2)
	mustWrite(t, w, events("old", 1, 2, clock.now()))
	_, p := checkRun(t, dir, "old", 1)
	if filepath.Base(filepath.Dir(p)) != "2026-11-25" {
		t.Fatalf("expired run reopened at %s", p)
	}
	w.Close()

	// Retention 0 keeps everything and indexes every folder.
	w3 := newWriter(t, ledgerstore.WriterConfig{Dir: dir, Now: clock.get()})
	if w3.Runs() != 3 {
		t.Fatalf("index without retention has %d runs", w3.Runs())
	}
	if removed, _ := w3.Sweep(); len(removed) != 0 {
		t.Fatalf("retention 0 removed %v", removed)
	}
	w3.Close()
	// A new writer leaves expired folders out of its index and sweeps them
	// right away.
	w2 := newWriter(t, ledgerstore.WriterConfig{Dir: dir, Now: clock.get(), Retention: 7 * 24 * time.Hour})
	if w2.Runs() != 2 { // recent, old (today); longrun's folder has expired
		t.Fatalf("index has %d runs", w2.Runs())
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "2026-11-02")); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("expired folder not swept at start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWriterDedupeSeededAcrossLargeTail(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir, DedupeWindow: 1024})
	big := func(from, to int) []ledger.Entry {
		var evs []ledger.Entry
		for n := from; n < to; n++ {
			l := stepLine("big", n, day1.Add(time.Duration(n)*time.Millisecond))
			l.Attrs["pad"] = strings.Repeat("p", 300)
			evs = append(evs, ledger.NewEntry(&l))
		}
		return evs
	}
	mustWrite(t, w, big(0, 1500)) // ~600 KB: the tail is read in several chunks
	w.Close()
	w2 := newWriter(t, ledgerstore.WriterConfig{Dir: dir, DedupeWindow: 1024})
	res := mustWrite(t, w2, big(476, 1501))
	if res.Deduped != 1024 || res.Lines != 1 {
		t.Fatalf("%+v", res)
	}
	checkRun(t, dir, "big", 1501)
}

func TestWriterWarmStateReloadsChangedFile(t *testing.T) {
	dir := t.TempDir()
	fsys := ledgerstoretest.New(nil)
	var torn atomic.Int64
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir, FS: fsys, MaxOpenFiles: 1, MaxRunStates: 10,
		Hooks: ledgerstore.Hooks{TornLine: func(string, int64) { torn.Add(1) }}})
	mustWrite(t, w, events("a", 0, 2, day1))
	mustWrite(t, w, events("b", 0, 1, day1)) // closes a, keeps its state
	opens := fsys.Opens()
	mustWrite(t, w, events("a", 1, 3, day1)) // warm: no tail read, dedupe from memory
	if fsys.Opens() != opens+1 {
		t.Fatalf("opens %d -> %d", opens, fsys.Opens())
	}
	mustWrite(t, w, events("b", 1, 2, day1)) // closes a again
	// Someone appends a torn fragment while a's file is closed.
	p, _ := ledger.FindRun(dir, "a")
	f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"v":1,"run_`)
	f.Close()
	mustWrite(t, w, events("a", 3, 4, day1))
	if torn.Load() != 1 {
		t.Fatal("changed file not reloaded")
	}
	checkRun(t, dir, "a", 4)
	checkRun(t, dir, "b", 2)
}

// syncCountingFS counts SyncFS calls on the OS file system.
type syncCountingFS struct {
	ledgerstore.FS
	syncs int
}

func (s *syncCountingFS) SyncFS(dir string) error {
	s.syncs++
	return s.FS.(interface{ SyncFS(string) error }).SyncFS(dir)
}

// With many dirty runs, fsync: interval flushes them with one syncfs.
func TestIntervalSyncUsesSyncFSForManyFiles(t *testing.T) {
	const runs = 40 // above the per-file fsync threshold
	fsys := &syncCountingFS{FS: ledgerstore.OSFS()}
	w, err := ledgerstore.NewWriter(ledgerstore.WriterConfig{Dir: t.TempDir(), FS: fsys, Fsync: ledgerstore.FsyncInterval,
		FsyncInterval: time.Hour, DedupeWindow: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	now := time.Now()
	for i := 0; i < runs; i++ {
		if _, err := w.Write([]ledger.Entry{event(fmt.Sprintf("r-%d", i), 0, now)}); err != nil {
			t.Fatal(err)
		}
	}
	w.Sync()
	if fsys.syncs != 1 {
		t.Fatalf("SyncFS called %d times, want once for %d dirty runs", fsys.syncs, runs)
	}
	w.Sync() // nothing dirty any more
	if fsys.syncs != 1 {
		t.Fatalf("SyncFS called again with nothing dirty")
	}
}

// Closing with many unsynced files flushes them with one syncfs, not an
// fsync each (which made shutdown under load take seconds).
func TestCloseUsesSyncFSForManyFiles(t *testing.T) {
	fsys := &syncCountingFS{FS: ledgerstore.OSFS()}
	dir := t.TempDir()
	w, err := ledgerstore.NewWriter(ledgerstore.WriterConfig{Dir: dir, FS: fsys, Fsync: ledgerstore.FsyncInterval,
		FsyncInterval: time.Hour, MaxOpenFiles: 8, DedupeWindow: 16})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := 0; i < 40; i++ { // most are closed by the LRU before Close
		if _, err := w.Write([]ledger.Entry{event(fmt.Sprintf("r-%d", i), 0, now)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if fsys.syncs != 1 {
		t.Fatalf("SyncFS called %d times on Close, want once", fsys.syncs)
	}
	if n := w.OpenFiles(); n != 0 {
		t.Fatalf("%d files open after Close", n)
	}
}

// BenchmarkWriteRun writes one run's 27 step events (what a run of the
// benchmark load brings when its root span arrives) into a run that is new,
// so the Write creates its file, and into a run whose file is open. The
// difference is what a file per run costs, nearly all of it in the kernel
// (on ext4: directory lookup and insert, a new inode). The file system is
// the one of the test's temp dir: set TMPDIR to measure another.
func BenchmarkWriteRun(b *testing.B) {
	const perRun = 27
	for _, newRun := range []bool{true, false} {
		name := map[bool]string{true: "new-run", false: "open-run"}[newRun]
		b.Run(name, func(b *testing.B) {
			w := newWriter(b, ledgerstore.WriterConfig{MaxOpenFiles: 64})
			evs := events("bench-run-0", 0, perRun, day1)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if newRun {
					id := fmt.Sprintf("bench-run-%d", i)
					for k := range evs {
						evs[k].RunID = id
					}
				} else {
					for k := range evs {
						// new ids: the same ones would be dropped as redeliveries
						evs[k].ID[0], evs[k].ID[1], evs[k].ID[2] = byte(i), byte(i>>8), byte(i>>16)
					}
				}
				if _, err := w.Write(evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*perRun)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
