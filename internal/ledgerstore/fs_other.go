//go:build !linux

package ledgerstore

import (
	"io/fs"
	"os"
)

func openFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// linkCount returns the number of names of the file fi describes, when the
// platform tells; here it does not.
func linkCount(fs.FileInfo) (uint64, bool) { return 0, false }

// noFollow is O_NOFOLLOW where the platform has it (fs_linux.go); elsewhere
// the writer relies on its Lstat checks.
const noFollow = 0
