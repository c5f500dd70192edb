package steproute

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/s2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/processor/steproute/internal/holdlog"
	"github.com/runledger/runledger/processor/steproute/internal/spancodec"
)

// heldPayload is step data of one trace waiting for its run id: the spans
// or log records, already normalised, as their own ptrace.Traces or
// plog.Logs bound for the next consumer of the pipeline they came from.
type heldPayload interface {
	// spill returns the payload's compressed encoding (spans in spancodec's
	// encoding, records as protobuf, compressed with S2) for the hold log
	// and drops the in-memory form: while it waits it lives on disk and in
	// the page cache, not on the heap.
	spill() ([]byte, error)
	// restore gives a spilled payload back its encoding, read from the log.
	restore(raw []byte)
	// assign writes runID on the step events that are still missing one
	// (decoding a compacted payload first).
	assign(runID string) error
	// send passes the data to the next consumer of its pipeline.
	send(ctx context.Context) error
	// counts returns the number of step events in the payload and how many
	// of them wait for the run id.
	counts() (steps, pending int)
	// telemetry returns the telemetry of the pipeline the data came from.
	telemetry() *telemetry
	// signal names the pipeline signal, for logs.
	signal() string
}

type heldEntry struct {
	seq      uint64
	trace    pcommon.TraceID
	n        int // step events, what counts against resolve_wait_max_events
	deadline int64
	ctx      context.Context
	payload  heldPayload
	done     bool
	// wal and loc name the entry in the hold log (wal 0: not logged).
	wal     uint64
	loc     holdlog.Loc
	spilled bool // the payload is only in the hold log
}

type emitKind int

const (
	emitDirect   emitKind = iota // never held: resolved or rejected on arrival
	emitReleased                 // held, released with a learned run id
	emitFallback                 // held (or too big to hold), sent with the fallback id
)

// emission is a payload to send to its next consumer with a run id.
type emission struct {
	e      *heldEntry
	runID  string
	src    source
	kind   emitKind
	reason fallbackReason
}

// traceRun is a run id learned for a trace during a call.
type traceRun struct {
	trace pcommon.TraceID
	runID string
}

