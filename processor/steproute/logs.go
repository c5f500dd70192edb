package steproute

import (
	"context"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/runledger/runledger/internal/stepschema/stepattrs"
)

// logsProcessor is the logs pipeline side of a steproute component.
type logsProcessor struct {
	core *core
	next consumer.Logs
	tel  *telemetry
}

func (p *logsProcessor) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	c := p.core
	b := batch{c: c, now: c.now()}
	defer b.done()
	rls := ld.ResourceLogs()

	// Pass 1: learn the run ids that records and resources carry, noise
	// records included.
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		resID := c.norm.runID(rl.Resource().Attributes())
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				id := c.norm.runID(lr.Attributes())
				if id == "" {
					id = resID
				}
				b.learn(lr.TraceID(), id)
			}
		}
	}

	// Pass 2: filter, normalise, resolve; records waiting for a run id move
	// to per-trace payloads.
	var held logsHeld
	rlSeq, slSeq := 0, 0
	rls.RemoveIf(func(rl plog.ResourceLogs) bool {
		rlSeq++
		resID := c.norm.runID(rl.Resource().Attributes())
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			slSeq++
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				return p.processRecord(&b, &held, rl, sl, rlSeq, slSeq, lr, resID)
			})
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})

	var out plog.Logs
	var released []*emission
	if err := b.finish(ctx, p.tel, held.entries(), signalLogs, func(em *emission) bool {
		hl, ok := em.e.payload.(*heldLogs)
		if !ok || hl.p != p {
			return false
		}
		if _, err := c.prepare(em); err != nil {
			c.logKept(hl.signal(), 1, em.runID, hl.records, err)
			return true
		}
		if len(released) == 0 {
			out = plog.NewLogs()
		}
		hl.ld.ResourceLogs().MoveAndAppendTo(out.ResourceLogs())
		em.e.payload = nil
		released = append(released, em)
		return true
	}); err != nil {
		return ld, err
	}
	if len(released) > 0 {
		// As for traces: released records first, one request, sent here.
		own := rls.Len() > 0
		rls.MoveAndAppendTo(out.ResourceLogs())
		return ld, c.sendMerged("logs", released, own, func() error {
			return p.next.ConsumeLogs(b.sendCtx(ctx), out)
		})
	}
	if rls.Len() == 0 {
		return ld, processorhelper.ErrSkipProcessingData
	}
	return ld, nil
}

// processRecord handles one log record and reports whether it leaves the
// batch (noise, or moved to a held payload).
func (p *logsProcessor) processRecord(b *batch, held *logsHeld, rl plog.ResourceLogs, sl plog.ScopeLogs,
	rlSeq, slSeq int, lr plog.LogRecord, resID string,
) bool {
	c := p.core
	n := &c.norm
	m := lr.Attributes()
	kind := n.logKind(m, lr.EventName())
	if kind == "" {
		if c.cfg.KeepNonStep {
			return false
		}
		b.st.noise++
		return true
	}
	n.normalize(m, kind, lr.Body(), &b.step, &b.st.fixes)
	tid := lr.TraceID()
	id, src := n.runID(m), srcEvent
	if id == "" {
		id, src = resID, srcResource
	}
	if id == "" {
		id, src = b.lookup(tid), srcTraceCache
	}
	if id == "" {
		if c.hold != nil && !tid.IsEmpty() {
			held.add(p, rl, sl, rlSeq, slSeq, lr)
			return true
		}
		id, src = c.fallbackID(tid), srcFallback
	}
	stepattrs.SetRunID(m, id)
	b.st.sources[src]++
	b.st.accepted++
	return false
}

// logsHeld collects, during one call, the records that wait for a run id,
// one payload per trace.
type logsHeld struct {
	byTrace map[pcommon.TraceID]*heldLogs
	order   []*heldLogs
}

func (h *logsHeld) add(p *logsProcessor, rl plog.ResourceLogs, sl plog.ScopeLogs, rlSeq, slSeq int, lr plog.LogRecord) {
	tid := lr.TraceID()
	if h.byTrace == nil {
		h.byTrace = map[pcommon.TraceID]*heldLogs{}
	}
	hl := h.byTrace[tid]
	if hl == nil {
		hl = &heldLogs{p: p, ld: plog.NewLogs(), trace: tid}
		h.byTrace[tid] = hl
		h.order = append(h.order, hl)
	}
	if hl.rlSeq != rlSeq {
		hl.rl = hl.ld.ResourceLogs().AppendEmpty()
		rl.Resource().CopyTo(hl.rl.Resource())
		hl.rl.SetSchemaUrl(rl.SchemaUrl())
		hl.rlSeq, hl.slSeq = rlSeq, 0
	}
	if hl.slSeq != slSeq {
		hl.sl = hl.rl.ScopeLogs().AppendEmpty()
		sl.Scope().CopyTo(hl.sl.Scope())
		hl.sl.SetSchemaUrl(sl.SchemaUrl())
		hl.slSeq = slSeq
	}
	lr.MoveTo(hl.sl.LogRecords().AppendEmpty())
	hl.records++
}

func (h *logsHeld) entries() []*heldEntry {
	if len(h.order) == 0 {
		return nil
	}
	out := make([]*heldEntry, len(h.order))
	for i, hl := range h.order {
		out[i] = &heldEntry{trace: hl.trace, n: hl.records, payload: hl}
	}
	return out
}

// heldLogs is the held payload of one trace from one ConsumeLogs call;
// every record in it waits for the run id.
type heldLogs struct {
	p       *logsProcessor
	ld      plog.Logs // nil orig while spilled
	raw     []byte    // ld's compressed protobuf encoding, read back from the hold log
	trace   pcommon.TraceID
	rl      plog.ResourceLogs
	sl      plog.ScopeLogs
	rlSeq   int
	slSeq   int
	records int // all waiting for the run id
}

func (hl *heldLogs) spill() ([]byte, error) {
	raw, err := (&plog.ProtoMarshaler{}).MarshalLogs(hl.ld)
	if err != nil {
		return nil, err
	}
	hl.ld = plog.Logs{}
	hl.rl, hl.sl = plog.ResourceLogs{}, plog.ScopeLogs{}
	return hl.p.core.hold.compress(raw), nil
}

func (hl *heldLogs) restore(raw []byte) { hl.raw = raw }

// replayedLogs rebuilds a held payload from its hold-log encoding.
func (p *logsProcessor) replayedLogs(raw []byte, trace pcommon.TraceID) (heldPayload, error) {
	ld, err := expand(raw, "log records", (&plog.ProtoUnmarshaler{}).UnmarshalLogs)
	if err != nil {
		return nil, err
	}
	return &heldLogs{p: p, trace: trace, records: ld.LogRecordCount()}, nil
}

func (hl *heldLogs) assign(runID string) error {
	if hl.raw != nil {
		ld, err := expand(hl.raw, "log records", (&plog.ProtoUnmarshaler{}).UnmarshalLogs)
		if err != nil {
			return err
		}
		hl.ld, hl.raw = ld, nil
	}
	rls := hl.ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				stepattrs.SetRunID(lrs.At(k).Attributes(), runID)
			}
		}
	}
	return nil
}

func (hl *heldLogs) send(ctx context.Context) error { return hl.p.next.ConsumeLogs(ctx, hl.ld) }

func (hl *heldLogs) counts() (int, int) { return hl.records, hl.records }

func (hl *heldLogs) telemetry() *telemetry { return hl.p.tel }

func (hl *heldLogs) signal() string { return "logs" }
