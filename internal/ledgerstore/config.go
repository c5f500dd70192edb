package ledgerstore

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/runledger/runledger/internal/ledger"
)

// FsyncMode says when the Writer calls fsync on ledger files.
type FsyncMode int

const (
	// FsyncNever leaves flushing to the operating system. Lines survive a
	// crash of the process, not of the machine.
	FsyncNever FsyncMode = iota
	// FsyncInterval syncs files with new lines every FsyncInterval in the
	// background.
	FsyncInterval
	// FsyncAlways syncs a file after every write, before Write returns.
	FsyncAlways
)

// ParseFsyncMode parses "never", "interval" or "always".
func ParseFsyncMode(s string) (FsyncMode, error) {
	switch s {
	case "never":
		return FsyncNever, nil
	case "interval":
		return FsyncInterval, nil
	case "always":
		return FsyncAlways, nil
	}
	return 0, fmt.Errorf("fsync must be one of never, interval, always; got %q", s)
}

// String returns the config spelling of m.
func (m FsyncMode) String() string {
	switch m {
	case FsyncNever:
		return "never"
	case FsyncInterval:
		return "interval"
	case FsyncAlways:
		return "always"
	}
	return fmt.Sprintf("FsyncMode(%d)", int(m))
}

// ErrNotRegular is the error of a ledger path that is not a regular file
// or whose folder is not a real directory (a symlink, a FIFO, a device):
// the writer neither writes through it nor acknowledges the write.
var ErrNotRegular = errors.New("not a regular file inside the ledger directory")

// Default values of WriterConfig fields left zero.
const (
	DefaultMaxOpenFiles  = 256
	DefaultFsyncInterval = time.Second
)

// Hooks lets the owner of a Writer count what happens inside it (for its
// own telemetry). Nil hooks are skipped; hooks must be cheap and must not
// call back into the Writer.
type Hooks struct {
	// FileOpened is called when a run's ledger file is opened, FileClosed
	// when it is closed again (LRU eviction, error or Close).
	FileOpened, FileClosed func()
	// TornLine is called when a torn last line of bytes bytes was cut off a
	// file on open.
	TornLine func(path string, bytes int64)
	// WriteError is called for every failed disk operation.
	WriteError func(err error)
	// Health is called with the error when writes start failing (the first
	// error condition, see the once-per-condition log) and with nil when the
	// last condition has cleared, so the owner can report its component
	// status; it is called under the Writer's condition lock, in order.
	Health func(err error)
	// Recreated is called when a run's open file was found deleted (or
	// replaced) by someone else and was opened again at its path.
	Recreated func(path string)
	// Appended is called after lines were appended to a run's file (see
	// ledger.Appended), under that run's lock, so calls for one file come in file
	// order. It must not keep a or its Lines.
	Appended func(a *ledger.Appended)
}

// WriterConfig configures a Writer.
type WriterConfig struct {
	// Dir is the ledger directory; it is created when missing.
	Dir string
	// FS is the file system, OSFS when nil.
	FS FS
	// MaxOpenFiles bounds open ledger files (and the memory of per-run
	// state); idle files are closed least recently used first. A file in use
	// is never closed, so the bound is exceeded while more runs than
	// MaxOpenFiles are written at the same instant. Default 256.
	MaxOpenFiles int
	// Fsync says when files are synced.
	Fsync FsyncMode
	// FsyncInterval is the period of FsyncInterval, default 1s.
	FsyncInterval time.Duration
	// Retention removes date folders whose whole day is older than this; 0
	// keeps everything. It also bounds which folders the run index is built
	// from.
	Retention time.Duration
	// SweepInterval is the period of the retention sweep; default the
	// smaller of an hour and Retention/4 (at least a minute).
	SweepInterval time.Duration
	// MaxRunStates bounds the runs whose seq and dedupe window stay in
	// memory after their file was closed, so a run written again soon is
	// reopened without reading its file's tail. Default 4 * MaxOpenFiles
	// (at least MaxOpenFiles).
	MaxRunStates int
	// DedupeWindow is the number of most recent event ids remembered per run;
	// an event whose id is among them is not written again. 0 disables
	// deduplication.
	DedupeWindow int
	// Now is the clock, time.Now when nil.
	Now func() time.Time
	// Logger receives one line per disk error condition and its recovery.
	Logger *zap.Logger
	// Hooks are called for telemetry.
	Hooks Hooks
}

// WriteResult counts what a Write did.
type WriteResult struct {
	// Lines is the number of step lines written.
	Lines int
	// Spans is the number of span records written.
	Spans int
	// Bytes is the number of bytes written.
	Bytes int
	// Deduped is the number of events skipped as already written.
	Deduped int
	// Invalid is the number of events not written because their RunID or
	// Kind was empty (readers would reject such lines).
	Invalid int
}

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("ledger writer is closed")
