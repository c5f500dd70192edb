package steproute

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.uber.org/zap"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/internal/stepschema/stepattrs"
	"github.com/runledger/runledger/processor/steproute/internal/holdlog"
	"github.com/runledger/runledger/processor/steproute/internal/metadata"
	"github.com/runledger/runledger/processor/steproute/internal/spanwant"
	"github.com/runledger/runledger/processor/steproute/internal/tracecache"
)

// core is the part of a steproute component shared by its traces and logs
// pipelines: the rules, the per-trace run id memory and the hold buffer.
type core struct {
	cfg    *Config
	logger *zap.Logger
	norm   normalizer
	cache  *tracecache.Cache
	// wanted remembers the ancestors of step-carrying spans, kept when
	// they arrive; nil when ancestor_span_memory is 0.
	wanted *spanwant.Set
	hold   *holder // nil when resolve_wait is 0
	// log keeps held payloads on disk until they are passed on; nil when
	// resolve_wait is 0.
	log *holdlog.Log
	// traces and logs are the pipelines of this component (nil when not
	// configured), for payloads replayed from the hold log.
	traces *tracesProcessor
	logs   *logsProcessor
	// releasing bounds the calls that release held data at once (see
	// batch.takeSlot); nil when resolve_wait is 0.
	releasing chan struct{}
	tel       *telemetry
	epoch     time.Time
	// noBody stands for the missing body of a span event; never written.
	noBody pcommon.Value
}

var _ component.Component = (*core)(nil)

func newCore(set processor.Settings, cfg *Config) (*core, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("steproute: create telemetry: %w", err)
	}
	c := &core{
		cfg:    cfg,
		logger: set.Logger,
		norm:   newNormalizer(cfg),
		cache:  tracecache.New(cfg.TraceCacheSize, cfg.TraceCacheTTL),
		tel:    newTelemetry(tb),
		epoch:  time.Now(),
		noBody: pcommon.NewValueEmpty(),
	}
	if cfg.AncestorSpanMemory > 0 {
		c.wanted = spanwant.New(cfg.AncestorSpanMemory)
	}
	if cfg.ResolveWait > 0 {
		c.hold = newHolder(c, cfg.ResolveWait, cfg.ResolveWaitMaxEvents)
		c.releasing = make(chan struct{}, max(2, 2*runtime.GOMAXPROCS(0)))
	}
	return c, nil
}

// Start opens the hold log and holds again what it kept: step events that
// were acknowledged but not yet passed on when the collector stopped, each
// with what is left of its wait from its first arrival.
func (c *core) Start(context.Context, component.Host) error {
	if c.hold == nil {
		return nil
	}
	log, entries, st, err := holdlog.Open(holdlog.Config{
		Dir: c.cfg.HoldDirectory, Sync: c.cfg.HoldFsync, SyncEvery: c.cfg.HoldFsyncInterval,
	})
	if err != nil {
		return fmt.Errorf("steproute: open hold log: %w", err)
	}
	c.log = log
	if st.Corrupt > 0 {
		c.logger.Warn("steproute: skipped corrupt or torn records in the hold log; the valid records around them were kept",
			zap.String("directory", c.cfg.HoldDirectory), zap.Int("corrupt_stretches", st.Corrupt))
		c.tel.recordCorrupt(context.Background(), int64(st.Corrupt))
	}
	if len(entries) == 0 {
		return nil
	}
	var out []emission
	var st2 stats
	now, wall := c.now(), time.Now().UnixNano()
	kept := 0
	for _, le := range entries {
		tid := pcommon.TraceID(le.Trace)
		var p heldPayload
		var err error
		switch {
		case le.Signal == signalTraces && c.traces != nil:
			p, err = c.traces.replay(le.Payload, tid)
		case le.Signal == signalLogs && c.logs != nil:
			p, err = c.logs.replay(le.Payload, tid)
		default:
			kept++ // its pipeline is not configured: stays in the log
			continue
		}
		if err != nil {
			c.logger.Warn("steproute: unreadable entry in the hold log", zap.Error(err))
			continue
		}
		n, _ := p.counts()
		n = max(n, 1) // an entry of ancestor spans only still waits
		left := max(0, le.Arrival+c.hold.wait-wall)
		e := &heldEntry{trace: tid, n: n, payload: p, deadline: now + left,
			ctx: context.Background(), wal: le.ID, loc: le.Loc, spilled: true}
		out = c.hold.add(e, out, &st2)
	}
	c.logger.Info("steproute: held step events replayed from the hold log",
		zap.Int("entries", len(entries)-kept), zap.Int("kept_for_other_pipelines", kept))
	for i := range out {
		c.emit(&out[i])
	}
	return nil
}

// Signals as the hold log records them.
const (
	signalTraces byte = 1
	signalLogs   byte = 2
)

