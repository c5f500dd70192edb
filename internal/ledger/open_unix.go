//go:build unix

package ledger

import (
	"errors"
	"syscall"
)

// openFlags make Open refuse a symbolic link (ELOOP) and not wait for a
// writer when the path is a FIFO; on a regular file O_NONBLOCK does nothing.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

func isLoop(err error) bool { return errors.Is(err, syscall.ELOOP) }
