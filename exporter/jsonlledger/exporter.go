package jsonlledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/runledger/runledger/exporter/jsonlledger/internal/metadata"
	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/ledgerstore"
	"github.com/runledger/runledger/internal/stepcarry"
	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/internal/stepschema/stepattrs"
)

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
	tails   []byte         // the entries' tails
	step    stepattrs.Step // the step being rendered
	logIdx  map[ledger.EventID]uint32
	now     nowFunc
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
			// The health check (healthcheckv2's /status) shows failing
			// writes as a recoverable error until they succeed again.
			Health: func(err error) {
				if err != nil {
					componentstatus.ReportStatus(host, componentstatus.NewRecoverableErrorEvent(err))
				} else {
					componentstatus.ReportStatus(host, componentstatus.NewEvent(componentstatus.StatusOK))
				}
			},
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
	// Keep the step's arrays, not what they point into.
	clear(sc.step.Sizes[:cap(sc.step.Sizes)])
	clear(sc.step.Resources[:cap(sc.step.Resources)])
	sc.step = stepattrs.Step{Sizes: sc.step.Sizes[:0], Resources: sc.step.Resources[:0]}
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
	sc.entries, sc.tails = renderEntries(sc.entries[:0], sc.tails[:0], sc.events, &sc.step)
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

// or returns ts, or the ingestion time when ts is 0 (the producer sent none).
func (n *nowFunc) or(ts pcommon.Timestamp) pcommon.Timestamp {
	if ts != 0 {
		return ts
	}
	if n.ts == 0 {
		n.ts = pcommon.NewTimestampFromTime(time.Now())
	}
	return n.ts
}

func (e *ledgerExporter) consumeTraces(ctx context.Context, td ptrace.Traces) error {
	return consume(ctx, e, td, appendTraceEvents)
}

func (e *ledgerExporter) consumeLogs(ctx context.Context, ld plog.Logs) error {
	return consume(ctx, e, ld, appendLogEvents)
}

// consume is what a request of either signal goes through: collect appends
// its step events to sc.events, then they are written.
func consume[T any](ctx context.Context, e *ledgerExporter, data T, collect func(sc *scratch, data T)) error {
	w := e.w.Load()
	if w == nil {
		return errNotStarted
	}
	sc := e.getScratch()
	defer e.putScratch(sc)
	// The clock lives in sc: a pointer passed through collect, a func value,
	// would escape and cost an allocation per call.
	sc.now = nowFunc{}
	collect(sc, data)
	return e.write(ctx, w, sc)
}

// resourceSteps is what the step events of one resource share: the service,
// and the run of the events that name none and have no closer one.
type resourceSteps struct {
	service string
	run     stepattrs.ResourceRun
}

func newResourceSteps(res pcommon.Resource) resourceSteps {
	attrs := res.Attributes()
	var service string
	if v, ok := attrs.Get(stepschema.AttrServiceName); ok && v.Type() == pcommon.ValueTypeStr {
		service = v.Str()
	}
	return resourceSteps{service: service, run: stepattrs.NewResourceRun(attrs, stepschema.UnknownRunID)}
}

// appendTraceEvents appends the step events (span events with a non-empty
// step.kind) of td to sc.events. An event without run.id takes the span's,
// then the resource's, then the fallback.
func appendTraceEvents(sc *scratch, td ptrace.Traces) {
	for _, rs := range td.ResourceSpans().All() {
		res := newResourceSteps(rs.Resource())
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				appendSpanEvents(sc, span, &res)
			}
		}
	}
}

// appendSpanEvents appends the step events of span; their index in the
// event id counts the span's earlier step events.
func appendSpanEvents(sc *scratch, span ptrace.Span, res *resourceSteps) {
	tid, sid := span.TraceID(), span.SpanID()
	spanRun := stepattrs.NewSpanRun(span, &res.run)
	var index uint32
	for _, ev := range span.Events().All() {
		kind, run := stepattrs.KindAndRun(ev.Attributes())
		if kind == "" {
			continue
		}
		run = spanRun.Of(run)
		raw := ev.Timestamp()
		sc.events = append(sc.events, event{
			RunID: run, Kind: kind, Time: sc.now.or(raw), Attributes: ev.Attributes(),
			TraceID: tid, SpanID: sid, SpanName: span.Name(), Service: res.service,
			ID: ledger.NewEventID(tid, sid, uint64(raw), kind, index),
		})
		index++
	}
	// The span itself, beside its steps (in the run of its first step), or,
	// for a span without steps that steproute passed on as an ancestor of
	// step-carrying spans, in the run it names.
	run := ""
	if index > 0 {
		run = sc.events[len(sc.events)-int(index)].RunID
	} else if !tid.IsEmpty() && !sid.IsEmpty() {
		run = stepattrs.RunID(span.Attributes(), stepschema.AttrRunID)
	}
	if run == "" || tid.IsEmpty() || sid.IsEmpty() {
		return
	}
	at := span.StartTimestamp()
	if at == 0 && index > 0 {
		at = sc.events[len(sc.events)-int(index)].Time // no start sent: its first step's
	}
	sc.events = append(sc.events, event{
		RunID: run, Time: sc.now.or(at), TraceID: tid, SpanID: sid,
		Service: res.service, ID: ledger.SpanEventID(tid, sid), Span: span, IsSpan: true,
	})
}

