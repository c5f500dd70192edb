//go:build linux

package ledgerstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/ledgerstore"
)

// Issue 22: the writer writes only regular files inside its directory. A
// run file replaced by a symlink, a symlinked date folder, a FIFO and a
// device are refused with an error (the export is not acknowledged), the
// target outside is untouched, and other runs keep being written.
func TestWriterRefusesNonRegularFiles(t *testing.T) {
	outside := t.TempDir()
	victim := filepath.Join(outside, "passwd")
	if err := os.WriteFile(victim, []byte("root:x:0:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		plant func(t *testing.T, dir string) // makes run "bad"'s path hostile
		want  string
	}{
		{"symlinked run file", func(t *testing.T, dir string) {
			p := ledger.RunPath(dir, day1, "bad")
			mustMkdir(t, filepath.Dir(p))
			if err := os.Symlink(victim, p); err != nil {
				t.Fatal(err)
			}
		}, "symbolic link"},
		{"symlinked date folder", func(t *testing.T, dir string) {
			if err := os.Symlink(outside, filepath.Join(dir, ledger.DateDir(day1))); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		{"fifo", func(t *testing.T, dir string) {
			p := ledger.RunPath(dir, day1, "bad")
			mustMkdir(t, filepath.Dir(p))
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		{"device", func(t *testing.T, dir string) {
			p := ledger.RunPath(dir, day1, "bad")
			mustMkdir(t, filepath.Dir(p))
			if err := syscall.Mknod(p, syscall.S_IFCHR|0o644, 1<<8|5); err != nil { // /dev/zero
				t.Skipf("mknod: %v (needs root)", err)
			}
		}, "not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.plant(t, dir)
			w := newWriter(t, ledgerstore.WriterConfig{Dir: dir})
			done := make(chan error, 1)
			go func() {
				_, err := w.Write(events("bad", 0, 3, day1))
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("write: %v, want an error mentioning %q", err, c.want)
				}
				if !errors.Is(err, ledgerstore.ErrNotRegular) && !errors.Is(err, syscall.ELOOP) {
					t.Fatalf("error %v is neither ErrNotRegular nor ELOOP", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("write blocked")
			}
			if b, _ := os.ReadFile(victim); string(b) != "root:x:0:0\n" {
				t.Fatalf("file outside the directory was written: %q", b)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 1 {
				t.Fatalf("files created outside the directory: %v", ents)
			}
			// Another run is not held up.
			mustWrite(t, w, events("good", 0, 2, day1.Add(-24*time.Hour))) // another date folder
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A run file that becomes a symlink while open (renamed over) is not
// written through either: the writer notices the open file lost its name,
// and the reopen refuses the link.
func TestWriterOpenFileReplacedBySymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(victim, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir})
	mustWrite(t, w, events("r1", 0, 1, day1))
	p := ledger.RunPath(dir, day1, "r1")
	tmp := p + ".tmp"
	if err := os.Symlink(victim, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(events("r1", 1, 2, day1)); err == nil {
		t.Fatal("write through a symlink succeeded")
	}
	if b, _ := os.ReadFile(victim); len(b) != 0 {
		t.Fatalf("symlink target written: %q", b)
	}
}

// A run file deleted while open is recreated at its path, counted, and
// the next acknowledged lines are readable there.
func TestWriterRecreatesDeletedFile(t *testing.T) {
	dir := t.TempDir()
	var recreated []string
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir, Hooks: ledgerstore.Hooks{
		Recreated: func(p string) { recreated = append(recreated, p) },
	}})
	mustWrite(t, w, events("r1", 0, 2, day1))
	p := ledger.RunPath(dir, day1, "r1")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, events("r1", 2, 4, day1))
	lines, _ := checkRun(t, dir, "r1", 2)
	if lines[0].Attrs["n"] != 2.0 || lines[1].Attrs["n"] != 3.0 {
		t.Fatalf("lines after recreate %+v", lines)
	}
	if len(recreated) != 1 || recreated[0] != p {
		t.Fatalf("Recreated hook: %v", recreated)
	}
}

// Bytes another process appends without a newline do not glue onto the
// next line: it starts on a fresh line, and the fragment is one skipped
// line for readers.
func TestWriterStartsAfterForeignFragment(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, ledgerstore.WriterConfig{Dir: dir})
	mustWrite(t, w, events("r1", 0, 2, day1))
	p := ledger.RunPath(dir, day1, "r1")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"garbage":`); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	mustWrite(t, w, events("r1", 2, 3, day1))
	lines, st := readAll(t, p)
	if len(lines) != 3 || st.Skipped != 1 || st.Partial != 0 {
		t.Fatalf("%d lines, stats %+v", len(lines), st)
	}
	if lines[2].Seq != 3 || lines[2].Attrs["n"] != 2.0 {
		t.Fatalf("line after the fragment %+v", lines[2])
	}
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}
