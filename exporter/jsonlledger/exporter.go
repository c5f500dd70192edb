package jsonlledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/runledger/runledger/exporter/jsonlledger/internal/metadata"
	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/ledgerstore"
	"github.com/runledger/runledger/internal/stepschema"
)

// unknownRunID is the run of a log record with neither a run id nor a trace
// id (a span event always has a trace id).
const unknownRunID = "unknown"

// ledgerExporter writes step events of both signals into the run ledgers.
// One instance serves all pipelines of one config.
type ledgerExporter struct {
	cfg    *Config
	logger *zap.Logger
	tel    *metadata.TelemetryBuilder
	fs     ledgerstore.FS

	w atomic.Pointer[ledgerstore.Writer]

	scratch sync.Pool // *scratch
}

// scratch is per-call working memory, pooled so a call allocates nothing in
// the steady state.
type scratch struct {
	events  []event
	entries []ledger.Entry
	tails   []byte // the entries' tails
	logIdx  map[ledger.EventID]uint32
}

func newLedgerExporter(cfg *Config, set exporter.Settings, fs ledgerstore.FS) (*ledgerExporter, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("jsonlledger telemetry: %w", err)
	}
	return &ledgerExporter{cfg: cfg, logger: set.Logger, tel: tel, fs: fs}, nil
}

// Start opens the writer of the ledger store the config names (an
// extension, reportapi by default, that owns the directory and its run
// index). A missing or wrong extension fails the start with a message that
// says what to configure.
func (e *ledgerExporter) Start(_ context.Context, host component.Host) error {
	store, err := findStore(host, e.cfg.Store)
	if err != nil {
		return err
	}
	bg := context.Background()
	w, err := store.OpenWriter(ledgerstore.WriterOptions{
		Logger: e.logger,
		FS:     e.fs,
		Hooks: ledgerstore.Hooks{
			FileOpened: func() { e.tel.ExporterJsonlledgerRunsOpen.Add(bg, 1) },
			FileClosed: func() { e.tel.ExporterJsonlledgerRunsOpen.Add(bg, -1) },
			TornLine:   func(string, int64) { e.tel.ExporterJsonlledgerTornLinesRepaired.Add(bg, 1) },
			WriteError: func(error) { e.tel.ExporterJsonlledgerWriteErrors.Add(bg, 1) },
			Recreated:  func(string) { e.tel.ExporterJsonlledgerFilesRecreated.Add(bg, 1) },
		},
	})
	if err != nil {
		return fmt.Errorf("jsonlledger: store %s: %w", e.cfg.Store, err)
	}
	e.w.Store(w)
	e.logger.Info("jsonlledger writing run ledgers", zap.String("store", e.cfg.Store.String()),
		zap.String("directory", w.Dir()), zap.Int("known_runs", w.Runs()))
	return nil
}

// findStore returns the extension id of host as a ledger store.
func findStore(host component.Host, id component.ID) (ledgerstore.Store, error) {
	var exts map[component.ID]component.Component
	if host != nil {
		exts = host.GetExtensions()
	}
	ext, ok := exts[id]
	if !ok {
		return nil, fmt.Errorf("jsonlledger: store %q is not a configured extension: add %q under extensions and service::extensions "+
			"(reportapi owns the ledger directory), or name another with `store:`", id, id)
	}
	s, ok := ext.(ledgerstore.Store)
	if !ok {
		return nil, fmt.Errorf("jsonlledger: extension %q is not a ledger store; name the reportapi extension that owns the ledger directory", id)
	}
	return s, nil
}

// Shutdown syncs and closes every ledger file.
func (e *ledgerExporter) Shutdown(context.Context) error {
	w := e.w.Load()
	if w == nil {
		return nil
	}
	err := w.Close()
	e.tel.Shutdown()
	return err
}

var errNotStarted = errors.New("jsonlledger exporter is not started")

func (e *ledgerExporter) getScratch() *scratch {
	if sc, ok := e.scratch.Get().(*scratch); ok {
		return sc
	}
	return &scratch{}
}

func (e *ledgerExporter) putScratch(sc *scratch) {
	clear(sc.events) // drop references to the pdata
	clear(sc.entries)
	if cap(sc.events) > 1<<16 {
		sc.events, sc.entries = nil, nil
	} else {
		sc.events, sc.entries = sc.events[:0], sc.entries[:0]
	}
	if cap(sc.tails) > 4<<20 {
		sc.tails = nil // do not keep a huge buffer around
	} else {
		sc.tails = sc.tails[:0]
	}
	if len(sc.logIdx) > 1<<12 {
		sc.logIdx = nil
	}
	e.scratch.Put(sc)
}

