package ledger

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
)

// TailChunk is the first read from the end of a file when it is opened for
// appending; reads double from there. Callers size the buffer they pass to
// RecoverTail by it.
const TailChunk = 64 << 10

// maxTailScan bounds how far back the dedupe window is seeded from; the
// last valid seq is searched without bound.
const maxTailScan = 4 << 20

// TailFile is what RecoverTail needs of a ledger file opened for appending.
type TailFile interface {
	io.ReaderAt
	// Stat returns the file's info (its size in particular).
	Stat() (fs.FileInfo, error)
	// Truncate changes the file's size.
	Truncate(size int64) error
}

// TailState is what a ledger file's end tells a writer that appends to it.
type TailState struct {
	// Size is the file size after repair: where the next line goes.
	Size int64
	// Seq is the seq of the last valid line, 0 for none.
	Seq uint64
	// Torn is the number of bytes of a torn last line that were cut off.
	Torn int64
	// IDs are the event ids of the last lines (up to the window), newest
	// first.
	IDs []EventID
}

// RecoverTail prepares f (opened for appending) for new lines: a trailing
// fragment without newline (a line torn by a crash or a failed write) is
// truncated away; the seq of the last valid line and the event ids of up to
// window last lines are read back. buf is scratch space, returned grown.
func RecoverTail(f TailFile, window int, buf []byte) (TailState, []byte, error) {
	var st TailState
	fi, err := f.Stat()
	if err != nil {
		return st, buf, fmt.Errorf("stat: %w", err)
	}
	size := fi.Size()
	st.Size = size
	if size == 0 {
		return st, buf, nil
	}
	// region holds the file's bytes [off, end).
	off, end := size, size
	var region []byte
	grow := func() error {
		n := int64(TailChunk)
		if have := end - off; have > 0 {
			n = have // double
		}
		newOff := max(0, off-n)
		need := int(end - newOff)
		if cap(buf) < need {
			nb := make([]byte, need, need+need/4)
			copy(nb[need-len(region):], region)
			buf = nb
		} else {
			buf = buf[:need]
			copy(buf[need-len(region):], region)
		}
		if _, err := f.ReadAt(buf[:off-newOff], newOff); err != nil && err != io.EOF {
			return fmt.Errorf("read tail: %w", err)
		}
		off = newOff
		region = buf
		return nil
	}
	if err := grow(); err != nil {
		return st, buf, err
	}
	if region[len(region)-1] != '\n' {
		nl := bytes.LastIndexByte(region, '\n')
		for nl < 0 && off > 0 {
			if err := grow(); err != nil {
				return st, buf, err
			}
			nl = bytes.LastIndexByte(region, '\n')
		}
		keep := off + int64(nl) + 1 // nl == -1 (and off == 0): keep nothing
		if err := f.Truncate(keep); err != nil {
			return st, buf, fmt.Errorf("cut torn last line: %w", err)
		}
		st.Torn = size - keep
		st.Size = keep
		end = keep
		region = region[:keep-off]
	}
	for {
		seq, found := scanTail(region, off == 0, window, &st.IDs)
		if found {
			st.Seq = seq
		}
		done := off == 0 || (found && (len(st.IDs) >= window || end-off >= maxTailScan))
		if done {
			return st, buf, nil
		}
		st.IDs = st.IDs[:0]
		if err := grow(); err != nil {
			return st, buf, err
		}
	}
}

// scanTail walks the complete lines of region from the end. It returns the
// seq of the last valid line and appends the event ids of up to window
// valid lines to ids, newest first. When whole is false the first line of
// region may be a fragment and is skipped. The seq comes from the last line
// the readers' decoder accepts, so recovery and readers agree on which lines
// count; the ids are picked out of each line by position instead (event_id
// is the last key the encoder writes), because a reopen reads up to the
// dedupe window of lines and decoding every one made reopening runs that
// fell out of the writer's state several times slower.
func scanTail(region []byte, whole bool, window int, ids *[]EventID) (seq uint64, found bool) {
	rest := region
	for len(rest) > 0 {
		// rest ends with '\n' (or is everything before a line already seen).
		body := rest[:len(rest)-1]
		i := bytes.LastIndexByte(body, '\n')
		line := body[i+1:]
		rest = body[:i+1]
		if i < 0 && !whole {
			break
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if !found {
			seq, found = lineSeq(line)
		}
		if len(*ids) < window {
			if id, ok := lineEventID(line); ok {
				*ids = append(*ids, id)
			}
		}
		if found && len(*ids) >= window {
			break
		}
	}
	return seq, found
}

var eventIDKey = []byte(`,"event_id":"`)

// lineSeq returns the seq of a line the decoder accepts.
func lineSeq(line []byte) (uint64, bool) {
	seq, _, ok := lineSeqID(line)
	return seq, ok
}

// lineEventID returns the event_id of a line as the encoder writes it: the
// last key, so the last occurrence of the key is the top-level one.
func lineEventID(line []byte) (EventID, bool) {
	var id EventID
	i := bytes.LastIndex(line, eventIDKey)
	if i < 0 || len(line)-(i+len(eventIDKey)) != 2*len(id)+len(`"}`) {
		return id, false
	}
	if _, err := hex.Decode(id[:], line[i+len(eventIDKey):len(line)-2]); err != nil {
		return id, false
	}
	return id, true
}
