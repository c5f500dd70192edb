package ledger

// Observer is told which ledger files were appended to. A collector
// extension that indexes ledgers (reportapi) implements it; the jsonlledger
// exporter finds it among the host's extensions and calls it after each
// write, so the index reads just the files that changed instead of polling
// every file of the directory. Implementations must be cheap and must not
// block: they are called on the write path.
type Observer interface {
	LedgerAppended(path string)
}
