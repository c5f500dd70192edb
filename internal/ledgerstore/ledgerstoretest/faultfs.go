// Package ledgertest provides a fault-injecting ledgerstore.FS for tests of the
// ledger writer and the components built on it.
package ledgerstoretest

import (
	"io/fs"
	"sync"

	"github.com/runledger/runledger/internal/ledgerstore"
)

// Op names a file-system operation that can be made to fail.
type Op string

// Operations of FaultFS.
const (
	OpOpen      Op = "open"
	OpMkdir     Op = "mkdir"
	OpReadDir   Op = "readdir"
	OpStat      Op = "stat"
	OpRemove    Op = "remove"
	OpWrite     Op = "write"
	OpTruncate  Op = "truncate"
	OpSync      Op = "sync"
	OpFileStat  Op = "fstat"
	OpReadAt    Op = "readat"
	OpFileClose Op = "close"
)

// FaultFS wraps a ledgerstore.FS and fails operations chosen by a fault function.
// A failing write first writes half of its bytes, the way a write that runs
// out of space mid-way does. It counts syncs per path.
type FaultFS struct {
	base ledgerstore.FS

	mu    sync.Mutex
	fault func(op Op, path string) error
	syncs map[string]int
	opens int
}

// New wraps base (ledgerstore.OSFS() when nil).
func New(base ledgerstore.FS) *FaultFS {
	if base == nil {
		base = ledgerstore.OSFS()
	}
	return &FaultFS{base: base, syncs: map[string]int{}}
}

// SetFault installs fn, consulted before every operation: a non-nil error
// fails it. nil removes the fault.
func (f *FaultFS) SetFault(fn func(op Op, path string) error) {
	f.mu.Lock()
	f.fault = fn
	f.mu.Unlock()
}

// Fail makes every op fail with err (on any path); Fail(op, nil) clears
// the fault.
func (f *FaultFS) Fail(op Op, err error) {
	if err == nil {
		f.SetFault(nil)
		return
	}
	f.SetFault(func(o Op, _ string) error {
		if o == op {
			return err
		}
		return nil
	})
}

// Syncs returns how often path was fsynced.
func (f *FaultFS) Syncs(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncs[path]
}

// Opens returns how many files were opened.
func (f *FaultFS) Opens() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opens
}

func (f *FaultFS) check(op Op, path string) error {
	f.mu.Lock()
	fn := f.fault
	f.mu.Unlock()
	if fn == nil {
		return nil
	}
	if err := fn(op, path); err != nil {
		return &fs.PathError{Op: string(op), Path: path, Err: err}
	}
	return nil
}

// OpenFile implements ledgerstore.FS.
func (f *FaultFS) OpenFile(name string, flag int, perm fs.FileMode) (ledgerstore.File, error) {
	if err := f.check(OpOpen, name); err != nil {
		return nil, err
	}
	file, err := f.base.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.opens++
	f.mu.Unlock()
	return &faultFile{File: file, fs: f}, nil
}

// MkdirAll implements ledgerstore.FS.
func (f *FaultFS) MkdirAll(path string, perm fs.FileMode) error {
	if err := f.check(OpMkdir, path); err != nil {
		return err
	}
	return f.base.MkdirAll(path, perm)
}

// ReadDir implements ledgerstore.FS.
func (f *FaultFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := f.check(OpReadDir, name); err != nil {
		return nil, err
	}
	return f.base.ReadDir(name)
}

// Stat implements ledgerstore.FS.
func (f *FaultFS) Stat(name string) (fs.FileInfo, error) {
	if err := f.check(OpStat, name); err != nil {
		return nil, err
	}
	return f.base.Stat(name)
}

// Lstat implements ledgerstore.FS.
func (f *FaultFS) Lstat(name string) (fs.FileInfo, error) {
	if err := f.check(OpStat, name); err != nil {
		return nil, err
	}
	return f.base.Lstat(name)
}

// Remove implements ledgerstore.FS.
func (f *FaultFS) Remove(name string) error {
	if err := f.check(OpRemove, name); err != nil {
		return err
	}
	return f.base.Remove(name)
}

// RemoveAll implements ledgerstore.FS.
func (f *FaultFS) RemoveAll(path string) error {
	if err := f.check(OpRemove, path); err != nil {
		return err
	}
	return f.base.RemoveAll(path)
}

type faultFile struct {
	ledgerstore.File
	fs *FaultFS
}

func (ff *faultFile) Write(p []byte) (int, error) {
	if err := ff.fs.check(OpWrite, ff.Name()); err != nil {
		n, _ := ff.File.Write(p[:len(p)/2])
		return n, err
	}
	return ff.File.Write(p)
}

func (ff *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if err := ff.fs.check(OpReadAt, ff.Name()); err != nil {
		return 0, err
	}
	return ff.File.ReadAt(p, off)
}

func (ff *faultFile) Stat() (fs.FileInfo, error) {
	if err := ff.fs.check(OpFileStat, ff.Name()); err != nil {
		return nil, err
	}
	return ff.File.Stat()
}

func (ff *faultFile) Truncate(size int64) error {
	if err := ff.fs.check(OpTruncate, ff.Name()); err != nil {
		return err
	}
	return ff.File.Truncate(size)
}

func (ff *faultFile) Sync() error {
	if err := ff.fs.check(OpSync, ff.Name()); err != nil {
		return err
	}
	ff.fs.mu.Lock()
	ff.fs.syncs[ff.Name()]++
	ff.fs.mu.Unlock()
	return ff.File.Sync()
}

func (ff *faultFile) Close() error {
	if err := ff.fs.check(OpFileClose, ff.Name()); err != nil {
		_ = ff.File.Close()
		return err
	}
	return ff.File.Close()
}
