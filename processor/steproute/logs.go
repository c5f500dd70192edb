package steproute

import (
	"context"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/runledger/runledger/internal/stepschema/stepattrs"
)

// logsProcessor is the logs pipeline side of a steproute component.
type logsProcessor = signal[plog.Logs]

// logsSignal adapts the logs signal: a log record is the step event, and what is
// held.
type logsSignal struct{}

func (logsSignal) name() string               { return "logs" }
func (logsSignal) code() byte                 { return signalLogs }
func (logsSignal) empty() plog.Logs           { return plog.NewLogs() }
func (logsSignal) isEmpty(ld plog.Logs) bool  { return ld.ResourceLogs().Len() == 0 }
func (logsSignal) moveAll(src, dst plog.Logs) { src.ResourceLogs().MoveAndAppendTo(dst.ResourceLogs()) }

func (logsSignal) encode(h *holder, ld plog.Logs) ([]byte, error) {
	raw, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	if err != nil {
		return nil, err
	}
	return h.compress(raw), nil
}

func (logsSignal) decode(_ *holder, raw []byte) (plog.Logs, error) {
	return expand(raw, "log records", (&plog.ProtoUnmarshaler{}).UnmarshalLogs)
}

// consume is the logs pipeline's processorhelper function.
func (logsSignal) consume(ctx context.Context, p *logsProcessor, ld plog.Logs) (plog.Logs, error) {
	b := batch{c: p.core, now: p.core.now()}
	defer b.done()
	var held heldSet[plog.Logs]
	processLogs(p, &b, &held, ld)
	return p.finishCall(ctx, &b, &held, ld)
}

// processLogs filters, normalises and resolves the step events of ld in
// place, moving the records that wait for a run id to held.
func processLogs(p *logsProcessor, b *batch, held *heldSet[plog.Logs], ld plog.Logs) {
	c := p.core
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
	rlSeq, slSeq := 0, 0
	rls.RemoveIf(func(rl plog.ResourceLogs) bool {
		rlSeq++
		resID := c.norm.runID(rl.Resource().Attributes())
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			slSeq++
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				return processRecord(p, b, held, rl, sl, rlSeq, slSeq, lr, resID)
			})
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})
}

// processRecord handles one log record and reports whether it leaves the
// batch (noise, or moved to a held payload).
func processRecord(p *logsProcessor, b *batch, held *heldSet[plog.Logs], rl plog.ResourceLogs, sl plog.ScopeLogs,
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
	// The record's span, when it arrives on the traces pipeline of this
	// component, is kept for the run's ledger like an ancestor.
	b.want(tid, lr.SpanID())
	hit, src := n.runHit(m), srcEvent
	if hit.id == "" && resID != "" {
		hit, src = n.runHit(rl.Resource().Attributes()), srcResource
	}
	if hit.id == "" {
		hit, src = runHit{id: b.lookup(tid)}, srcTraceCache
	}
	id := hit.id
	if id == "" {
		if c.hold != nil && !tid.IsEmpty() {
			holdRecord(p, held, rl, sl, rlSeq, slSeq, lr, b)
			return true
		}
		id, src = c.fallbackID(tid), srcFallback
	}
	stepattrs.SetRunID(m, id)
	hit.mark(m)
	b.st.sources[src]++
	b.st.accepted++
	return false
}

// holdRecord moves lr (of resource rl and scope sl) to the held payload of
// its trace.
func holdRecord(p *logsProcessor, held *heldSet[plog.Logs], rl plog.ResourceLogs, sl plog.ScopeLogs,
	rlSeq, slSeq int, lr plog.LogRecord, b *batch,
) {
	h, newRes, newScope := held.slot(p, lr.TraceID(), rlSeq, slSeq)
	rls := h.data.ResourceLogs()
	if newRes {
		dst := rls.AppendEmpty()
		rl.Resource().CopyTo(dst.Resource())
		dst.SetSchemaUrl(rl.SchemaUrl())
	}
	sls := rls.At(rls.Len() - 1).ScopeLogs()
	if newScope {
		dst := sls.AppendEmpty()
		sl.Scope().CopyTo(dst.Scope())
		dst.SetSchemaUrl(sl.SchemaUrl())
	}
	lr.MoveTo(sls.At(sls.Len() - 1).LogRecords().AppendEmpty())
	b.pend = append(b.pend[:0], 0) // the record is the step event, waiting
	h.added(1, 1, b.pend)
}

// waiting lists every record: a record is held only while it waits.
func (logsSignal) waiting(_ *normalizer, ld plog.Logs) (steps int, pending []int32) {
	n := ld.LogRecordCount()
	pending = make([]int32, n)
	for i := range pending {
		pending[i] = int32(i)
	}
	return n, pending
}

func (logsSignal) assign(ld plog.Logs, pending []int32, runID string) {
	ord, next := int32(0), 0
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if next < len(pending) && pending[next] == ord {
					stepattrs.SetRunID(lrs.At(k).Attributes(), runID)
					next++
				}
				ord++
			}
		}
	}
}
