package ledger

import "unicode/utf8"

// Appended lives with the format, not with the writer (internal/ledgerstore),
// so that indexes consume appends without linking the writer and its logging.
// The store that owns a directory (ledgerstore.Dir) hands each append to its
// run index inside the write call.

// Appended describes lines a writer appended to one ledger file.
type Appended struct {
	// Path is the ledger file, as the writer names it.
	Path string
	// From and To are the file's size before and after the append: the new
	// lines are the bytes [From, To).
	From, To int64
	// Lines are the appended lines in file order with the fields an index
	// needs, equal to what ReadSummaryFrom decodes from the file: V, RunID,
	// Seq, TS, Kind, Status, ErrorCode and Service (ErrorCode only when the
	// producer set Entry.ErrorCode). Other fields are empty. The slice is
	// only valid during the call.
	Lines []Line
}

// decodedText returns s as it reads back after AppendString: unchanged
// when it is valid UTF-8, otherwise with each invalid byte as U+FFFD.
func decodedText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return string(b)
}