// holder keeps step events whose trace has no known run id yet, for at
// most resolve_wait and at most resolve_wait_max_events events. It is shared
// by the traces and logs pipelines of one component.
//
// Ordering with the trace memory: add counts the entry in pending before it
// re-checks the trace memory, and a call that learns a run id writes it to
// the memory before it reads pending. So either add sees the run id, or the
// learning call sees pending > 0 and releases the entry.
type holder struct {
	c    *core
	wait int64
	max  int

	pending  atomic.Int64 // events held or being added
	scratch  sync.Pool    // *[]byte for compress and decodeSpans
	encoders sync.Pool    // *spancodec.Encoder

	mu      sync.Mutex
	queue   []*heldEntry // arrival order; done entries are skipped
	head    int
	live    int
	byTrace map[pcommon.TraceID][]*heldEntry
	// peak is byTrace's largest size since it was made: a map never
	// shrinks, so one that held a burst is made anew once it empties.
	peak    int
	seq     uint64
	closed  bool
	running bool

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

func newHolder(c *core, wait time.Duration, maxEvents int) *holder {
	return &holder{
		c:       c,
		wait:    int64(wait),
		max:     maxEvents,
		byTrace: map[pcommon.TraceID][]*heldEntry{},
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// isClosed reports whether shutdown has begun.
func (h *holder) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// active reports whether anything may be held; cheap enough for every
// learned run id.
func (h *holder) active() bool { return h.pending.Load() > 0 }

// add holds e, or decides its fate right away, appending to out what must
// be sent now: e itself when its run id became known meanwhile or it cannot
// be held, and the oldest entries pushed out by buffer pressure.
func (h *holder) add(e *heldEntry, out []emission, st *stats) []emission {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return append(out, emission{e: e, runID: h.c.fallbackID(e.trace), src: srcFallback, kind: emitDirect})
	}
	h.pending.Add(int64(e.n))
	if id, ok := h.c.cache.Get(e.trace, h.c.now()); ok {
		h.pending.Add(-int64(e.n))
		return append(out, emission{e: e, runID: id, src: srcTraceCache, kind: emitDirect})
	}
	if e.n > h.max {
		h.pending.Add(-int64(e.n))
		return append(out, emission{e: e, runID: h.c.fallbackID(e.trace), src: srcFallback, kind: emitFallback, reason: reasonPressure})
	}
	for h.pending.Load() > int64(h.max) {
		old := h.popOldest()
		if old == nil {
			break
		}
		out = append(out, emission{e: old, runID: h.c.fallbackID(old.trace), src: srcFallback, kind: emitFallback, reason: reasonPressure})
	}
	h.seq++
	e.seq = h.seq
	h.queue = append(h.queue, e)
	h.byTrace[e.trace] = append(h.byTrace[e.trace], e)
	h.peak = max(h.peak, len(h.byTrace))
	h.live++
	st.held += int64(e.n)
	if !h.running {
		h.running = true
		go h.run()
	}
	if h.live == 1 {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
	return out
}

// release takes the entries of the traces whose run id was learned, in
// arrival order, appending them to out.
func (h *holder) release(learned []traceRun, out []emission) []emission {
	if !h.active() {
		return out
	}
	h.mu.Lock()
	start := len(out)
	for _, tr := range learned {
		list, ok := h.byTrace[tr.trace]
		if !ok {
			continue
		}
		h.untrack(tr.trace)
		for _, e := range list {
			h.retire(e)
			out = append(out, emission{e: e, runID: tr.runID, src: srcWait, kind: emitReleased})
		}
	}
	h.mu.Unlock()
	rel := out[start:]
	sort.SliceStable(rel, func(i, j int) bool { return rel[i].e.seq < rel[j].e.seq })
	return out
}

// expire takes the entries whose deadline passed and returns the next
// deadline, if any entry is left.
func (h *holder) expire(now int64, out []emission) ([]emission, int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		e := h.front()
		if e == nil {
			return out, 0, false
		}
		if e.deadline > now {
			return out, e.deadline, true
		}
		h.popOldest()
		out = append(out, emission{e: e, runID: h.c.fallbackID(e.trace), src: srcFallback, kind: emitFallback, reason: reasonTimeout})
	}
}

// front returns the oldest live entry, dropping done ones from the queue.
// Callers hold mu.
func (h *holder) front() *heldEntry {
	for h.head < len(h.queue) {
		if e := h.queue[h.head]; !e.done {
			return e
		}
		h.queue[h.head] = nil
		h.head++
	}
	h.queue = h.queue[:0]
	h.head = 0
	return nil
}

// popOldest removes and returns the oldest live entry. Callers hold mu.
func (h *holder) popOldest() *heldEntry {
	e := h.front()
	if e == nil {
		return nil
	}
	h.queue[h.head] = nil
	h.head++
	if h.head > 1024 && h.head > len(h.queue)/2 {
		n := copy(h.queue, h.queue[h.head:])
		clear(h.queue[n:])
		h.queue = h.queue[:n]
		h.head = 0
	}
	list := h.byTrace[e.trace]
	for i, x := range list {
		if x == e {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		h.untrack(e.trace)
	} else {
		h.byTrace[e.trace] = list
	}
	h.retire(e)
	return e
}

// untrack forgets the held entries of trace tid. Callers hold mu.
func (h *holder) untrack(tid pcommon.TraceID) {
	delete(h.byTrace, tid)
	if len(h.byTrace) == 0 && h.peak > 1024 {
		h.byTrace, h.peak = map[pcommon.TraceID][]*heldEntry{}, 0
	}
}

// retire marks e as no longer held. Callers hold mu and unlink e from
// byTrace themselves.
func (h *holder) retire(e *heldEntry) {
	e.done = true
	h.live--
	h.pending.Add(-int64(e.n))
}

// run sends entries out with the fallback run id when their wait is over.
func (h *holder) run() {
	defer close(h.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var out []emission
	for {
		var next int64
		var ok bool
		out, next, ok = h.expire(h.c.now(), out[:0])
		for i := range out {
			h.c.emit(&out[i])
			out[i] = emission{}
		}
		if ok {
			timer.Reset(time.Duration(next - h.c.now()))
		} else {
			timer.Stop()
		}
		select {
		case <-h.stop:
			timer.Stop()
			return
		case <-h.wake:
		case <-timer.C:
		}
	}
}

// shutdown stops the timer goroutine and returns everything still held, in
// arrival order; nothing is held afterwards.
func (h *holder) shutdown() []emission {
	h.mu.Lock()
	h.closed = true
	running := h.running
	h.mu.Unlock()
	if running {
		close(h.stop)
		<-h.done
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []emission
	for e := h.popOldest(); e != nil; e = h.popOldest() {
		out = append(out, emission{e: e, runID: h.c.fallbackID(e.trace), src: srcFallback, kind: emitFallback, reason: reasonShutdown})
	}
	return out
}

// compress returns raw compressed with S2 (Snappy's faster relative), in a
// slice of its own size: it is kept while the payload waits.
func (h *holder) compress(raw []byte) []byte {
	bp := h.buffer(s2.MaxEncodedLen(len(raw)))
	out := bytes.Clone(s2.Encode((*bp)[:cap(*bp)], raw))
	h.putBuffer(bp)
	return out
}

// buffer returns a pooled buffer of capacity at least n.
func (h *holder) buffer(n int) *[]byte {
	bp, _ := h.scratch.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	if cap(*bp) < n {
		*bp = make([]byte, n)
	}
	return bp
}

func (h *holder) putBuffer(bp *[]byte) {
	if cap(*bp) <= 1<<20 {
		h.scratch.Put(bp)
	}
}

// encodeSpans returns td in spancodec's encoding, compressed.
func (h *holder) encodeSpans(td ptrace.Traces) ([]byte, error) {
	enc, _ := h.encoders.Get().(*spancodec.Encoder)
	if enc == nil {
		enc = new(spancodec.Encoder)
	}
	defer h.encoders.Put(enc)
	raw, err := enc.Encode(td)
	if err != nil {
		return nil, err
	}
	return h.compress(raw), nil
}

// decodeSpans restores spans compacted with encodeSpans.
func (h *holder) decodeSpans(b []byte) (ptrace.Traces, error) {
	n, err := s2.DecodedLen(b)
	if err != nil {
		return ptrace.Traces{}, fmt.Errorf("decompress held spans: %w", err)
	}
	bp := h.buffer(n)
	defer h.putBuffer(bp)
	raw, err := s2.Decode((*bp)[:cap(*bp)], b)
	if err != nil {
		return ptrace.Traces{}, fmt.Errorf("decompress held spans: %w", err)
	}
	// spancodec.Decode copies what it keeps, so the buffer can go back.
	return spancodec.Decode(raw)
}

// expand restores a payload compacted with compress; what names its items
// in errors.
func expand[T any](b []byte, what string, unmarshal func([]byte) (T, error)) (T, error) {
	raw, err := s2.Decode(nil, b)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("decompress held %s: %w", what, err)
	}
	v, err := unmarshal(raw)
	if err != nil {
		return v, fmt.Errorf("decode held %s: %w", what, err)
	}
	return v, nil
}
