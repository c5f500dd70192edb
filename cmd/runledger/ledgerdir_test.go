package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMissingLedgerDir: every command that reads the ledger directory says
// that a directory that does not exist does not exist, and how to set it,
// instead of listing nothing or not finding the run.
func TestMissingLedgerDir(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexistent")
	t.Setenv("RUNLEDGER_LEDGER_DIR", "")
	for _, args := range [][]string{
		{"runs", "list"},
		{"runs", "list", "--format", "json"},
		{"report", "run", "r-42"},
		{"report", "run", "r-42", "--format", "md"},
		{"tail", "r-42", "--follow=false"},
		{"tail", "r-42"},
		{"tui"},
	} {
		// A command that waits (tail, tui) must fail at once, not wait.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		var outb, errb bytes.Buffer
		code := Run(ctx, append(args, "--ledger-dir", missing), &outb, &errb)
		cancel()
		out, errOut := outb.String(), errb.String()
		if code != ExitError || out != "" {
			t.Errorf("%v: exit %d stdout %q, want exit %d and no output", args, code, out, ExitError)
		}
		for _, s := range []string{missing, "does not exist", "--ledger-dir", "RUNLEDGER_LEDGER_DIR"} {
			if !strings.Contains(errOut, s) {
				t.Errorf("%v: stderr %q lacks %q", args, errOut, s)
			}
		}
	}
	// Set through the variable, the message says so.
	t.Setenv("RUNLEDGER_LEDGER_DIR", missing)
	if code, _, errOut := runCLI(t, "runs", "list"); code != ExitError || !strings.Contains(errOut, "from RUNLEDGER_LEDGER_DIR") {
		t.Errorf("env: exit %d stderr %q", code, errOut)
	}
	// A file is not a ledger directory either.
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, []byte("x"), 0o644)
	if code, _, errOut := runCLI(t, "runs", "list", "--ledger-dir", file); code != ExitError || !strings.Contains(errOut, "not a directory") {
		t.Errorf("file: exit %d stderr %q", code, errOut)
	}
}

// TestEmptyLedgerDir: an existing empty directory is a place without runs
// yet, not an error.
func TestEmptyLedgerDir(t *testing.T) {
	empty := t.TempDir()
	code, out, errOut := runCLI(t, "runs", "list", "--ledger-dir", empty)
	if code != ExitOK || strings.TrimSpace(out) != strings.TrimSpace(strings.Split(out, "\n")[0]) || !strings.HasPrefix(out, "RUN ID") {
		t.Fatalf("runs list: exit %d stdout %q stderr %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "report", "run", "r-42", "--ledger-dir", empty); code != ExitNotFound || !strings.Contains(errOut, "not found") {
		t.Fatalf("report: exit %d stderr %q", code, errOut)
	}
}
