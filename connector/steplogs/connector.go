package steplogs

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/runledger/runledger/connector/steplogs/internal/metadata"
	"github.com/runledger/runledger/internal/stepcarry"
	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/internal/stepschema/stepattrs"
)

// carrier is what both directions share: the next consumer, the limits and
// the telemetry. It keeps no data between calls.
type carrier struct {
	component.StartFunc
	component.ShutdownFunc
	next          consumer.Logs
	spanRecords   bool
	maxEventBytes int
	tel           *metadata.TelemetryBuilder
	logger        *zap.Logger
	warned        *atomic.Bool // the first oversized event was logged
}

// Capabilities says the connector only reads the data it is given: the
// records it sends are copies.
func (carrier) Capabilities() consumer.Capabilities { return consumer.Capabilities{MutatesData: false} }

// send counts what was dropped and passes out on unless it holds nothing.
func (c *carrier) send(ctx context.Context, out plog.Logs, dropped int) error {
	if dropped > 0 {
		c.tel.ConnectorSteplogsEventsDropped.Add(ctx, int64(dropped))
		if c.warned.CompareAndSwap(false, true) {
			c.logger.Warn("steplogs: step events larger than max_event_bytes are dropped (logged once; counted in otelcol_connector_steplogs_events_dropped)",
				zap.Int("max_event_bytes", c.maxEventBytes), zap.Int("dropped", dropped))
		}
	}
	if out.ResourceLogs().Len() == 0 {
		return nil
	}
	return c.next.ConsumeLogs(ctx, out)
}

type tracesConnector struct{ carrier }

// ConsumeTraces sends the step events of td (and, with span_records, its
// span records) as carried log records; the error is the next consumer's.
func (c *tracesConnector) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	out, dropped := tracesToLogs(td, c.spanRecords, c.maxEventBytes, pcommon.NewTimestampFromTime(time.Now()))
	return c.send(ctx, out, dropped)
}

type logsConnector struct{ carrier }

// ConsumeLogs sends the step records of ld regrouped by run; the error is
// the next consumer's.
func (c *logsConnector) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	out, dropped := logsToLogs(ld, c.maxEventBytes)
	return c.send(ctx, out, dropped)
}

// groupKey names one output scope: a run, the producer resource (its index
// in the request) and, for log records, the producer scope (-1 for span
// events, whose index in their span is carried in the record).
type groupKey struct {
	run        string
	res, scope int
}

// grouper builds the output (and counts the events it leaves out): one resource per run holding only run.id,
// one scope per producer resource (and scope) in it, in order of first use
// so that each run's records keep their order.
type grouper struct {
	out     plog.Logs
	max     int // max_event_bytes
	dropped int
	runs    map[string]plog.ResourceLogs
	scopes  map[groupKey]plog.LogRecordSlice
}

func newGrouper(maxEventBytes int) *grouper {
	return &grouper{out: plog.NewLogs(), max: maxEventBytes,
		runs: map[string]plog.ResourceLogs{}, scopes: map[groupKey]plog.LogRecordSlice{}}
}

// tooLarge says whether an event of these attributes and body is over the
// limit, counting it as dropped when it is.
func (g *grouper) tooLarge(attrs pcommon.Map, body pcommon.Value) bool {
	n := mapSize(attrs, g.max)
	if n <= g.max && body != (pcommon.Value{}) {
		n += valueSize(body, g.max-n)
	}
	if n > g.max {
		g.dropped++
		return true
	}
	return false
}

// mapSize is the bytes of m's keys and values, counted up to just past
// limit (a huge event stops the count early).
func mapSize(m pcommon.Map, limit int) int {
	n := 0
	for k, v := range m.All() {
		n += len(k) + valueSize(v, limit-n-len(k))
		if n > limit {
			break
		}
	}
	return n
}

// valueSize is the bytes of v's strings and bytes (8 for a number or bool),
// counted up to just past limit.
func valueSize(v pcommon.Value, limit int) int {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return len(v.Str())
	case pcommon.ValueTypeBytes:
		return v.Bytes().Len()
	case pcommon.ValueTypeMap:
		return mapSize(v.Map(), limit)
	case pcommon.ValueTypeSlice:
		n := 0
		for _, e := range v.Slice().All() {
			n += valueSize(e, limit-n)
			if n > limit {
				break
			}
		}
		return n
	}
	return 8
}