// write renders the events of sc, hands them to the ledger writer and
// records telemetry. It returns when the lines are written (and synced with
// fsync: always).
func (e *ledgerExporter) write(ctx context.Context, w *ledgerstore.Writer, sc *scratch) error {
	if len(sc.events) == 0 {
		return nil
	}
	sc.entries, sc.tails = renderEntries(sc.entries[:0], sc.tails[:0], sc.events)
	res, err := w.Write(sc.entries)
	if res.Lines > 0 {
		e.tel.ExporterJsonlledgerLinesWritten.Add(ctx, int64(res.Lines))
		e.tel.ExporterJsonlledgerBytesWritten.Add(ctx, int64(res.Bytes))
	}
	if res.Deduped > 0 {
		e.tel.ExporterJsonlledgerEventsDeduped.Add(ctx, int64(res.Deduped))
	}
	if err != nil {
		return fmt.Errorf("jsonlledger: %w", err)
	}
	return nil
}

// nowFunc returns the ingestion time, taken once per call.
type nowFunc struct{ ts pcommon.Timestamp }

func (n *nowFunc) get() pcommon.Timestamp {
	if n.ts == 0 {
		n.ts = pcommon.NewTimestampFromTime(time.Now())
	}
	return n.ts
}

func (e *ledgerExporter) consumeTraces(ctx context.Context, td ptrace.Traces) error {
	w := e.w.Load()
	if w == nil {
		return errNotStarted
	}
	sc := e.getScratch()
	defer e.putScratch(sc)
	sc.events = appendTraceEvents(sc.events, td, &nowFunc{})
	return e.write(ctx, w, sc)
}

// appendTraceEvents appends the step events (span events with a non-empty
// step.kind) of td.
func appendTraceEvents(evs []event, td ptrace.Traces, now *nowFunc) []event {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		service := strAttr(res, stepschema.AttrServiceName)
		resRun, resRunRead := "", false
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				sevs := span.Events()
				if sevs.Len() == 0 {
					continue
				}
				tid, sid := span.TraceID(), span.SpanID()
				spanRun, spanRunRead := "", false
				var index uint32
				for n := 0; n < sevs.Len(); n++ {
					ev := sevs.At(n)
					attrs := ev.Attributes()
					kind, run := kindAndRun(attrs)
					if kind == "" {
						continue
					}
					raw := ev.Timestamp()
					id := ledger.NewEventID(tid, sid, uint64(raw), kind, index)
					index++
					if run == "" {
						if !spanRunRead {
							spanRun, spanRunRead = strAttr(span.Attributes(), stepschema.AttrRunID), true
							if spanRun == "" {
								if !resRunRead {
									resRun, resRunRead = strAttr(res, stepschema.AttrRunID), true
								}
								spanRun = resRun
							}
							if spanRun == "" {
								spanRun = fallbackRunID(tid)
							}
						}
						run = spanRun
					}
					ts := raw
					if ts == 0 {
						ts = now.get()
					}
					evs = append(evs, event{
						RunID: run, Kind: kind, Time: ts, Attributes: attrs,
						TraceID: tid, SpanID: sid, SpanName: span.Name(), Service: service, ID: id,
					})
				}
			}
		}
	}
	return evs
}

func (e *ledgerExporter) consumeLogs(ctx context.Context, ld plog.Logs) error {
	w := e.w.Load()
	if w == nil {
		return errNotStarted
	}
	sc := e.getScratch()
	defer e.putScratch(sc)
	if sc.logIdx == nil {
		sc.logIdx = map[ledger.EventID]uint32{}
	}
	sc.events = appendLogEvents(sc.events, ld, sc.logIdx, &nowFunc{})
	return e.write(ctx, w, sc)
}

// appendLogEvents appends the step events (log records with a non-empty
// step.kind) of ld. seen is scratch space for the per-ScopeLogs index.
func appendLogEvents(evs []event, ld plog.Logs, seen map[ledger.EventID]uint32, now *nowFunc) []event {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		service := strAttr(res, stepschema.AttrServiceName)
		resRun, resRunRead := "", false
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			recs := sls.At(j).LogRecords()
			clear(seen)
			for k := 0; k < recs.Len(); k++ {
				lr := recs.At(k)
				attrs := lr.Attributes()
				kind, run := kindAndRun(attrs)
				if kind == "" {
					continue
				}
				tid, sid, raw := lr.TraceID(), lr.SpanID(), lr.Timestamp()
				// index = earlier step records of this ScopeLogs with the same
				// (trace, span, time, kind): keyed by the index-0 id.
				id := ledger.NewEventID(tid, sid, uint64(raw), kind, 0)
				if index := seen[id]; index > 0 {
					seen[id] = index + 1
					id = ledger.NewEventID(tid, sid, uint64(raw), kind, index)
				} else {
					seen[id] = 1
				}
				if run == "" {
					if !resRunRead {
						resRun, resRunRead = strAttr(res, stepschema.AttrRunID), true
					}
					run = resRun
					if run == "" {
						run = fallbackRunID(tid)
					}
				}
				ts := raw
				if ts == 0 {
					ts = lr.ObservedTimestamp()
				}
				if ts == 0 {
					ts = now.get()
				}
				var body string
				if b := lr.Body(); b.Type() == pcommon.ValueTypeStr {
					body = b.Str()
				}
				evs = append(evs, event{
					RunID: run, Kind: kind, Time: ts, Attributes: attrs, Body: body,
					TraceID: tid, SpanID: sid, Service: service, ID: id,
				})
			}
		}
	}
	return evs
}