// Shutdown leaves held step events in the hold log for the next start
// (hold_on_shutdown: keep), or sends them with the fallback run id
// (hold_on_shutdown: fallback).
func (c *core) Shutdown(context.Context) error {
	if c.hold != nil {
		out := c.hold.shutdown()
		if len(out) > 0 && c.cfg.HoldOnShutdown == HoldOnShutdownFallback {
			c.logger.Info("steproute: flushing held step events with the fallback run id on shutdown",
				zap.Int("batches", len(out)))
			for i := range out {
				c.emit(&out[i])
			}
		} else if len(out) > 0 {
			c.logger.Info("steproute: held step events stay in the hold log for the next start",
				zap.Int("batches", len(out)), zap.String("directory", c.cfg.HoldDirectory))
		}
		if c.log != nil {
			if err := c.log.Close(); err != nil {
				c.logger.Warn("steproute: close hold log", zap.Error(err))
			}
		}
	}
	c.tel.tb.Shutdown()
	return nil
}

// now is a monotonic clock in nanoseconds for the trace memory and the hold
// deadlines.
func (c *core) now() int64 { return int64(time.Since(c.epoch)) }

// fallbackID is the run id of step events of trace tid whose run id could
// not be resolved.
func (c *core) fallbackID(tid pcommon.TraceID) string {
	if c.cfg.Fallback == FallbackFixed {
		return c.cfg.FallbackRunID
	}
	return stepschema.FallbackRunID(tid)
}

// emit writes the run id on a held (or unholdable) payload and sends it to
// the next consumer of its pipeline. The data was acknowledged on receipt
// and is in the hold log, so a failed send leaves it there for the next
// start.
func (c *core) emit(em *emission) {
	p := em.e.payload
	steps, err := c.prepare(em)
	if err == nil {
		err = p.send(em.e.ctx)
	}
	// The entry may stay referenced (a caller's list of emissions) while
	// the next ones are sent; the sent data need not.
	em.e.payload = nil
	if err != nil {
		c.logKept(p.signal(), 1, em.runID, steps, err)
		return
	}
	c.released(em)
}

// released tombstones the hold-log records of emissions passed on.
func (c *core) released(ems ...*emission) {
	if c.log == nil {
		return
	}
	ids := make([]uint64, 0, len(ems))
	locs := make([]holdlog.Loc, 0, len(ems))
	for _, em := range ems {
		if em.e.wal != 0 {
			ids = append(ids, em.e.wal)
			locs = append(locs, em.e.loc)
		}
	}
	if err := c.log.Release(ids, locs); err != nil {
		// Not lost: the entries are sent again after a restart and the
		// ledger's event_id dedupe drops the copies.
		c.logger.Warn("steproute: could not tombstone released entries in the hold log", zap.Error(err))
	}
}

// prepare writes the run id on the payload of em (reading it back from the
// hold log first) and records its telemetry; the caller sends it.
func (c *core) prepare(em *emission) (steps int, err error) {
	p := em.e.payload
	steps, pending := p.counts()
	if em.e.spilled {
		raw, rerr := c.log.Read(em.e.loc)
		if rerr != nil {
			return steps, rerr
		}
		p.restore(raw)
		em.e.spilled = false
	}
	err = p.assign(em.runID)
	var st stats
	st.accepted = int64(steps)
	st.sources[em.src] += int64(pending)
	switch em.kind {
	case emitReleased:
		st.released = int64(steps)
	case emitFallback:
		st.timedOut[em.reason] = int64(steps)
	}
	p.telemetry().record(em.e.ctx, &st)
	return steps, err
}

// sendMerged sends a call's data with the held payloads released into it
// and returns what the call returns: a failure leaves the released events
// in the hold log and reaches the client only when the call had data of
// its own (own) for it to retry.
func (c *core) sendMerged(signal string, released []*emission, own bool, send func() error) error {
	err := send()
	if err == nil {
		c.released(released...)
		return processorhelper.ErrSkipProcessingData
	}
	// One line per failed call, not per trace.
	events := 0
	for _, em := range released {
		events += em.e.n
	}
	c.logKept(signal, len(released), released[0].runID, events, err)
	if own {
		return err
	}
	return processorhelper.ErrSkipProcessingData
}

func (c *core) logKept(signal string, traces int, runID string, steps int, err error) {
	c.logger.Warn("steproute: held step events could not be passed on; they stay in the hold log and are sent again at the next start",
		zap.String("signal", signal),
		zap.Int("traces", traces),
		zap.String("run_id", runID),
		zap.Int("events", steps),
		zap.Error(err))
}

// batch is the state of one ConsumeTraces/ConsumeLogs call.
type batch struct {
	c   *core
	now int64
	st  stats

	// learned lists run ids learned during the call while something is
	// held, for release at the end of the call.
	learned   []traceRun
	lastTrace pcommon.TraceID
	lastRun   string

	// one-entry memo of trace memory lookups
	lookTrace pcommon.TraceID
	lookRun   string
	looked    bool

	// pend lists, per span, the indices of step events without a run id.
	pend []int
	// step is normalize's scratch space, reused across the call's events.
	step stepattrs.Step

	slot bool // holds a core.releasing slot
}

