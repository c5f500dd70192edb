//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package ledgerstore

import "os"

// lockDir is a no-op where flock is not available; docs say one collector
// per directory.
func lockDir(string) (*os.File, error) { return nil, nil }
