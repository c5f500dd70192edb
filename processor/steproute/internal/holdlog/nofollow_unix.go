//go:build unix

package holdlog

import "syscall"

// noFollow keeps a segment replaced by a symlink from being followed.
const noFollow = syscall.O_NOFOLLOW
