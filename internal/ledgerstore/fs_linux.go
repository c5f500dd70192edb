package ledgerstore

import (
	"io"
	"io/fs"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// openFile opens a ledger file as a bare file descriptor. An *os.File
// costs five more system calls per open on Linux (two fcntl to make it
// non-blocking, a failing epoll_ctl because regular files cannot be
// polled, two fcntl to undo it) and a finalizer; with one file per run
// the Writer opens thousands of files a second.
func openFile(name string, flag int, perm fs.FileMode) (File, error) {
	for {
		fd, err := unix.Open(name, flag|unix.O_CLOEXEC, uint32(perm.Perm()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &fdFile{fd: fd, name: name}, nil
	}
}

// fdFile is a File over a file descriptor, with the errors *os.File gives
// (*fs.PathError wrapping the errno). Not safe for concurrent use: the
// Writer serialises access per run.
type fdFile struct {
	fd   int
	name string
}

func (f *fdFile) Name() string { return f.name }

func (f *fdFile) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Write(f.fd, b[n:])
		if err == unix.EINTR {
			continue
		}
		if m > 0 {
			n += m
		}
		if err != nil {
			return n, f.err("write", err)
		}
		if m == 0 {
			return n, f.err("write", io.ErrShortWrite)
		}
	}
	return n, nil
}

func (f *fdFile) ReadAt(b []byte, off int64) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Pread(f.fd, b[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, f.err("read", err)
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

func (f *fdFile) Close() error {
	if f.fd < 0 {
		return f.err("close", fs.ErrClosed)
	}
	err := unix.Close(f.fd)
	f.fd = -1
	if err != nil && err != unix.EINTR { // the descriptor is gone after EINTR too
		return f.err("close", err)
	}
	return nil
}

func (f *fdFile) Stat() (fs.FileInfo, error) {
	var st unix.Stat_t
	if err := retryEINTR(func() error { return unix.Fstat(f.fd, &st) }); err != nil {
		return nil, f.err("stat", err)
	}
	return &fdInfo{name: f.name, st: st}, nil
}

func (f *fdFile) Truncate(size int64) error {
	if err := retryEINTR(func() error { return unix.Ftruncate(f.fd, size) }); err != nil {
		return f.err("truncate", err)
	}
	return nil
}

func (f *fdFile) Sync() error {
	if err := retryEINTR(func() error { return unix.Fsync(f.fd) }); err != nil {
		return f.err("sync", err)
	}
	return nil
}

func (f *fdFile) err(op string, err error) error {
	return &fs.PathError{Op: op, Path: f.name, Err: err}
}

func retryEINTR(fn func() error) error {
	for {
		if err := fn(); err != unix.EINTR {
			return err
		}
	}
}

// fdInfo is the fs.FileInfo of an fdFile.
type fdInfo struct {
	name string
	st   unix.Stat_t
}

func (i *fdInfo) Name() string       { return filepath.Base(i.name) }
func (i *fdInfo) Size() int64        { return i.st.Size }
func (i *fdInfo) ModTime() time.Time { return time.Unix(i.st.Mtim.Unix()) }
func (i *fdInfo) IsDir() bool        { return i.st.Mode&unix.S_IFMT == unix.S_IFDIR }
func (i *fdInfo) Sys() any           { return &i.st }
func (i *fdInfo) Mode() fs.FileMode {
	m := fs.FileMode(i.st.Mode & 0o777)
	switch i.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
	return m
}

// linkCount returns the number of names of the file fi describes (0 once
// it was deleted while open), when the platform tells.
func linkCount(fi fs.FileInfo) (uint64, bool) {
	switch st := fi.Sys().(type) {
	case *unix.Stat_t:
		return uint64(st.Nlink), true
	}
	return 0, false
}

// noFollow makes opening a symlink fail (ELOOP) instead of following it.
const noFollow = unix.O_NOFOLLOW
