package loadgen

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/pipeline"
)

// kindRetrievalError is the wrapper step a failing run emits after the
// stage's own error step.
const kindRetrievalError = "retrieval.error"

// ScopeName is the instrumentation scope of the generated telemetry.
const ScopeName = "github.com/runledger/runledger/pipeline/loadgen"

// stage is the template of a stage span and its steps.
type stage struct {
	kind, code       string
	size             string
	sizeVal          int64
	resource, resVal string
	attr             string
	attrVal          int64
}

var stages = []stage{
	{kind: "embed.vllm", code: "timeout", size: "vectors", sizeVal: 8, resource: "model", resVal: "BAAI/bge-large-en-v1.5"},
	{kind: "ann.faiss.search", code: "index_not_found", size: "hits", sizeVal: 50, resource: "index_version", resVal: "v3", attr: "nprobe", attrVal: 16},
	{kind: "hydrate.duckdb", code: "missing_table", size: "rows", sizeVal: 50, resource: "table", resVal: "chunks"},
	{kind: "git.blame", code: "path_not_found", size: "lines", sizeVal: 120, resource: "repo", resVal: "github.com/acme/search"},
	{kind: "retrieval.hybrid", code: "empty_channel", size: "hits", sizeVal: 10, resource: "fusion", resVal: "rrf"},
}

// batch is one traces request and one logs request under construction.
type batch struct {
	td        ptrace.Traces
	spans     ptrace.SpanSlice
	ld        plog.Logs
	logs      plog.LogRecordSlice
	spanSteps int64 // step events on spans in td
	logSteps  int64 // step events among the records in ld
}

func newBatch(service string) *batch {
	b := &batch{td: ptrace.NewTraces(), ld: plog.NewLogs()}
	rs := b.td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr(stepschema.AttrServiceName, service)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(ScopeName)
	b.spans = ss.Spans()
	rl := b.ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(stepschema.AttrServiceName, service)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(ScopeName)
	b.logs = sl.LogRecords()
	return b
}

// runStats counts what one run added.
type runStats struct {
	failed                bool
	spans, noise, records int64
	spanSteps, logSteps   int64
}

// generator builds runs; one per worker, not safe for concurrent use.
type generator struct {
	cfg      Config
	prefix   string
	rng      *rand.Rand
	noiseAcc float64
}

func newGenerator(cfg Config, prefix string, seed uint64) *generator {
	return &generator{cfg: cfg, prefix: prefix, rng: rand.New(rand.NewPCG(seed, seed^0x6a09e667f3bcc908))}
}

// failing reports whether run i fails: exactly floor(n*Fail) of the first
// n runs do, spread evenly.
func failing(i int64, fail float64) bool {
	return int64(float64(i+1)*fail) > int64(float64(i)*fail)
}

func (g *generator) traceID() pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], g.rng.Uint64())
	binary.BigEndian.PutUint64(id[8:], g.rng.Uint64()|1)
	return id
}

func (g *generator) spanID() pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], g.rng.Uint64()|1)
	return id
}

func ts(t time.Time) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t) }

// pendingRoots holds root spans (and the count of their span-event steps)
// that go into the next batch.
type pendingRoots struct {
	spans ptrace.SpanSlice
	steps int64
}

// stepSink is where a step goes: the span's events or a log record.
type stepSink struct {
	b         *batch
	spanSteps *int64 // counter of the request the span goes in
	span      ptrace.Span
	asLog     bool
	runID     string // "" when run.id is only on the root span
	traceID   pcommon.TraceID
	spanID    pcommon.SpanID
	st        *runStats
}

func (s stepSink) add(t time.Time, kind, status, code, detail string, durMS float64, tmpl *stage) {
	var attrs pcommon.Map
	if s.asLog {
		lr := s.b.logs.AppendEmpty()
		lr.SetTimestamp(ts(t))
		lr.SetObservedTimestamp(ts(t))
		lr.SetTraceID(s.traceID)
		lr.SetSpanID(s.spanID)
		lr.SetEventName(pipeline.LogEventPrefix + kind)
		if status == stepschema.StatusFailed {
			lr.SetSeverityNumber(plog.SeverityNumberError)
		} else {
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
		}
		if detail != "" {
			lr.Body().SetStr(detail)
		}
		attrs = lr.Attributes()
		s.b.logSteps++
		s.st.logSteps++
		s.st.records++
	} else {
		ev := s.span.Events().AppendEmpty()
		ev.SetName(kind)
		ev.SetTimestamp(ts(t))
		attrs = ev.Attributes()
		if detail != "" {
			attrs.PutStr(stepschema.AttrDetail, detail)
		}
		*s.spanSteps++
		s.st.spanSteps++
	}
	attrs.PutStr(stepschema.AttrKind, kind)
	attrs.PutStr(stepschema.AttrStatus, status)
	if durMS > 0 {
		attrs.PutDouble(stepschema.AttrDurationMS, durMS)
	}
	if code != "" {
		attrs.PutStr(stepschema.AttrErrorCode, code)
	}
	if tmpl != nil {
		attrs.PutInt(stepschema.PrefixSize+tmpl.size, tmpl.sizeVal)
		attrs.PutStr(stepschema.PrefixResource+tmpl.resource, tmpl.resVal)
		if tmpl.attr != "" {
			attrs.PutInt(tmpl.attr, tmpl.attrVal)
		}
	}
	if s.runID != "" {
		attrs.PutStr(stepschema.AttrRunID, s.runID)
	}
}

