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

// Start opens the ledger directory and builds the run index. Extensions
// that observe ledgers (ledger.Observer, e.g. reportapi) are told about every
// append.
func (e *ledgerExporter) Start(_ context.Context, host component.Host) error {
	mode, err := ledgerstore.ParseFsyncMode(e.cfg.Fsync)
	if err != nil {
		return err
	}
	bg := context.Background()
	w, err := ledgerstore.NewWriter(ledgerstore.WriterConfig{
		Dir:           e.cfg.Directory,
		FS:            e.fs,
		MaxOpenFiles:  e.cfg.MaxOpenFiles,
		Fsync:         mode,
		FsyncInterval: e.cfg.FsyncInterval,
		Retention:     e.cfg.Retention,
		DedupeWindow:  e.cfg.DedupeWindow,
		Logger:        e.logger,
		Hooks: ledgerstore.Hooks{
			FileOpened: func() { e.tel.ExporterJsonlledgerRunsOpen.Add(bg, 1) },
			FileClosed: func() { e.tel.ExporterJsonlledgerRunsOpen.Add(bg, -1) },
			TornLine:   func(string, int64) { e.tel.ExporterJsonlledgerTornLinesRepaired.Add(bg, 1) },
			WriteError: func(error) { e.tel.ExporterJsonlledgerWriteErrors.Add(bg, 1) },
			Appended:   appendedHook(host),
		},
	})
	if err != nil {
		return fmt.Errorf("jsonlledger: %w", err)
	}
	e.w.Store(w)
	e.logger.Info("jsonlledger writing run ledgers", zap.String("directory", e.cfg.Directory),
		zap.Int("known_runs", w.Runs()), zap.String("fsync", mode.String()))
	return nil
}

// appendedHook returns a hook telling every ledger.Observer extension of
// host about an append, or nil when there is none.
func appendedHook(host component.Host) func(*ledger.Appended) {
	var obs []ledger.Observer
	if host != nil {
		for _, ext := range host.GetExtensions() {
			if o, ok := ext.(ledger.Observer); ok {
				obs = append(obs, o)
			}
		}
	}
	if len(obs) == 0 {
		return nil
	}
	return func(a *ledger.Appended) {
		for _, o := range obs {
			o.LedgerAppended(a)
		}
	}
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