// takeSlot waits for one of the slots of calls releasing held data. A
// released payload is read back from the hold log, decoded and merged
// into the call's request, and lives until the request is written: when
// producers flush at once (a fleet shutting down), hundreds of calls doing
// so side by side would hold a large part of everything held in decoded
// form. A few at a time keep both cores busy. The call gives the slot back
// with done, after its send.
//
// A call made downstream of a call holding a slot of the same component
// (a pipeline routed back into it through a connector) is covered by that
// slot: waiting for another could wait forever.
func (b *batch) takeSlot(ctx context.Context) {
	if c, _ := ctx.Value(slotKey{}).(*core); c == b.c {
		return
	}
	b.c.releasing <- struct{}{}
	b.slot = true
}

// slotKey marks the context of sends made while holding a releasing slot;
// its value is the core.
type slotKey struct{}

// sendCtx returns the context for passing data on from this call: never
// cancelled (held data was acknowledged), and marked while b holds a slot.
func (b *batch) sendCtx(ctx context.Context) context.Context {
	ctx = context.WithoutCancel(ctx)
	if b.slot {
		ctx = context.WithValue(ctx, slotKey{}, b.c)
	}
	return ctx
}

// done ends the call: it gives back its releasing slot.
func (b *batch) done() {
	if b.slot {
		b.slot = false
		<-b.c.releasing
	}
}

// learn remembers that trace tid belongs to run id.
func (b *batch) learn(tid pcommon.TraceID, id string) {
	if tid.IsEmpty() || id == "" || tid == b.lastTrace && id == b.lastRun {
		return
	}
	b.lastTrace, b.lastRun = tid, id
	b.c.cache.Put(tid, id, b.now)
	if b.looked && b.lookTrace == tid {
		b.lookRun = id
	}
	if b.c.hold != nil && b.c.hold.active() {
		b.learned = append(b.learned, traceRun{trace: tid, runID: id})
	}
}

// want remembers span sid of trace tid (a parent of a step-carrying span)
// as wanted, when ancestors are kept.
func (b *batch) want(tid pcommon.TraceID, sid pcommon.SpanID) {
	if b.c.wanted != nil && !sid.IsEmpty() {
		b.c.wanted.Want(spanwant.Key{Trace: tid, Span: sid})
	}
}

// lookup returns the remembered run id of trace tid, "" when unknown.
func (b *batch) lookup(tid pcommon.TraceID) string {
	if tid.IsEmpty() {
		return ""
	}
	if b.looked && b.lookTrace == tid {
		return b.lookRun
	}
	id, _ := b.c.cache.Get(tid, b.now)
	b.looked, b.lookTrace, b.lookRun = true, tid, id
	return id
}

// finish releases held data whose run id was learned in this call, holds
// the payloads of this call that wait for a run id, hands whatever must go
// now to merge, in order, and sends what merge does not take (before the
// rest of the batch, which is older data first), and records the call's
// telemetry. merge takes payloads of the calling pipeline into the call's
// own outgoing data (after prepare), so a run's held events and the events
// that resolved them reach the exporter in one request: one write per run
// instead of two.
func (b *batch) finish(ctx context.Context, tel *telemetry, fresh []*heldEntry, sig byte, merge func(*emission) bool) error {
	c := b.c
	var out []emission
	if c.hold != nil {
		// The call's waiting payloads go to the hold log before anything
		// else: if they cannot be stored the client gets a retryable error
		// and nothing of the call is passed on or held.
		if err := b.logFresh(fresh, sig); err != nil {
			return err
		}
		if len(b.learned) > 0 && c.hold.active() {
			b.takeSlot(ctx)
			out = c.hold.release(b.learned, out)
		}
		for _, e := range fresh {
			e.deadline = b.now + c.hold.wait
			e.ctx = context.WithoutCancel(ctx)
			out = c.hold.add(e, out, &b.st)
		}
	}
	for i := range out {
		if !merge(&out[i]) {
			if b.slot {
				out[i].e.ctx = context.WithValue(out[i].e.ctx, slotKey{}, c)
			}
			c.emit(&out[i])
		}
	}
	tel.record(ctx, &b.st)
	if size, ttl := c.cache.DrainEvictions(); size > 0 || ttl > 0 {
		c.tel.recordEvictions(ctx, size, ttl)
	}
	return nil
}

// logFresh spills the call's waiting payloads into the hold log, in one
// append (and one sync with hold_fsync: always).
func (b *batch) logFresh(fresh []*heldEntry, sig byte) error {
	if len(fresh) == 0 || b.c.hold.isClosed() {
		return nil // after shutdown nothing is held: it goes out at once
	}
	arrival := time.Now().UnixNano()
	recs := make([]holdlog.NewEntry, len(fresh))
	for i, e := range fresh {
		raw, err := e.payload.spill()
		if err != nil {
			return fmt.Errorf("steproute: encode held step events: %w", err)
		}
		recs[i] = holdlog.NewEntry{Signal: sig, Trace: e.trace, Arrival: arrival, Payload: raw}
	}
	ids, locs, err := b.c.log.Append(recs)
	if err != nil {
		b.c.tel.recordHoldWriteError(context.Background())
		return fmt.Errorf("steproute: store held step events: %w", err)
	}
	for i, e := range fresh {
		e.wal, e.loc, e.spilled = ids[i], locs[i], true
	}
	return nil
}
