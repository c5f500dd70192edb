package ledgerstore

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/runledger/runledger/internal/ledger"
)

// Settings are the configuration of a ledger directory: where it is and how
// its files are written. The extension that owns the directory (reportapi)
// takes them in its config, so the directory is configured once, and the
// exporter that writes names that extension (`store: reportapi`).
type Settings struct {
	// Directory holds the ledgers, <Directory>/<YYYY-MM-DD>/<run_id>.jsonl.
	Directory string `mapstructure:"directory"`
	// MaxOpenFiles bounds the run files kept open at once.
	MaxOpenFiles int `mapstructure:"max_open_files"`
	// Fsync is never, interval or always.
	Fsync string `mapstructure:"fsync"`
	// FsyncInterval is the sync period with fsync: interval.
	FsyncInterval time.Duration `mapstructure:"fsync_interval"`
	// Retention is how long date folders are kept; 0 keeps everything.
	Retention time.Duration `mapstructure:"retention"`
	// DedupeWindow is how many recent event ids per run are remembered to
	// drop redelivered events; 0 turns deduplication off.
	DedupeWindow int `mapstructure:"dedupe_window"`
}

// Defaults of Settings.
const (
	DefaultRetention    = 720 * time.Hour
	DefaultDedupeWindow = 1024
	// MaxDedupeWindow bounds dedupe_window (ids kept per open run).
	MaxDedupeWindow = 1 << 20
)

// DefaultSettings returns the settings of a directory nobody configured.
func DefaultSettings() Settings {
	return Settings{
		Directory:     ledger.DefaultDirectory,
		MaxOpenFiles:  DefaultMaxOpenFiles,
		Fsync:         FsyncInterval.String(),
		FsyncInterval: DefaultFsyncInterval,
		Retention:     DefaultRetention,
		DedupeWindow:  DefaultDedupeWindow,
	}
}

// Validate checks s, naming the config keys.
func (s *Settings) Validate() error {
	var errs []error
	if s.Directory == "" {
		errs = append(errs, errors.New(`"directory" must not be empty`))
	}
	if s.MaxOpenFiles < 1 {
		errs = append(errs, fmt.Errorf(`"max_open_files" must be at least 1, got %d`, s.MaxOpenFiles))
	}
	mode, err := ParseFsyncMode(s.Fsync)
	if err != nil {
		errs = append(errs, fmt.Errorf(`"fsync" must be one of never, interval, always; got %q`, s.Fsync))
	}
	if err == nil && mode == FsyncInterval && s.FsyncInterval <= 0 {
		errs = append(errs, fmt.Errorf(`"fsync_interval" must be positive with fsync: interval, got %s`, s.FsyncInterval))
	}
	if s.Retention < 0 {
		errs = append(errs, fmt.Errorf(`"retention" must be 0 (keep everything) or positive, got %s`, s.Retention))
	}
	if s.DedupeWindow < 0 || s.DedupeWindow > MaxDedupeWindow {
		errs = append(errs, fmt.Errorf(`"dedupe_window" must be between 0 (off) and %d, got %d`, MaxDedupeWindow, s.DedupeWindow))
	}
	return errors.Join(errs...)
}

// Store is a ledger directory with one owner. A collector extension that
// owns a directory implements it; the jsonlledger exporter finds it by the
// component ID in its `store` setting and writes through it.
type Store interface {
	// OpenWriter opens the writer of the directory. Only one writer is
	// open at a time: two exporters on one directory would number seq
	// twice. Closing the writer releases the directory.
	OpenWriter(o WriterOptions) (*Writer, error)
}

// WriterOptions are what the exporter brings to the writer it opens.
type WriterOptions struct {
	// Logger logs the writer's warnings.
	Logger *zap.Logger
	// Hooks count what happens in the writer; Appended is the store's.
	Hooks Hooks
	// FS is a test seam; nil means the operating system's.
	FS FS
}

// Dir is the Store of one directory for the extension that owns it: the
// run index it keeps learns every append from inside the write call.
type Dir struct {
	settings Settings
	appended func(*ledger.Appended)

	mu sync.Mutex
	w  *Writer
}

var _ Store = (*Dir)(nil)

// NewDir returns the store of the directory s describes; appended (may be
// nil) is told about every append of every writer it opens.
func NewDir(s Settings, appended func(*ledger.Appended)) *Dir {
	return &Dir{settings: s, appended: appended}
}

// Settings returns the directory's settings.
func (d *Dir) Settings() Settings { return d.settings }

// OpenWriter implements Store.
func (d *Dir) OpenWriter(o WriterOptions) (*Writer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w != nil && !d.w.isClosed.Load() {
		return nil, fmt.Errorf("ledger directory %q already has a writer: only one exporter may name its store", d.settings.Directory)
	}
	mode, err := ParseFsyncMode(d.settings.Fsync)
	if err != nil {
		return nil, err
	}
	h := o.Hooks
	h.Appended = d.appended
	w, err := NewWriter(WriterConfig{
		Dir:           d.settings.Directory,
		FS:            o.FS,
		MaxOpenFiles:  d.settings.MaxOpenFiles,
		Fsync:         mode,
		FsyncInterval: d.settings.FsyncInterval,
		Retention:     d.settings.Retention,
		DedupeWindow:  d.settings.DedupeWindow,
		Logger:        o.Logger,
		Hooks:         h,
	})
	if err != nil {
		return nil, err
	}
	d.w = w
	return w, nil
}

// Close closes a writer still open (its exporter normally closes it first).
func (d *Dir) Close() error {
	d.mu.Lock()
	w := d.w
	d.w = nil
	d.mu.Unlock()
	if w == nil || w.isClosed.Load() {
		return nil
	}
	return w.Close()
}
