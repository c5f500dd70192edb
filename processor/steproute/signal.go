package steproute

import (
	"context"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/processor/processorhelper"
)

// adapter is what signal needs of one pipeline signal (ptrace.Traces or
// plog.Logs); everything else about a call is the same for both.
type adapter[T any] interface {
	// name names the signal in logs; code in the hold log.
	name() string
	code() byte
	// empty returns new, empty data.
	empty() T
	// moveAll appends the resources of src to dst, emptying src.
	moveAll(src, dst T)
	// isEmpty reports whether data holds no resources.
	isEmpty(data T) bool
	// encode and decode convert data to and from its hold-log payload.
	encode(h *holder, data T) ([]byte, error)
	decode(h *holder, raw []byte) (T, error)
	// waiting counts the step events of data replayed from the hold log
	// and lists (as in heldData.pending) those without a run id.
	waiting(n *normalizer, data T) (steps int, pending []int32)
	// assign writes runID on the step events at the ordinals pending.
	assign(data T, pending []int32, runID string)
}

// signal is the pipeline of one signal of a steproute component.
type signal[T any] struct {
	core *core
	next func(context.Context, T) error
	tel  *telemetry
	a    adapter[T]
}

// finishCall ends a ConsumeTraces/ConsumeLogs call b whose data was
// processed, with held the data that waits for a run id: it holds that,
// releases what the call resolved and sends. The signal's consume function
// runs the call up to here, with b and held on its stack.
func (s *signal[T]) finishCall(ctx context.Context, b *batch, held *heldSet[T], data T) (T, error) {
	c := s.core
	var out T
	var released []*emission
	if err := b.finish(ctx, s.tel, held.entries(), s.a.code(), func(em *emission) bool {
		h, ok := em.e.payload.(*heldData[T])
		if !ok || h.sig != s {
			return false
		}
		if _, err := c.prepare(em); err != nil {
			c.logKept(s.a.name(), 1, em.runID, h.steps, err)
			return true
		}
		if len(released) == 0 {
			out = s.a.empty()
		}
		s.a.moveAll(h.data, out)
		em.e.payload = nil
		released = append(released, em)
		return true
	}); err != nil {
		return data, err
	}
	if len(released) > 0 {
		// Released data goes first (older), in one request with this
		// call's data, sent here rather than by processorhelper. The held
		// part was acknowledged on receipt, so the client giving up on this
		// request does not cut it short, and an error goes back to the
		// client only when the call brought data of its own to retry.
		own := !s.a.isEmpty(data)
		s.a.moveAll(data, out)
		return data, c.sendMerged(s.a.name(), released, own, func() error {
			return s.next(b.sendCtx(ctx), out)
		})
	}
	if s.a.isEmpty(data) {
		return data, processorhelper.ErrSkipProcessingData
	}
	return data, nil
}

// replay rebuilds a held payload from its hold-log encoding: the step
// events without a run id are the ones waiting.
func (s *signal[T]) replay(raw []byte, trace pcommon.TraceID) (heldPayload, error) {
	data, err := s.a.decode(s.core.hold, raw)
	if err != nil {
		return nil, err
	}
	h := &heldData[T]{sig: s, trace: trace}
	h.steps, h.pending = s.a.waiting(&s.core.norm, data)
	h.npend = len(h.pending)
	return h, nil
}

// heldSet collects, during one call, the data that waits for a run id,
// one payload per trace.
type heldSet[T any] struct {
	byTrace map[pcommon.TraceID]*heldData[T]
	order   []*heldData[T]
}

// slot returns the payload of trace tid for an item of resource rsSeq and
// scope ssSeq (numbered in the call), and whether the item needs a new
// resource and a new scope appended to it first.
func (hs *heldSet[T]) slot(s *signal[T], tid pcommon.TraceID, rsSeq, ssSeq int) (h *heldData[T], newRes, newScope bool) {
	if hs.byTrace == nil {
		hs.byTrace = map[pcommon.TraceID]*heldData[T]{}
	}
	h = hs.byTrace[tid]
	if h == nil {
		h = &heldData[T]{sig: s, data: s.a.empty(), trace: tid}
		hs.byTrace[tid] = h
		hs.order = append(hs.order, h)
	}
	if h.rsSeq != rsSeq {
		h.rsSeq, h.ssSeq = rsSeq, 0
		newRes = true
	}
	if h.ssSeq != ssSeq {
		h.ssSeq = ssSeq
		newScope = true
	}
	return h, newRes, newScope
}

func (hs *heldSet[T]) entries() []*heldEntry {
	if len(hs.order) == 0 {
		return nil
	}
	out := make([]*heldEntry, len(hs.order))
	for i, h := range hs.order {
		out[i] = &heldEntry{trace: h.trace, n: h.steps + h.spans, payload: h}
	}
	return out
}

// heldData is the held payload of one trace from one call.
type heldData[T any] struct {
	sig   *signal[T]
	data  T      // zero while spilled
	raw   []byte // the hold-log encoding, read back
	trace pcommon.TraceID
	rsSeq int // resource and scope of the call the last item came from
	ssSeq int
	// events counts the events (log records: records) moved in so far;
	// pending lists the ordinals among them of the step events waiting
	// for the run id, ascending.
	events  int
	pending []int32
	npend   int
	steps   int
	// spans counts held ancestor spans (no step events): they count
	// against resolve_wait_max_events like a step event each.
	spans int
}

// added counts an item moved in: n events, steps of them step events, of
// which those at the indices pend (within the item) wait for the run id.
func (h *heldData[T]) added(n, steps int, pend []int) {
	h.pending = slices.Grow(h.pending, len(pend))
	for _, i := range pend {
		h.pending = append(h.pending, int32(h.events+i))
	}
	h.events += n
	h.npend += len(pend)
	h.steps += steps
}

func (h *heldData[T]) spill() ([]byte, error) {
	raw, err := h.sig.a.encode(h.sig.core.hold, h.data)
	if err != nil {
		return nil, err
	}
	var zero T
	h.data = zero
	return raw, nil
}

func (h *heldData[T]) restore(raw []byte) { h.raw = raw }

func (h *heldData[T]) assign(runID string) error {
	if h.raw != nil {
		data, err := h.sig.a.decode(h.sig.core.hold, h.raw)
		if err != nil {
			return err
		}
		h.data, h.raw = data, nil
	}
	h.sig.a.assign(h.data, h.pending, runID)
	return nil
}

func (h *heldData[T]) send(ctx context.Context) error { return h.sig.next(ctx, h.data) }

func (h *heldData[T]) counts() (int, int) { return h.steps, h.npend }

func (h *heldData[T]) telemetry() *telemetry { return h.sig.tel }

func (h *heldData[T]) signal() string { return h.sig.a.name() }
