package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTailServerFollows: `runledger tail --server` waits for a run the
// reportapi does not know yet, prints each of its lines once as they are
// written and stops after run.end.
func TestTailServerFollows(t *testing.T) {
	dir := t.TempDir()
	// startReportAPI waits for an indexed run.
	writeLedger(t, dir, hostileRun("r-other")...)
	base := startReportAPI(t, dir)

	out, errb := &lockedBuffer{}, &lockedBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"tail", "live-1", "--server", base, "--poll", "20ms", "--ledger-dir", filepath.Join(dir, "none")}, out, errb)
	}()
	writeLiveRun(t, dir, 60*time.Millisecond)
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("exit %d stderr %q", code, errb.String())
		}
	case <-ctx.Done():
		t.Fatalf("tail --server did not stop after run.end:\n%s\nstderr %s", out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[2], "ann.faiss.search") || !strings.Contains(lines[2], "FAILED") ||
		!strings.Contains(lines[3], "run.end") {
		t.Fatalf("tail output:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), "waiting for run \"live-1\" on "+base) {
		t.Fatalf("stderr %q", errb.String())
	}

	// Not following: a finished run is printed once, an unknown one is
	// exit 3.
	code, o, e := runCLI(t, "tail", "live-1", "--server", base, "--follow=false")
	if code != ExitOK || strings.Count(o, "\n") != 4 || e != "" {
		t.Fatalf("--follow=false: exit %d stdout %q stderr %q", code, o, e)
	}
	if code, _, e := runCLI(t, "tail", "nope", "--server", base, "--follow=false"); code != ExitNotFound {
		t.Fatalf("unknown run: exit %d stderr %q", code, e)
	}
}
