package steproute

import (
	"context"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/internal/stepschema/stepattrs"
	"github.com/runledger/runledger/processor/steproute/internal/spanwant"
)

// tracesProcessor is the traces pipeline side of a steproute component.
type tracesProcessor = signal[ptrace.Traces]

// tracesSignal adapts the traces signal: step events are span events, and a span
// is what is held.
type tracesSignal struct{}

func (tracesSignal) name() string                  { return "traces" }
func (tracesSignal) code() byte                    { return signalTraces }
func (tracesSignal) empty() ptrace.Traces          { return ptrace.NewTraces() }
func (tracesSignal) isEmpty(td ptrace.Traces) bool { return td.ResourceSpans().Len() == 0 }
func (tracesSignal) moveAll(src, dst ptrace.Traces) {
	src.ResourceSpans().MoveAndAppendTo(dst.ResourceSpans())
}
func (tracesSignal) decode(h *holder, raw []byte) (ptrace.Traces, error) { return h.decodeSpans(raw) }
func (tracesSignal) encode(h *holder, td ptrace.Traces) ([]byte, error)  { return h.encodeSpans(td) }

// consume is the traces pipeline's processorhelper function.
func (tracesSignal) consume(ctx context.Context, p *tracesProcessor, td ptrace.Traces) (ptrace.Traces, error) {
	b := batch{c: p.core, now: p.core.now()}
	defer b.done()
	var held heldSet[ptrace.Traces]
	processTraces(p, &b, &held, td)
	return p.finishCall(ctx, &b, &held, td)
}

// processTraces filters, normalises and resolves the step events of td in
// place, moving the spans that wait for a run id to held.
func processTraces(p *tracesProcessor, b *batch, held *heldSet[ptrace.Traces], td ptrace.Traces) {
	c := p.core
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
				// A parent earlier in this batch than its step-carrying
				// child must be wanted before pass 2 reaches it.
				if c.wanted != nil && !span.ParentSpanID().IsEmpty() && hasStep(&c.norm, span.Events()) {
					b.want(span.TraceID(), span.ParentSpanID())
				}
			}
		}
	}

	// Pass 2: filter, normalise, resolve; spans waiting for a run id move
	// to per-trace payloads.
	rsSeq, ssSeq := 0, 0
	rss.RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rsSeq++
		resID := c.norm.runID(rs.Resource().Attributes())
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			ssSeq++
			ss.Spans().RemoveIf(func(span ptrace.Span) bool {
				return processSpan(p, b, held, rs, ss, rsSeq, ssSeq, span, resID)
			})
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
}

