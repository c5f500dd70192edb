package ledgerstore

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The descriptor-based File behaves like *os.File where the Writer relies
// on it: errors that errors.Is understands, appends, reads, size, truncate.
func TestFdFileBehavesLikeOSFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.jsonl")
	if _, err := openFile(p, os.O_RDWR|os.O_APPEND, 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open of a missing file: %v, want ErrNotExist", err)
	}
	f, err := openFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("exclusive create of an existing file: %v, want ErrExist", err)
	}
	for _, s := range []string{"line one\n", "line two\n"} {
		if n, err := f.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("write: %d %v", n, err)
		}
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() != 18 || fi.Name() != "r.jsonl" || fi.IsDir() || fi.Mode().Perm() == 0 {
		t.Fatalf("stat: %v %v", fi, err)
	}
	buf := make([]byte, 8)
	if n, err := f.ReadAt(buf, 9); err != nil || string(buf[:n]) != "line two" {
		t.Fatalf("read at 9: %q %v", buf[:n], err)
	}
	if n, err := f.ReadAt(buf, 14); err != io.EOF || string(buf[:n]) != "two\n" {
		t.Fatalf("read past the end: %q %v, want the rest and io.EOF", buf[:n], err)
	}
	if err := f.Truncate(9); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("line 2\n")); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("second close: %v, want ErrClosed", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "line one\nline 2\n" {
		t.Fatalf("file holds %q", b)
	}
	ro, err := openFile(p, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var pe *fs.PathError
	if _, err := ro.Write([]byte("x")); !errors.Is(err, syscall.EBADF) || !errors.As(err, &pe) || pe.Path != p {
		t.Fatalf("write to a read-only descriptor: %v, want a PathError wrapping EBADF", err)
	}
}
