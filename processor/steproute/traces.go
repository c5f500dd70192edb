package steproute

import (
	"context"
	"math/bits"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/internal/stepschema/stepattrs"
)

// tracesProcessor is the traces pipeline side of a steproute component.
type tracesProcessor struct {
	core *core
	next consumer.Traces
	tel  *telemetry
}

func (p *tracesProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	c := p.core
	b := batch{c: c, now: c.now()}
	defer b.done()
	rss := td.ResourceSpans()

	// Pass 1: learn the run ids that spans, resources (and, on spans without
	// one, events) carry, noise spans included, so that the whole batch (and
	// held data) can use them whatever the order of the spans.
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		resID := c.norm.runID(rs.Resource().Attributes())
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				id := c.norm.runID(span.Attributes())
				if id == "" {
					id = resID
				}
				if id == "" {
					// Run ids only on events: the first one names the trace.
					evs := span.Events()
					for e := 0; e < evs.Len() && id == ""; e++ {
						id = c.norm.runID(evs.At(e).Attributes())
					}
				}
				b.learn(span.TraceID(), id)
			}
		}
	}

	// Pass 2: filter, normalise, resolve; spans waiting for a run id move
	// to per-trace payloads.
	var held tracesHeld
	rsSeq, ssSeq := 0, 0
	rss.RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rsSeq++
		resID := c.norm.runID(rs.Resource().Attributes())
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			ssSeq++
			ss.Spans().RemoveIf(func(span ptrace.Span) bool {
				return p.processSpan(&b, &held, rs, ss, rsSeq, ssSeq, span, resID)
			})
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})

	var out ptrace.Traces
	var released []*emission
	if err := b.finish(ctx, p.tel, held.entries(), signalTraces, func(em *emission) bool {
		ht, ok := em.e.payload.(*heldTraces)
		if !ok || ht.p != p {
			return false
		}
		if _, err := c.prepare(em); err != nil {
			c.logKept(ht.signal(), 1, em.runID, ht.steps, err)
			return true
		}
		if len(released) == 0 {
			out = ptrace.NewTraces()
		}
		ht.td.ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
		em.e.payload = nil
		released = append(released, em)
		return true
	}); err != nil {
		return td, err
	}
	if len(released) > 0 {
		// Released spans go first (older data), in one request with this
		// call's spans, sent here rather than by processorhelper. The held
		// part was acknowledged on receipt, so the client giving up on this
		// request does not cut it short, and an error goes back to the
		// client only when the call brought spans of its own to retry.
		own := rss.Len() > 0
		rss.MoveAndAppendTo(out.ResourceSpans())
		return td, c.sendMerged("traces", released, own, func() error {
			return p.next.ConsumeTraces(b.sendCtx(ctx), out)
		})
	}
	if rss.Len() == 0 {
		return td, processorhelper.ErrSkipProcessingData
	}
	return td, nil
}

// processSpan handles one span and reports whether it leaves the batch
// (noise, or moved to a held payload).
func (p *tracesProcessor) processSpan(b *batch, held *tracesHeld, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans,
	rsSeq, ssSeq int, span ptrace.Span, resID string,
) bool {
	c := p.core
	n := &c.norm
	events := span.Events()
	if !c.cfg.KeepNonStep {
		events.RemoveIf(func(ev ptrace.SpanEvent) bool { return n.eventKind(ev.Attributes()) == "" })
		if events.Len() == 0 {
			b.st.noise++
			return true
		}
	}
	spanRun, spanSrc := n.runID(span.Attributes()), srcSpan
	if spanRun == "" {
		spanRun, spanSrc = resID, srcResource
	}
	tid := span.TraceID()
	steps := 0
	b.pend = b.pend[:0]
	for i := 0; i < events.Len(); i++ {
		m := events.At(i).Attributes()
		kind := n.eventKind(m)
		if kind == "" {
			continue
		}
		steps++
		n.normalize(m, kind, c.noBody, &b.step, &b.st.fixes)
		id, src := n.runID(m), srcEvent
		switch {
		case id != "":
			b.learn(tid, id)
		case spanRun != "":
			id, src = spanRun, spanSrc
		default:
			id, src = b.lookup(tid), srcTraceCache
		}
		if id == "" {
			b.pend = append(b.pend, i)
			continue
		}
		stepattrs.SetRunID(m, id)
		b.st.sources[src]++
	}
	if len(b.pend) == 0 {
		b.st.accepted += int64(steps)
		return false
	}
	if c.hold != nil && !tid.IsEmpty() {
		held.add(p, rs, ss, rsSeq, ssSeq, span, steps, b.pend)
		return true
	}
	fb := c.fallbackID(tid)
	for _, i := range b.pend {
		stepattrs.SetRunID(events.At(i).Attributes(), fb)
	}
	b.st.sources[srcFallback] += int64(len(b.pend))
	b.st.accepted += int64(steps)
	return false
}

// tracesHeld collects, during one call, the spans that wait for a run id,
// one payload per trace.
type tracesHeld struct {
	byTrace map[pcommon.TraceID]*heldTraces
	order   []*heldTraces
}

