package ledgerstore

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// condKey is one disk error condition: an error class in one folder.
type condKey struct {
	class string
	dir   string
}

type condition struct {
	since    time.Time
	failures int
}

// conditions logs disk errors once per condition (error class and folder)
// and once more when writes to that folder succeed again, so a full disk
// produces two log lines, not one per event.
type conditions struct {
	mu     sync.Mutex
	n      atomic.Int32 // len(active), read on the write path without mu
	active map[condKey]*condition
}

// failure records a failed disk operation and returns it wrapped with
// context.
func (w *Writer) failure(dir, op, path string, err error) error {
	w.hookErr(err)
	class, hint := errorClass(err)
	key := condKey{class: class, dir: dir}
	c := &w.conds
	c.mu.Lock()
	cond := c.active[key]
	if cond == nil {
		cond = &condition{since: w.now()}
		c.active[key] = cond
		c.n.Store(int32(len(c.active)))
		if len(c.active) == 1 && w.cfg.Hooks.Health != nil {
			w.cfg.Hooks.Health(fmt.Errorf("ledger writes failing (%s in %q): %w", class, dir, err))
		}
		w.logger.Error("ledger writes failing; exports are refused until this clears (the collector retries them)",
			zap.String("condition", class), zap.String("hint", hint), zap.String("folder", dir),
			zap.String("op", op), zap.String("path", path), zap.Error(err))
	}
	cond.failures++
	c.mu.Unlock()
	return fmt.Errorf("ledger %s %q: %w", op, path, err)
}

func (w *Writer) hookErr(err error) {
	if w.cfg.Hooks.WriteError != nil {
		w.cfg.Hooks.WriteError(err)
	}
}

// success clears the conditions of dir after a successful write there.
func (c *conditions) success(w *Writer, dir string) {
	if c.n.Load() == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, cond := range c.active {
		if key.dir != dir {
			continue
		}
		w.logger.Info("ledger writes recovered",
			zap.String("condition", key.class), zap.String("folder", dir),
			zap.Int("failed_operations", cond.failures), zap.Duration("after", w.now().Sub(cond.since)))
		delete(c.active, key)
		if len(c.active) == 0 && w.cfg.Hooks.Health != nil {
			w.cfg.Hooks.Health(nil)
		}
	}
	c.n.Store(int32(len(c.active)))
}

// errorClass names the condition of a disk error and says what to do.
func errorClass(err error) (class, hint string) {
	if errors.Is(err, ErrNotRegular) {
		return "not_regular", "a ledger path is a symlink, FIFO, device or other non-regular file: remove it; the collector writes only regular files inside its directory"
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return "error", "see the error"
	}
	switch errno {
	case syscall.ENOSPC:
		return "ENOSPC", "the disk is full: free space or move the ledger directory"
	case syscall.EDQUOT:
		return "EDQUOT", "the disk quota is exhausted"
	case syscall.EACCES, syscall.EPERM:
		return errnoName(errno), "the collector may not write here: fix the folder's owner or permissions"
	case syscall.EROFS:
		return "EROFS", "the file system is read-only: remount it read-write or change directory"
	case syscall.EMFILE, syscall.ENFILE:
		return errnoName(errno), "too many open files: lower max_open_files or raise the descriptor limit"
	case syscall.EIO:
		return "EIO", "the disk reports I/O errors"
	case syscall.ELOOP:
		return "ELOOP", "a ledger file is a symbolic link: the collector does not write through links; remove it"
	}
	return errnoName(errno), "see the error"
}

func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.EACCES:
		return "EACCES"
	case syscall.EPERM:
		return "EPERM"
	case syscall.EMFILE:
		return "EMFILE"
	case syscall.ENFILE:
		return "ENFILE"
	}
	return fmt.Sprintf("errno %d (%s)", int(e), e.Error())
}