// appendLogEvents appends the step events (log records with a non-empty
// step.kind) of ld to sc.events. A record without run.id takes the
// resource's, then the fallback.
func appendLogEvents(sc *scratch, ld plog.Logs) {
	if sc.logIdx == nil {
		sc.logIdx = map[ledger.EventID]uint32{}
	}
	for _, rl := range ld.ResourceLogs().All() {
		res := newResourceSteps(rl.Resource())
		for _, sl := range rl.ScopeLogs().All() {
			if src := stepcarry.SourceOf(sl.Scope()); src != stepcarry.NotCarried {
				appendCarriedEvents(sc, sl, res, src)
				continue
			}
			appendRecordEvents(sc, sl.LogRecords(), &res)
		}
	}
}

// appendRecordEvents appends the step events of the records of one
// ScopeLogs; their index in the event id counts the earlier step records
// with the same trace, span, time and kind.
func appendRecordEvents(sc *scratch, recs plog.LogRecordSlice, res *resourceSteps) {
	seen := sc.logIdx
	clear(seen)
	for _, lr := range recs.All() {
		kind, run := stepattrs.KindAndRun(lr.Attributes())
		if kind == "" {
			continue
		}
		tid, sid, raw := lr.TraceID(), lr.SpanID(), lr.Timestamp()
		// Keyed by the index-0 id.
		id := ledger.NewEventID(tid, sid, uint64(raw), kind, 0)
		if index := seen[id]; index > 0 {
			seen[id] = index + 1
			id = ledger.NewEventID(tid, sid, uint64(raw), kind, index)
		} else {
			seen[id] = 1
		}
		if run == "" {
			run = res.run.Of(tid)
		}
		ts := raw
		if ts == 0 {
			ts = lr.ObservedTimestamp()
		}
		sc.events = append(sc.events, event{
			RunID: run, Kind: kind, Time: sc.now.or(ts), Attributes: lr.Attributes(), Body: lr.Body(),
			TraceID: tid, SpanID: sid, Service: res.service, ID: id,
		})
	}
}

// appendCarriedEvents appends the step events of a scope the steplogs
// connector carried from an agent (internal/stepcarry) to sc.events, as
// the agent's own exporter would have from the span events or log records
// they were: the service is the producer's (in the scope, the resource
// holds only the run), and a span event's span name and index in its span
// come from the record's body, so that the line and its event id are the
// single-node ones.
func appendCarriedEvents(sc *scratch, sl plog.ScopeLogs, res resourceSteps, src stepcarry.Source) {
	if v, ok := sl.Scope().Attributes().Get(stepschema.AttrServiceName); ok && v.Type() == pcommon.ValueTypeStr {
		res.service = v.Str()
	} else {
		res.service = ""
	}
	if src == stepcarry.LogRecords {
		appendRecordEvents(sc, sl.LogRecords(), &res)
		return
	}
	for _, lr := range sl.LogRecords().All() {
		tid, sid, raw := lr.TraceID(), lr.SpanID(), lr.Timestamp()
		ts := raw
		if ts == 0 {
			ts = lr.ObservedTimestamp() // the agent's clock, as the exporter's would be
		}
		kind, run := stepattrs.KindAndRun(lr.Attributes())
		if run == "" {
			run = res.run.Of(tid)
		}
		if kind == "" {
			if !stepcarry.IsSpan(lr.Body()) || tid.IsEmpty() || sid.IsEmpty() {
				continue
			}
			span := ptrace.NewSpan()
			stepcarry.SpanInto(span, lr.Body())
			sc.events = append(sc.events, event{
				RunID: run, Time: sc.now.or(ts), TraceID: tid, SpanID: sid,
				Service: res.service, ID: ledger.SpanEventID(tid, sid), Span: span, IsSpan: true,
			})
			continue
		}
		spanName, index, _ := stepcarry.SpanEvent(lr.Body())
		sc.events = append(sc.events, event{
			RunID: run, Kind: kind, Time: sc.now.or(ts), Attributes: lr.Attributes(),
			TraceID: tid, SpanID: sid, SpanName: spanName, Service: res.service,
			ID: ledger.NewEventID(tid, sid, uint64(raw), kind, index),
		})
	}
}
