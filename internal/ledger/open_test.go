//go:build unix

package ledger_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/runledger/runledger/internal/ledger"
)

func TestOpenRefusesLinksAndSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "r-1.jsonl")
	if err := os.WriteFile(regular, []byte(`{"v":1,"run_id":"r-1","seq":1,"ts":"2026-11-25T09:00:00Z","kind":"run.start","status":"ok"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "r-2.jsonl")
	if err := os.Symlink(regular, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "r-3.jsonl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "r-4.jsonl")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}

	f, err := ledger.Open(regular)
	if err != nil {
		t.Fatalf("regular file: %v", err)
	}
	f.Close()
	for _, p := range []string{link, fifo, folder} {
		if _, err := ledger.Open(p); !errors.Is(err, ledger.ErrNotLedgerFile) {
			t.Errorf("Open(%s) = %v, want ErrNotLedgerFile", filepath.Base(p), err)
		}
		n := 0
		if _, err := ledger.ReadFile(p, func(*ledger.Line) error { n++; return nil }); !errors.Is(err, ledger.ErrNotLedgerFile) || n != 0 {
			t.Errorf("ReadFile(%s) = %v after %d lines, want ErrNotLedgerFile and none", filepath.Base(p), err, n)
		}
	}
	if _, err := ledger.Open(filepath.Join(dir, "missing.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}