// appendRun adds run i, started at t0, to b; its root span goes to
// pendingRoots instead when RootOnlyRunID is set (the caller sends it in a
// later request).
func (g *generator) appendRun(b *batch, pending *pendingRoots, i int64, t0 time.Time) runStats {
	cfg := g.cfg
	st := runStats{failed: failing(i, cfg.Fail)}
	runID := g.prefix + "-" + strconv.FormatInt(i, 10)
	stampID := runID
	if cfg.RootOnlyRunID {
		stampID = ""
	}
	traceID, rootID := g.traceID(), g.spanID()
	nStages := cfg.SpansPerRun
	failAt := -1
	if st.failed {
		failAt = int(i % int64(cfg.SpansPerRun))
		nStages = failAt + 1
	}

	const stageDur = 3 * time.Millisecond
	t := t0.Add(100 * time.Microsecond)
	for j := 0; j < nStages; j++ {
		tmpl := &stages[j%len(stages)]
		span := b.spans.AppendEmpty()
		id := g.spanID()
		span.SetTraceID(traceID)
		span.SetSpanID(id)
		span.SetParentSpanID(rootID)
		span.SetName(tmpl.kind)
		span.SetKind(ptrace.SpanKindInternal)
		span.SetStartTimestamp(ts(t))
		if stampID != "" {
			span.Attributes().PutStr(stepschema.AttrRunID, stampID)
		}
		asLog := cfg.Signal == SignalLogs || (cfg.Signal == SignalMixed && j%2 == 1)
		sink := stepSink{b: b, spanSteps: &b.spanSteps, span: span, asLog: asLog, runID: stampID, traceID: traceID, spanID: id, st: &st}
		step := stageDur / time.Duration(cfg.StepsPerSpan)
		for k := 0; k < cfg.StepsPerSpan; k++ {
			et := t.Add(time.Duration(k+1) * step)
			if j == failAt && k == cfg.StepsPerSpan-1 {
				sink.add(et, tmpl.kind+pipeline.ErrorKindSuffix, stepschema.StatusFailed, tmpl.code, tmpl.kind+" failed: "+tmpl.code, ms(step), tmpl)
				span.Status().SetCode(ptrace.StatusCodeError)
			} else {
				sink.add(et, tmpl.kind, stepschema.StatusOK, "", "", ms(step), tmpl)
			}
		}
		t = t.Add(stageDur)
		span.SetEndTimestamp(ts(t))
		st.spans++
	}

	// Noise: spans without steps, so that they are Noise of all spans.
	g.noiseAcc += cfg.Noise / (1 - cfg.Noise) * float64(nStages+1)
	for ; g.noiseAcc >= 1; g.noiseAcc-- {
		span := b.spans.AppendEmpty()
		id := g.spanID()
		span.SetTraceID(traceID)
		span.SetSpanID(id)
		span.SetParentSpanID(rootID)
		span.SetName("redis.GET")
		span.SetKind(ptrace.SpanKindClient)
		span.SetStartTimestamp(ts(t))
		span.SetEndTimestamp(ts(t.Add(200 * time.Microsecond)))
		span.Attributes().PutStr("db.system", "redis")
		if stampID != "" {
			span.Attributes().PutStr(stepschema.AttrRunID, stampID)
		}
		if cfg.Signal != SignalTraces {
			lr := b.logs.AppendEmpty()
			lr.SetTimestamp(ts(t))
			lr.SetTraceID(traceID)
			lr.SetSpanID(id)
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.Body().SetStr("cache miss")
			st.records++
		}
		st.spans++
		st.noise++
	}

	// Root span: always carries run.id; run.start, run.end (and
	// retrieval.error) as span events unless the signal is logs.
	dest, steps := b.spans, &b.spanSteps
	if cfg.RootOnlyRunID {
		dest, steps = pending.spans, &pending.steps
	}
	root := dest.AppendEmpty()
	root.SetTraceID(traceID)
	root.SetSpanID(rootID)
	root.SetName("POST /search")
	root.SetKind(ptrace.SpanKindServer)
	root.SetStartTimestamp(ts(t0))
	root.SetEndTimestamp(ts(t.Add(100 * time.Microsecond)))
	root.Attributes().PutStr(stepschema.AttrRunID, runID)
	sink := stepSink{b: b, spanSteps: steps, span: root, asLog: cfg.Signal == SignalLogs, runID: stampID, traceID: traceID, spanID: rootID, st: &st}
	sink.add(t0, stepschema.KindRunStart, stepschema.StatusOK, "", "", 0, nil)
	total := ms(t.Sub(t0))
	if st.failed {
		tmpl := &stages[failAt%len(stages)]
		sink.add(t, kindRetrievalError, stepschema.StatusFailed, tmpl.code, "retrieval failed in "+tmpl.kind, total, nil)
		sink.add(t, stepschema.KindRunEnd, stepschema.StatusFailed, tmpl.code, tmpl.kind+" failed: "+tmpl.code, total, nil)
		root.Status().SetCode(ptrace.StatusCodeError)
	} else {
		sink.add(t, stepschema.KindRunEnd, stepschema.StatusOK, "", "", total, nil)
	}
	st.spans++
	return st
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// StepsPerRun returns the number of step events of an ok run and of a run
// failing at stage j (0-based) for c.
func (c Config) StepsPerRun(failAt int) int64 {
	if failAt < 0 {
		return 2 + int64(c.SpansPerRun*c.StepsPerSpan)
	}
	return 3 + int64((failAt+1)*c.StepsPerSpan)
}
