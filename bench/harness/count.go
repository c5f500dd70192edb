package main

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Output is what a collector wrote, counted after it stopped.
type Output struct {
	// Files is the number of files counted.
	Files int `json:"files"`
	// Bytes is their total size.
	Bytes int64 `json:"bytes"`
	// Lines is the number of complete (newline-terminated) lines.
	Lines int64 `json:"lines"`
	// StepEvents is the number of step events found: ledger lines for
	// runledger, span events with a step.kind attribute for the peer.
	StepEvents int64 `json:"step_events"`
	// FallbackEvents is, for runledger, the lines in ledgers of runs named
	// after their trace ("trace-<trace id>"): step events whose run id was
	// not resolved in time and went to steproute's fallback.
	FallbackEvents int64 `json:"fallback_events"`
	// FallbackFiles is the number of such ledgers.
	FallbackFiles int `json:"fallback_files"`
}

// fallbackPrefix starts the run id (and so the ledger file name) steproute
// gives step events whose run id it could not resolve (fallback "trace").
const fallbackPrefix = "trace-"

// ledgerExt is the extension of ledger files.
const ledgerExt = ".jsonl"

// countLedgers counts the ledger files (*.jsonl) below dir and their
// complete lines. A trailing fragment without a newline is not a line
// (readers do not parse it either). Files are read by a few goroutines: a
// run of ours leaves one ledger per run, hundreds of thousands of small
// files.
func countLedgers(dir string) (Output, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && strings.HasSuffix(d.Name(), ledgerExt) {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return Output{}, err
	}
	type count struct {
		lines, size int64
		err         error
	}
	counts := make([]count, len(paths))
	const readers = 4
	var wg sync.WaitGroup
	for w := range readers {
		wg.Go(func() {
			for i := w; i < len(paths); i += readers {
				c := &counts[i]
				c.lines, c.size, c.err = countFileLines(paths[i])
			}
		})
	}
	wg.Wait()
	var out Output
	for i, c := range counts {
		if c.err != nil {
			return out, c.err
		}
		out.Files++
		out.Bytes += c.size
		out.Lines += c.lines
		if strings.HasPrefix(filepath.Base(paths[i]), fallbackPrefix) {
			out.FallbackFiles++
			out.FallbackEvents += c.lines
		}
	}
	out.StepEvents = out.Lines
	return out, nil
}

// countFileLines returns the number of step lines in a ledger (lines but
// span records) and its size.
func countFileLines(path string) (lines, size int64, err error) {
	b, err := os.ReadFile(path) // one run's ledger: kilobytes
	if err != nil {
		return 0, 0, err
	}
	// Span records (issue 15) are not step events.
	return int64(bytes.Count(b, []byte{'\n'}) - bytes.Count(b, spanRecordMark)), int64(len(b)), nil
}

// spanRecordMark is what a span record has right after its run id, and a
// step line cannot (its run id is followed by seq).
var spanRecordMark = []byte(`","rec":"span","ts":`)

// stepKindKey is how an attribute with key step.kind appears in OTLP JSON
// as the collector's pdata marshaler writes it (no spaces).
var stepKindKey = []byte(`"key":"step.kind"`)

// countPeerOutput counts the files below dir (the file exporter's output
// and its rotated backups): lines (one OTLP JSON request each) and step
// events. A step event is an attribute with key step.kind; in the load the
// harness sends, that key only appears on span events (never on spans or
// resources), so counting the key counts the step events without decoding
// gigabytes of JSON. The test checks this against the pdata decoder.
func countPeerOutput(dir string) (Output, error) {
	var out Output
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		n, lines, size, err := countPattern(f, stepKindKey)
		if err != nil {
			return err
		}
		out.Files++
		out.Bytes += size
		out.Lines += lines
		out.StepEvents += n
		return nil
	})
	return out, err
}

// countPattern counts the non-overlapping occurrences of pat in r (also
// across read boundaries), the newlines and the bytes.
func countPattern(r io.Reader, pat []byte) (hits, lines, size int64, err error) {
	if len(pat) == 0 {
		return 0, 0, 0, errors.New("empty pattern")
	}
	const chunk = 256 << 10
	buf := make([]byte, len(pat)-1+chunk)
	carry := 0 // bytes kept from the previous read (a possible pattern prefix)
	for {
		n, rerr := r.Read(buf[carry:])
		size += int64(n)
		lines += int64(bytes.Count(buf[carry:carry+n], []byte{'\n'}))
		data := buf[:carry+n]
		// Count whole matches; remember where the last one ended so the
		// carried tail cannot re-match inside it.
		end := 0
		for {
			i := bytes.Index(data[end:], pat)
			if i < 0 {
				break
			}
			hits++
			end += i + len(pat)
		}
		keep := min(len(pat)-1, len(data)-end)
		copy(buf, data[len(data)-keep:])
		carry = keep
		if errors.Is(rerr, io.EOF) {
			return hits, lines, size, nil
		}
		if rerr != nil {
			return hits, lines, size, rerr
		}
	}
}
