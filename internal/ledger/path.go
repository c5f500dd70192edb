package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultDirectory is the ledger directory used when none is configured: the
// one definition of that default, for the exporter, the extensions and the
// CLI alike.
const DefaultDirectory = "data/telemetry/runs"

// FileExt is the extension of ledger files.
const FileExt = ".jsonl"

// DateLayout names the per-day folders.
const DateLayout = "2006-01-02"

const maxSafeLen = 128

// FileName returns the file name stem (without FileExt) for a run id. Safe
// ids are used as they are; any other id gets an escaped name that starts
// with "_" (which no safe id does), keeps a readable prefix and ends with a
// hash of the full id, so distinct ids never share a file and no id can
// reach outside the ledger directory.
func FileName(runID string) string {
	if SafeRunID(runID) {
		return runID
	}
	var b strings.Builder
	b.WriteByte('_')
	for i := 0; i < len(runID) && b.Len() < 41; i++ {
		c := runID[i]
		if isSafeByte(c) && c != '.' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(runID))
	b.WriteByte('~')
	b.WriteString(hex.EncodeToString(sum[:16]))
	return b.String()
}

// SafeRunID reports whether id can be used as a file name unchanged:
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$, no trailing dot and no name that
// Windows reserves (CON, NUL, COM1...).
func SafeRunID(id string) bool {
	if len(id) == 0 || len(id) > maxSafeLen || !isAlnum(id[0]) || id[len(id)-1] == '.' {
		return false
	}
	for i := 1; i < len(id); i++ {
		if !isSafeByte(id[i]) {
			return false
		}
	}
	return !windowsReserved(id)
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isSafeByte(c byte) bool { return isAlnum(c) || c == '.' || c == '_' || c == '-' }

func windowsReserved(id string) bool {
	stem := id
	if i := strings.IndexByte(stem, '.'); i >= 0 {
		stem = stem[:i]
	}
	switch strings.ToUpper(stem) {
	case "CON", "PRN", "AUX", "NUL",
		"COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
		"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9":
		return true
	}
	return false
}

// DateDir returns the folder name for a run whose first event is at t.
func DateDir(t time.Time) string { return t.UTC().Format(DateLayout) }

// RunPath returns <dir>/<YYYY-MM-DD>/<FileName(runID)>.jsonl for a run whose
// first event is at first.
func RunPath(dir string, first time.Time, runID string) string {
	return filepath.Join(dir, DateDir(first), FileName(runID)+FileExt)
}

// FindRun returns the ledger file of runID under dir, searching the date
// folders newest first, or "" when the run has no ledger.
func FindRun(dir, runID string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", err
	}
	name := FileName(runID) + FileExt
	// ReadDir sorts by name, so date folders come oldest first.
	for i := len(ents) - 1; i >= 0; i-- {
		if !ents[i].IsDir() || !IsDateDir(ents[i].Name()) {
			continue
		}
		p := filepath.Join(dir, ents[i].Name(), name)
		if fileExists(p) {
			return p, nil
		}
	}
	return "", nil
}

// ErrRunNotFound is the error of a run that has no ledger. The packages
// that answer for runs (reportclient for a server's 404, insights, the MCP
// tools, the TUI) use this one value, so errors.Is finds it whichever of
// them reported it.
var ErrRunNotFound = errors.New("run not found")

// LocateRun is FindRun for a run that must have a ledger: an absent one is
// an error wrapping ErrRunNotFound that names the run and dir.
func LocateRun(dir, runID string) (string, error) {
	p, err := FindRun(dir, runID)
	if err != nil {
		return "", fmt.Errorf("search ledger directory %q: %w", dir, err)
	}
	if p == "" {
		return "", fmt.Errorf("run %q not found in %s: %w", runID, dir, ErrRunNotFound)
	}
	return p, nil
}

// FileNameStem returns the file name of path without directory and FileExt.
func FileNameStem(path string) string {
	return strings.TrimSuffix(filepath.Base(path), FileExt)
}

// IsDateDir reports whether name looks like a date folder (YYYY-MM-DD).
func IsDateDir(name string) bool {
	if len(name) != len(DateLayout) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if i == 4 || i == 7 {
			if name[i] != '-' {
				return false
			}
		} else if name[i] < '0' || name[i] > '9' {
			return false
		}
	}
	return true
}
