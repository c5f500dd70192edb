package ledger

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func hostileIDs() []string {
	return []string{
		"../../etc/passwd", "/abs", "", ".", "..", "...", strings.Repeat("x", 10<<10), "a\x00b", "nul\x00",
		"ctl\x01\x1f\x7f", "bad\xff\xfeutf8", "CON", "con", "NUL.txt", "COM1", "lpt9.log", "aux", "PRN",
		`a\b`, `..\..\windows`, "a/b", "trailing.", "-leading", "_under", "sp ace", "ok-id", "日本語",
		"Run.42", "C:", "x:y", strings.Repeat("y", 128), strings.Repeat("y", 129),
	}
}

func checkFileName(t *testing.T, id string) string {
	t.Helper()
	name := FileName(id)
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00:") {
		t.Fatalf("FileName(%q) = %q is not a plain file name", id, name)
	}
	if len(name)+len(FileExt) > 255 {
		t.Fatalf("FileName(%q) too long: %d", id, len(name))
	}
	for i := 0; i < len(name); i++ {
		if !isSafeByte(name[i]) && name[i] != '~' {
			t.Fatalf("FileName(%q) = %q has byte %q", id, name, name[i])
		}
	}
	if windowsReserved(name) {
		t.Fatalf("FileName(%q) = %q is reserved on Windows", id, name)
	}
	dir := "/ledger"
	p := RunPath(dir, time.Unix(0, 0), id)
	if rel, err := filepath.Rel(dir, p); err != nil || strings.HasPrefix(rel, "..") || filepath.Dir(filepath.Dir(p)) != dir {
		t.Fatalf("RunPath(%q) = %q escapes %q", id, p, dir)
	}
	if SafeRunID(id) != (name == id) {
		t.Fatalf("safe id %q changed to %q (or unsafe kept)", id, name)
	}
	return name
}

func TestFileNameHostileIDs(t *testing.T) {
	seen := map[string]string{}
	for _, id := range hostileIDs() {
		name := checkFileName(t, id)
		if prev, ok := seen[name]; ok {
			t.Fatalf("%q and %q share file name %q", prev, id, name)
		}
		seen[name] = id
	}
}

func TestFileNameHostileIDsOnDisk(t *testing.T) {
	dir := t.TempDir()
	for _, id := range hostileIDs() {
		p := RunPath(dir, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), id)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
			t.Fatalf("id %q: %v", id, err)
		}
		got, err := FindRun(dir, id)
		if err != nil || got != p {
			t.Fatalf("FindRun(%q) = %q, %v; want %q", id, got, err, p)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "2026-01-02"))
	if len(ents) != len(hostileIDs()) {
		t.Fatalf("%d files for %d ids", len(ents), len(hostileIDs()))
	}
}

func TestFindRunDirWithGlobCharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runs[1]*")
	p := RunPath(dir, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), "r1")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := FindRun(dir, "r1"); err != nil || got != p {
		t.Fatalf("FindRun = %q, %v", got, err)
	}
	if got, err := FindRun(filepath.Join(dir, "missing"), "r1"); err != nil || got != "" {
		t.Fatalf("missing dir: %q, %v", got, err)
	}
}

func FuzzFileName(f *testing.F) {
	for _, id := range hostileIDs() {
		f.Add(id, id+"x")
	}
	f.Add("a", "A")
	f.Add("_a", "a")
	f.Fuzz(func(t *testing.T, a, b string) {
		na := checkFileName(t, a)
		nb := checkFileName(t, b)
		if a != b && na == nb {
			t.Fatalf("distinct ids %q and %q share file name %q", a, b, na)
		}
	})
}
