// Package ledgerstore is the collector-side writer of run ledgers: it
// appends entries to one file per run under date folders, continues seq
// across restarts, drops redelivered events, bounds open files, syncs by
// policy, repairs torn files on open, removes expired days and logs disk
// error conditions.
//
// It is separate from internal/ledger, which is only the on-disk format, so
// that readers (the CLI, the TUI, the report engine) do not link the writer's
// file handling and logging. Its input is pdata-free: producers render each
// event once into a ledger.Entry, whose Tail is the line after seq, and the
// Writer adds the head (`{"v":1,"run_id":...,"seq":n`) with the seq it owns.
// The exporter renders entries from pdata into one buffer per call, so the
// write path copies bytes and allocates nothing per event.
package ledgerstore
