package ledger

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// MaxLineBytes bounds one ledger line on read; longer lines are skipped.
const MaxLineBytes = 16 << 20

// ReadStats counts what a read saw besides valid lines.
type ReadStats struct {
	// Lines is the number of valid lines passed to the callback.
	Lines int
	// Skipped counts complete lines that could not be parsed.
	Skipped int
	// Spans counts span records (not passed to a step callback, not
	// skipped).
	Spans int
	// Partial is the size in bytes of a trailing fragment without newline:
	// a line being written right now, or one torn by a crash.
	Partial int
	// Offset is the byte offset just after the last complete line, where a
	// follow-up read can continue.
	Offset int64
}

// readerPool keeps read buffers: an index refreshing thousands of ledgers
// twice a second would otherwise allocate 64 KiB per file and refresh.
var readerPool sync.Pool

// ErrStop may be returned by a read callback to end the read early.
var ErrStop = errors.New("stop reading")

// ReadFile reads the ledger at path and calls fn for each valid line, in file
// order. The Line passed to fn is reused: copy it to keep it. A shallow copy
// is enough, as every line is decoded into new maps and strings.
func ReadFile(path string, fn func(*Line) error) (ReadStats, error) {
	return ReadFileFrom(path, 0, fn)
}

// ReadFileFrom is ReadFile starting at byte offset off, which must be the
// Offset of an earlier read (the start of a line).
func ReadFileFrom(path string, off int64, fn func(*Line) error) (ReadStats, error) {
	return readFileFrom(path, off, DecodeLine, fn)
}

// ReadSummaryFrom is ReadFileFrom for indexes over many lines: it decodes
// every field but detail, sizes, resources and attrs, which are left empty
// and only checked to be valid JSON (a line whose maps have the wrong types
// counts as valid here, and as skipped for ReadFile).
func ReadSummaryFrom(path string, off int64, fn func(*Line) error) (ReadStats, error) {
	return readFileFrom(path, off, decodeSummary, fn)
}

func readFileFrom(path string, off int64, decode func([]byte, *Line) error, fn func(*Line) error) (ReadStats, error) {
	f, err := Open(path)
	if err != nil {
		return ReadStats{Offset: off}, err
	}
	defer f.Close()
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return ReadStats{Offset: off}, fmt.Errorf("seek ledger %q: %w", path, err)
		}
	}
	st, err := read(f, off, decode, fn)
	if err != nil && !errors.Is(err, ErrStop) {
		return st, fmt.Errorf("read ledger %q: %w", path, err)
	}
	return st, nil
}

// Read reads ledger lines from r, which is positioned at byte offset base of
// its file, calling fn for each valid line. Unparsable complete lines are
// counted in Skipped; a trailing fragment without newline is not parsed.
func Read(r io.Reader, base int64, fn func(*Line) error) (ReadStats, error) {
	return read(r, base, DecodeLine, fn)
}

// ReadSpans is Read that also passes span records to onSpan (in file
// order, interleaved with the step lines as they are in the file). The
// SpanRecord is reused like the Line.
func ReadSpans(r io.Reader, base int64, fn func(*Line) error, onSpan func(*SpanRecord) error) (ReadStats, error) {
	return readSpans(r, base, DecodeLine, fn, onSpan)
}

// ReadFileSpans is ReadFile that also passes span records to onSpan.
func ReadFileSpans(path string, fn func(*Line) error, onSpan func(*SpanRecord) error) (ReadStats, error) {
	f, err := Open(path)
	if err != nil {
		return ReadStats{}, err
	}
	defer f.Close()
	st, err := readSpans(f, 0, DecodeLine, fn, onSpan)
	if err != nil && !errors.Is(err, ErrStop) {
		return st, fmt.Errorf("read ledger %q: %w", path, err)
	}
	return st, nil
}

func read(r io.Reader, base int64, decode func([]byte, *Line) error, fn func(*Line) error) (ReadStats, error) {
	return readSpans(r, base, decode, fn, nil)
}

func readSpans(r io.Reader, base int64, decode func([]byte, *Line) error, fn func(*Line) error, onSpan func(*SpanRecord) error) (ReadStats, error) {
	st := ReadStats{Offset: base}
	br, _ := readerPool.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(r, 64<<10)
	} else {
		br.Reset(r)
	}
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	var l Line
	var sp SpanRecord
	var long []byte // a line longer than the read buffer, assembled
	var longLen int // its full length, also past MaxLineBytes
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			longLen += len(chunk)
			if longLen <= MaxLineBytes {
				long = append(long, chunk...)
			}
			continue
		}
		line := chunk
		n := len(chunk)
		if longLen > 0 {
			n += longLen
			if n <= MaxLineBytes {
				line = append(long, chunk...)
			} else {
				line = chunk[:0]
			}
			long, longLen = long[:0], 0
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				st.Partial = n
				return st, nil
			}
			return st, err
		}
		st.Offset += int64(n)
		body := bytes.TrimRight(line, "\r\n")
		if n > MaxLineBytes {
			st.Skipped++
			continue
		}
		if len(body) == 0 {
			continue
		}
		if isSpanLine(body) {
			if onSpan == nil {
				st.Spans++
				continue
			}
			if DecodeSpan(body, &sp) != nil {
				st.Skipped++
				continue
			}
			st.Spans++
			if err := onSpan(&sp); err != nil {
				return st, err
			}
			continue
		}
		if decode(body, &l) != nil {
			st.Skipped++
			continue
		}
		st.Lines++
		if err := fn(&l); err != nil {
			return st, err
		}
	}
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