func (h *tracesHeld) add(p *tracesProcessor, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans,
	rsSeq, ssSeq int, span ptrace.Span, steps int, pend []int,
) {
	tid := span.TraceID()
	if h.byTrace == nil {
		h.byTrace = map[pcommon.TraceID]*heldTraces{}
	}
	ht := h.byTrace[tid]
	if ht == nil {
		ht = &heldTraces{p: p, td: ptrace.NewTraces(), trace: tid}
		h.byTrace[tid] = ht
		h.order = append(h.order, ht)
	}
	if ht.rsSeq != rsSeq {
		ht.rs = ht.td.ResourceSpans().AppendEmpty()
		rs.Resource().CopyTo(ht.rs.Resource())
		ht.rs.SetSchemaUrl(rs.SchemaUrl())
		ht.rsSeq, ht.ssSeq = rsSeq, 0
	}
	if ht.ssSeq != ssSeq {
		ht.ss = ht.rs.ScopeSpans().AppendEmpty()
		ss.Scope().CopyTo(ht.ss.Scope())
		ht.ss.SetSchemaUrl(ss.SchemaUrl())
		ht.ssSeq = ssSeq
	}
	span.MoveTo(ht.ss.Spans().AppendEmpty())
	ht.addSpan(steps, pend)
}

func (h *tracesHeld) entries() []*heldEntry {
	if len(h.order) == 0 {
		return nil
	}
	out := make([]*heldEntry, len(h.order))
	for i, ht := range h.order {
		out[i] = &heldEntry{trace: ht.trace, n: ht.steps, payload: ht}
	}
	return out
}

// heldTraces is the held payload of one trace from one ConsumeTraces call.
type heldTraces struct {
	p     *tracesProcessor
	td    ptrace.Traces // nil orig while spilled
	raw   []byte        // td's compressed encoding, read back from the hold log
	trace pcommon.TraceID
	rs    ptrace.ResourceSpans
	ss    ptrace.ScopeSpans
	rsSeq int
	ssSeq int
	spans int
	// pending marks the step events waiting for the run id: per span, a
	// bit per event among its first 32 (8 bytes a span instead of 8 an
	// event: hundreds of thousands of events may be held), the rest in far.
	pending []spanPend
	far     []heldPos
	npend   int
	steps   int
}

// spanPend marks the waiting events of the item-th held span: bit i is
// event i.
type spanPend struct {
	item int32
	mask uint32
}

// heldPos locates a step event waiting for its run id beyond a span's
// first 32: the span in payload order and the event's index.
type heldPos struct{ item, event int32 }

func (ht *heldTraces) spill() ([]byte, error) {
	raw, err := ht.p.core.hold.encodeSpans(ht.td)
	if err != nil {
		return nil, err
	}
	ht.td = ptrace.Traces{}
	ht.rs, ht.ss = ptrace.ResourceSpans{}, ptrace.ScopeSpans{}
	return raw, nil
}

func (ht *heldTraces) restore(raw []byte) { ht.raw = raw }

// addSpan counts the next span of the payload, with steps step events of
// which those at the indices pend wait for the run id.
func (ht *heldTraces) addSpan(steps int, pend []int) {
	sp := spanPend{item: int32(ht.spans)}
	for _, i := range pend {
		if i < 32 {
			sp.mask |= 1 << i
		} else {
			ht.far = append(ht.far, heldPos{item: int32(ht.spans), event: int32(i)})
		}
	}
	if sp.mask != 0 {
		ht.pending = append(ht.pending, sp)
	}
	ht.npend += len(pend)
	ht.spans++
	ht.steps += steps
}

// replayedTraces rebuilds a held payload from its hold-log encoding: the
// step events without a run id are the ones waiting.
func (p *tracesProcessor) replayedTraces(raw []byte, trace pcommon.TraceID) (heldPayload, error) {
	td, err := p.core.hold.decodeSpans(raw)
	if err != nil {
		return nil, err
	}
	ht := &heldTraces{p: p, trace: trace}
	n := &p.core.norm
	var pend []int
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				events := spans.At(k).Events()
				steps := 0
				pend = pend[:0]
				for e := 0; e < events.Len(); e++ {
					m := events.At(e).Attributes()
					if n.eventKind(m) == "" {
						continue
					}
					steps++
					if _, ok := m.Get(stepschema.AttrRunID); !ok {
						pend = append(pend, e)
					}
				}
				ht.addSpan(steps, pend)
			}
		}
	}
	return ht, nil
}

func (ht *heldTraces) assign(runID string) error {
	if ht.raw != nil {
		td, err := ht.p.core.hold.decodeSpans(ht.raw)
		if err != nil {
			return err
		}
		ht.td, ht.raw = td, nil
	}
	item, next, far := 0, 0, 0
	rss := ht.td.ResourceSpans()
	for i := 0; i < rss.Len() && (next < len(ht.pending) || far < len(ht.far)); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len() && (next < len(ht.pending) || far < len(ht.far)); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				events := spans.At(k).Events()
				if next < len(ht.pending) && int(ht.pending[next].item) == item {
					for m := ht.pending[next].mask; m != 0; m &= m - 1 {
						stepattrs.SetRunID(events.At(bits.TrailingZeros32(m)).Attributes(), runID)
					}
					next++
				}
				for ; far < len(ht.far) && int(ht.far[far].item) == item; far++ {
					stepattrs.SetRunID(events.At(int(ht.far[far].event)).Attributes(), runID)
				}
				item++
			}
		}
	}
	return nil
}

func (ht *heldTraces) send(ctx context.Context) error { return ht.p.next.ConsumeTraces(ctx, ht.td) }

func (ht *heldTraces) counts() (int, int) { return ht.steps, ht.npend }

func (ht *heldTraces) telemetry() *telemetry { return ht.p.tel }

func (ht *heldTraces) signal() string { return "traces" }