// record appends an empty record to the scope of k, made on first use
// with the producer resource attributes res.
func (g *grouper) record(k groupKey, src stepcarry.Source, res pcommon.Map) plog.LogRecord {
	recs, ok := g.scopes[k]
	if !ok {
		rl, ok := g.runs[k.run]
		if !ok {
			rl = g.out.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr(stepschema.AttrRunID, k.run)
			g.runs[k.run] = rl
		}
		sl := rl.ScopeLogs().AppendEmpty()
		stepcarry.SetScope(sl.Scope(), src, res)
		recs = sl.LogRecords()
		g.scopes[k] = recs
	}
	return recs.AppendEmpty()
}

// tracesToLogs carries the step events of td, each in the run the
// single-node exporter would write it to (the event's run.id, else the
// span's, else the resource's, else the trace's fallback), and with
// spanRecords the span records the exporter would write.
func tracesToLogs(td ptrace.Traces, spanRecords bool, maxEventBytes int, now pcommon.Timestamp) (plog.Logs, int) {
	g := newGrouper(maxEventBytes)
	for ri, rs := range td.ResourceSpans().All() {
		resAttrs := rs.Resource().Attributes()
		res := stepattrs.NewResourceRun(resAttrs, stepschema.UnknownRunID)
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				carrySpan(g, span, ri, resAttrs, &res, spanRecords, now)
			}
		}
	}
	return g.out, g.dropped
}

func carrySpan(g *grouper, span ptrace.Span, ri int, resAttrs pcommon.Map, res *stepattrs.ResourceRun, spanRecords bool, now pcommon.Timestamp) {
	tid, sid := span.TraceID(), span.SpanID()
	spanRun := stepattrs.NewSpanRun(span, res)
	var index uint32
	var firstRun string
	var firstAt pcommon.Timestamp
	for _, ev := range span.Events().All() {
		kind, run := stepattrs.KindAndRun(ev.Attributes())
		if kind == "" {
			continue
		}
		run = spanRun.Of(run)
		if index == 0 {
			firstRun, firstAt = run, ev.Timestamp()
		}
		index++
		// Its index counts on: the events after it keep the single-node
		// event ids.
		if g.tooLarge(ev.Attributes(), pcommon.Value{}) {
			continue
		}
		lr := g.record(groupKey{run: run, res: ri, scope: -1}, stepcarry.SpanEvents, resAttrs)
		lr.SetTimestamp(ev.Timestamp())
		lr.SetObservedTimestamp(now)
		lr.SetTraceID(tid)
		lr.SetSpanID(sid)
		lr.SetEventName(ev.Name())
		ev.Attributes().CopyTo(lr.Attributes())
		stepcarry.PutSpanEvent(lr.Body(), span.Name(), index-1)
	}
	if !spanRecords || tid.IsEmpty() || sid.IsEmpty() {
		return
	}
	// The span itself, in the run of its first step, or, for an ancestor
	// span steproute passed on, in the run it names.
	run := firstRun
	if index == 0 {
		run = stepattrs.RunID(span.Attributes(), stepschema.AttrRunID)
	}
	if run == "" {
		return
	}
	at := span.StartTimestamp()
	if at == 0 {
		at = firstAt // no start sent: its first step's (0 without steps)
	}
	lr := g.record(groupKey{run: run, res: ri, scope: -1}, stepcarry.SpanEvents, resAttrs)
	lr.SetTimestamp(at)
	lr.SetObservedTimestamp(now)
	lr.SetTraceID(tid)
	lr.SetSpanID(sid)
	stepcarry.PutSpan(lr.Body(), span)
}

// logsToLogs carries the step records of ld unchanged, each in the run the
// single-node exporter would write it to (the record's run.id, else the
// resource's, else the trace's fallback), one output scope per producer
// scope and run so that the exporter numbers records alike.
func logsToLogs(ld plog.Logs, maxEventBytes int) (plog.Logs, int) {
	g := newGrouper(maxEventBytes)
	for ri, rl := range ld.ResourceLogs().All() {
		resAttrs := rl.Resource().Attributes()
		res := stepattrs.NewResourceRun(resAttrs, stepschema.UnknownRunID)
		for si, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				kind, run := stepattrs.KindAndRun(lr.Attributes())
				if kind == "" {
					continue
				}
				if run == "" {
					run = res.Of(lr.TraceID())
				}
				if g.tooLarge(lr.Attributes(), lr.Body()) {
					continue
				}
				lr.CopyTo(g.record(groupKey{run: run, res: ri, scope: si}, stepcarry.LogRecords, resAttrs))
			}
		}
	}
	return g.out, g.dropped
}
