package ledgerstore

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

func TestSettingsValidate(t *testing.T) {
	s := DefaultSettings()
	if err := s.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if s.Directory != ledger.DefaultDirectory || s.Fsync != "interval" || s.MaxOpenFiles != 256 || s.Retention != 720*time.Hour {
		t.Fatalf("defaults %+v", s)
	}
	bad := Settings{Fsync: "sometimes", MaxOpenFiles: 0, Retention: -time.Hour, DedupeWindow: -1}
	err := bad.Validate()
	for _, want := range []string{`"directory" must not be empty`, `"max_open_files" must be at least 1`,
		`"fsync" must be one of never, interval, always; got "sometimes"`, `"retention" must be 0`, `"dedupe_window"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	noInterval := DefaultSettings()
	noInterval.FsyncInterval = 0
	if err := noInterval.Validate(); err == nil || !strings.Contains(err.Error(), `"fsync_interval" must be positive`) {
		t.Errorf("fsync_interval 0: %v", err)
	}
}

// A directory has one writer: a second OpenWriter fails while the first is
// open, and works once it is closed. Every append reaches the store's
// index hook.
func TestDirOneWriter(t *testing.T) {
	s := DefaultSettings()
	s.Directory = filepath.Join(t.TempDir(), "runs")
	var appended []string
	d := NewDir(s, func(a *ledger.Appended) { appended = append(appended, a.Path) })
	w, err := d.OpenWriter(WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.OpenWriter(WriterOptions{}); err == nil || !strings.Contains(err.Error(), "already has a writer") {
		t.Fatalf("second writer: %v", err)
	}
	l := ledger.Line{RunID: "r-1", TS: time.Now(), Kind: "run.start", Status: "ok"}
	if _, err := w.Write([]ledger.Entry{ledger.NewEntry(&l)}); err != nil {
		t.Fatal(err)
	}
	if len(appended) != 1 || filepath.Base(appended[0]) != "r-1.jsonl" {
		t.Fatalf("index heard %v", appended)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w2, err := d.OpenWriter(WriterOptions{})
	if err != nil {
		t.Fatalf("reopen after close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.Write([]ledger.Entry{ledger.NewEntry(&l)}); err == nil {
		t.Fatal("write after the store closed succeeded")
	}
}

// Issue 21: two collectors on one ledger directory. The second writer (in
// this process or another) fails to start with a message naming the
// directory; the lock goes with the first writer's Close.
func TestWriterLocksDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runs")
	w1, err := NewWriter(WriterConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewWriter(WriterConfig{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use by another collector") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second writer: %v", err)
	}
	if err := w1.Close(); err != nil {
		t.Fatal(err)
	}
	w2, err := NewWriter(WriterConfig{Dir: dir})
	if err != nil {
		t.Fatalf("after close: %v", err)
	}
	_ = w2.Close()
}