// processSpan handles one span and reports whether it leaves the batch
// (noise, or moved to a held payload).
func processSpan(p *tracesProcessor, b *batch, held *heldSet[ptrace.Traces], rs ptrace.ResourceSpans, ss ptrace.ScopeSpans,
	rsSeq, ssSeq int, span ptrace.Span, resID string,
) bool {
	c := p.core
	n := &c.norm
	if c.cfg.CaptureExceptions {
		c.captureExceptions(b, span, resID)
	}
	events := span.Events()
	if !c.cfg.KeepNonStep {
		events.RemoveIf(func(ev ptrace.SpanEvent) bool { return n.eventKind(ev.Attributes()) == "" })
		if events.Len() == 0 {
			switch keepAncestor(b, span, resID) {
			case ancestorKept:
				return false
			case ancestorHeld:
				holdSpan(p, held, rs, ss, rsSeq, ssSeq, span, 0, nil)
				return true
			}
			b.st.noise++
			return true
		}
	} else if !hasStep(n, events) {
		if keepAncestor(b, span, resID) == ancestorHeld {
			holdSpan(p, held, rs, ss, rsSeq, ssSeq, span, 0, nil)
			return true
		}
		return false
	}
	spanHit, spanSrc := n.runHit(span.Attributes()), srcSpan
	if spanHit.id == "" && resID != "" {
		spanHit, spanSrc = n.runHit(rs.Resource().Attributes()), srcResource
	}
	spanRun := spanHit.id
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
		hit, src := n.runHit(m), srcEvent
		switch {
		case hit.id != "":
			b.learn(tid, hit.id)
		case spanRun != "":
			hit, src = spanHit, spanSrc
		default:
			hit, src = runHit{id: b.lookup(tid)}, srcTraceCache
		}
		id := hit.id
		if id == "" {
			b.pend = append(b.pend, i)
			continue
		}
		stepattrs.SetRunID(m, id)
		hit.mark(m)
		b.st.sources[src]++
	}
	if len(b.pend) == 0 {
		b.st.accepted += int64(steps)
		return false
	}
	if c.hold != nil && !tid.IsEmpty() {
		holdSpan(p, held, rs, ss, rsSeq, ssSeq, span, steps, b.pend)
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

// What keepAncestor decided for a span without step events.
const (
	notAncestor  = iota // not wanted: noise
	ancestorKept        // stays in the batch, its run id in run.id
	ancestorHeld        // waits for its trace's run id in the hold
)

// keepAncestor decides the fate of span, which carries no step events:
// a wanted ancestor of step-carrying spans stays in the batch, without
// events and naming its run in run.id (the exporter records such spans),
// or, when its run id is not known yet, waits for it in the hold like the
// steps of its trace (their root usually brings it). Its parent becomes
// wanted in turn. Without a hold it takes the fallback run id, as steps do.
func keepAncestor(b *batch, span ptrace.Span, resID string) int {
	c := b.c
	tid := span.TraceID()
	if c.wanted == nil || !c.wanted.Take(spanwant.Key{Trace: tid, Span: span.SpanID()}) {
		return notAncestor
	}
	b.want(tid, span.ParentSpanID())
	b.st.ancestors++
	id := c.norm.runID(span.Attributes())
	if id == "" {
		id = resID
	}
	if id == "" {
		id = b.lookup(tid)
	}
	if id == "" {
		if c.hold != nil && !tid.IsEmpty() {
			return ancestorHeld
		}
		id = c.fallbackID(tid)
	}
	stepattrs.SetRunID(span.Attributes(), id)
	return ancestorKept
}

// hasStep reports whether events hold a step event.
func hasStep(n *normalizer, events ptrace.SpanEventSlice) bool {
	for i := 0; i < events.Len(); i++ {
		if n.eventKind(events.At(i).Attributes()) != "" {
			return true
		}
	}
	return false
}

// holdSpan moves span (of resource rs and scope ss) to the held payload of
// its trace; steps of its events are step events, those at pend waiting.
func holdSpan(p *tracesProcessor, held *heldSet[ptrace.Traces], rs ptrace.ResourceSpans, ss ptrace.ScopeSpans,
	rsSeq, ssSeq int, span ptrace.Span, steps int, pend []int,
) {
	h, newRes, newScope := held.slot(p, span.TraceID(), rsSeq, ssSeq)
	rss := h.data.ResourceSpans()
	if newRes {
		dst := rss.AppendEmpty()
		rs.Resource().CopyTo(dst.Resource())
		dst.SetSchemaUrl(rs.SchemaUrl())
	}
	sss := rss.At(rss.Len() - 1).ScopeSpans()
	if newScope {
		dst := sss.AppendEmpty()
		ss.Scope().CopyTo(dst.Scope())
		dst.SetSchemaUrl(ss.SchemaUrl())
	}
	n := span.Events().Len()
	span.MoveTo(sss.At(sss.Len() - 1).Spans().AppendEmpty())
	h.added(n, steps, pend)
	if steps == 0 {
		h.spans++ // an ancestor span (see keepAncestor)
	}
}

func (tracesSignal) waiting(n *normalizer, td ptrace.Traces) (steps int, pending []int32) {
	ord := int32(0)
	forEachSpan(td, func(span ptrace.Span) {
		events := span.Events()
		for e := 0; e < events.Len(); e++ {
			m := events.At(e).Attributes()
			if n.eventKind(m) == "" {
				continue
			}
			steps++
			if _, ok := m.Get(stepschema.AttrRunID); !ok {
				pending = append(pending, ord+int32(e))
			}
		}
		ord += int32(events.Len())
	})
	return steps, pending
}

func (tracesSignal) assign(td ptrace.Traces, pending []int32, runID string) {
	ord, next := int32(0), 0
	forEachSpan(td, func(span ptrace.Span) {
		events := span.Events()
		if events.Len() == 0 {
			// A held ancestor span: the exporter records it in this run.
			stepattrs.SetRunID(span.Attributes(), runID)
			return
		}
		end := ord + int32(events.Len())
		for ; next < len(pending) && pending[next] < end; next++ {
			stepattrs.SetRunID(events.At(int(pending[next]-ord)).Attributes(), runID)
		}
		ord = end
	})
}

func forEachSpan(td ptrace.Traces, f func(ptrace.Span)) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				f(spans.At(k))
			}
		}
	}
}
