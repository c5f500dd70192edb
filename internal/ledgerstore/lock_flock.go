//go:build linux || darwin || freebsd || netbsd || openbsd

package ledgerstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive advisory lock on dir, held until the returned
// file is closed: two writers on one directory would number seq twice and
// interleave lines, so the second collector must not start.
func lockDir(dir string) (*os.File, error) {
	p := filepath.Join(dir, lockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file %q: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("ledger directory %q is in use by another collector (lock %q held): "+
				"give each collector its own directory", dir, p)
		}
		return nil, fmt.Errorf("lock %q: %w", p, err)
	}
	return f, nil
}
