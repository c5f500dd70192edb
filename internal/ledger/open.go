package ledger

import (
	"errors"
	"fmt"
	"os"
)

// ErrNotLedgerFile is the error of a ledger path that is a symbolic link or
// not a regular file (a FIFO, a device, a folder): readers refuse it rather
// than read data from outside the ledger directory or block on it.
var ErrNotLedgerFile = errors.New("not a regular ledger file")

// Open opens the ledger file at path for reading without following a
// symbolic link in its last element and without blocking on a FIFO, and
// refuses anything that is not a regular file. Every reader of ledgers
// (the run index, reports, the raw ledger route, the CLI) opens files
// through it, so they all see the same set of runs the writer would write.
func Open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		if isLoop(err) {
			return nil, fmt.Errorf("open ledger %q: %w: it is a symbolic link", path, ErrNotLedgerFile)
		}
		return nil, fmt.Errorf("open ledger %q: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat ledger %q: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open ledger %q: %w: it is a %s", path, ErrNotLedgerFile, fi.Mode().Type())
	}
	return f, nil
}
