package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/runledger/runledger/pipeline"
)

// Requests counts export requests.
type Requests struct {
	Sent   int64 `json:"sent"`
	Acked  int64 `json:"acked"`
	Failed int64 `json:"failed"`
}

// StepEvents counts step events in sent and in acknowledged requests.
type StepEvents struct {
	Sent  int64 `json:"sent"`
	Acked int64 `json:"acked"`
}

// Result is what a load run did.
type Result struct {
	Runs        int64 `json:"runs"`
	FailingRuns int64 `json:"failing_runs"`
	Spans       int64 `json:"spans"`
	NoiseSpans  int64 `json:"noise_spans"`
	LogRecords  int64 `json:"log_records"`
	// Requests sums TraceRequests and LogRequests.
	Requests      Requests   `json:"requests"`
	TraceRequests Requests   `json:"trace_requests"`
	LogRequests   Requests   `json:"log_requests"`
	StepEvents    StepEvents `json:"step_events"`
	// RejectedSpans and RejectedLogRecords come from OTLP partial success.
	RejectedSpans      int64   `json:"rejected_spans"`
	RejectedLogRecords int64   `json:"rejected_log_records"`
	ElapsedSeconds     float64 `json:"elapsed_s"`
	// EventsPerSecond is acknowledged step events per second.
	EventsPerSecond float64 `json:"events_per_s"`
	RunsPerSecond   float64 `json:"runs_per_s"`
	// RunIDPrefix is the prefix of this load's run ids (<prefix>-<n>).
	RunIDPrefix string `json:"run_id_prefix"`
	// Errors holds up to 10 distinct export errors.
	Errors []string `json:"errors,omitempty"`
}

// WriteText writes r as a short human summary.
func (r Result) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w,
		"runs: %d (%d failing), spans: %d (%d noise), log records: %d, run ids: %s-<n>\n"+
			"requests: sent %d, acked %d, failed %d (traces %d/%d/%d, logs %d/%d/%d)\n"+
			"step events: sent %d, acked %d; rejected: %d spans, %d log records\n"+
			"elapsed %.3fs, %.1f step events/s, %.1f runs/s\n",
		r.Runs, r.FailingRuns, r.Spans, r.NoiseSpans, r.LogRecords, r.RunIDPrefix,
		r.Requests.Sent, r.Requests.Acked, r.Requests.Failed,
		r.TraceRequests.Sent, r.TraceRequests.Acked, r.TraceRequests.Failed,
		r.LogRequests.Sent, r.LogRequests.Acked, r.LogRequests.Failed,
		r.StepEvents.Sent, r.StepEvents.Acked, r.RejectedSpans, r.RejectedLogRecords,
		r.ElapsedSeconds, r.EventsPerSecond, r.RunsPerSecond)
	if err == nil {
		for _, e := range r.Errors {
			if _, err = fmt.Fprintf(w, "error: %s\n", e); err != nil {
				break
			}
		}
	}
	return err
}

// counters are the shared atomic counters of a load run.
type counters struct {
	runs, failing, spans, noise, records atomic.Int64
	tSent, tAcked, tFailed               atomic.Int64
	lSent, lAcked, lFailed               atomic.Int64
	stepsSent, stepsAcked                atomic.Int64
	rejectedSpans, rejectedRecords       atomic.Int64
	errMu                                sync.Mutex
	errs                                 map[string]bool
}

func (c *counters) addError(err error) {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if len(c.errs) < 10 {
		c.errs[err.Error()] = true
	}
}

// Run sends load to cfg.Target until cfg.Duration has passed or cfg.Count
// runs were generated (whichever comes first) or ctx ends, then sends what
// is still batched (each request bounded by cfg.Timeout) and returns the
// counts.
//
// When nothing accepts connections at cfg.Target for cfg.StartupWait, Run
// sends nothing and returns a *NoCollectorError (wrapped). When the
// collector goes away during the load (a request fails as unavailable and
// a new connection is refused), Run stops at once, drops what is still
// batched and returns the counts so far with a *NoCollectorError whose
// MidRun is set.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, fmt.Errorf("loadgen: %w", err)
	}
	if err := awaitCollector(ctx, cfg.Target, cfg.StartupWait); err != nil {
		return Result{}, fmt.Errorf("loadgen: %w", err)
	}
	conn, err := grpc.NewClient(cfg.Target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return Result{}, fmt.Errorf("loadgen: connect %s: %w", cfg.Target, err)
	}
	defer conn.Close()
	return run(ctx, cfg, ptraceotlp.NewGRPCClient(conn), plogotlp.NewGRPCClient(conn))
}

func run(ctx context.Context, cfg Config, tc ptraceotlp.GRPCClient, lc plogotlp.GRPCClient) (Result, error) {
	prefix := cfg.RunIDPrefix
	if prefix == "" {
		prefix = "load-" + pipeline.NewRunID()
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	// A worker that finds the collector gone cancels ctx with a
	// *NoCollectorError as the cause, which stops every worker.
	ctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	c := &counters{errs: map[string]bool{}}
	drain := make(chan struct{}, finalFlushParallel)
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < cfg.Concurrency; w++ {
		var seed [8]byte
		_, _ = rand.Read(seed[:])
		wk := &worker{cfg: cfg, c: c, tc: tc, lc: lc, drain: drain, abort: abort,
			gen: newGenerator(cfg, prefix, binary.LittleEndian.Uint64(seed[:]))}
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk.loop(ctx, &next, start)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	r := Result{
		Runs: c.runs.Load(), FailingRuns: c.failing.Load(), Spans: c.spans.Load(),
		NoiseSpans: c.noise.Load(), LogRecords: c.records.Load(),
		TraceRequests:      Requests{Sent: c.tSent.Load(), Acked: c.tAcked.Load(), Failed: c.tFailed.Load()},
		LogRequests:        Requests{Sent: c.lSent.Load(), Acked: c.lAcked.Load(), Failed: c.lFailed.Load()},
		StepEvents:         StepEvents{Sent: c.stepsSent.Load(), Acked: c.stepsAcked.Load()},
		RejectedSpans:      c.rejectedSpans.Load(),
		RejectedLogRecords: c.rejectedRecords.Load(),
		ElapsedSeconds:     elapsed.Seconds(),
		RunIDPrefix:        prefix,
	}
	r.Requests = Requests{
		Sent:   r.TraceRequests.Sent + r.LogRequests.Sent,
		Acked:  r.TraceRequests.Acked + r.LogRequests.Acked,
		Failed: r.TraceRequests.Failed + r.LogRequests.Failed,
	}
	if s := elapsed.Seconds(); s > 0 {
		r.EventsPerSecond = float64(r.StepEvents.Acked) / s
		r.RunsPerSecond = float64(r.Runs) / s
	}
	for e := range c.errs {
		r.Errors = append(r.Errors, e)
	}
	sort.Strings(r.Errors)
	if gone := collectorGone(ctx); gone != nil {
		return r, fmt.Errorf("loadgen: %w", gone)
	}
	return r, nil
}

// collectorGone returns the *NoCollectorError ctx was cancelled with, if
// any.
func collectorGone(ctx context.Context) *NoCollectorError {
	var gone *NoCollectorError
	if errors.As(context.Cause(ctx), &gone) {
		return gone
	}
	return nil
}

// finalFlushParallel bounds the workers sending their last batches at the
// same time when the load ends, as producers that shut down one after
// another rather than all in the same millisecond.
const finalFlushParallel = 64

// worker generates runs into its own batches and sends them synchronously.
type worker struct {
	cfg     Config
	c       *counters
	tc      ptraceotlp.GRPCClient
	lc      plogotlp.GRPCClient
	gen     *generator
	b       *batch
	pending *pendingRoots // root spans waiting for the next batch
	flushAt int           // spans that make the current batch full
	drain   chan struct{} // slots for the final flush
	abort   context.CancelCauseFunc
}

func (w *worker) loop(ctx context.Context, next *atomic.Int64, start time.Time) {
	w.b = newBatch(w.cfg.ServiceName)
	w.pending = &pendingRoots{spans: ptrace.NewSpanSlice()}
	// The first batch is cut at a random size: workers fill their batches
	// at the same pace, and without this they would all send at the same
	// moments, a burst of every worker's request every few seconds that
	// independent SDK processes do not produce.
	w.flushAt = 1 + w.gen.rng.IntN(w.cfg.SpansPerBatch)
	var timer *time.Timer
	for {
		i := next.Add(1) - 1
		if w.cfg.Count > 0 && i >= w.cfg.Count {
			break
		}
		if w.cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(i) / w.cfg.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				select {
				case <-timer.C:
				case <-ctx.Done():
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		st := w.gen.appendRun(w.b, w.pending, i, time.Now())
		w.c.runs.Add(1)
		if st.failed {
			w.c.failing.Add(1)
		}
		w.c.spans.Add(st.spans)
		w.c.noise.Add(st.noise)
		w.c.records.Add(st.records)
		if w.b.spans.Len() >= w.flushAt {
			w.flush(ctx)
			w.flushAt = w.cfg.SpansPerBatch
		}
	}
	if timer != nil {
		timer.Stop()
	}
	if collectorGone(ctx) != nil {
		return // the last batches would only fail too
	}
	w.drain <- struct{}{}
	defer func() { <-w.drain }()
	w.flush(ctx)
	if w.b.spans.Len() > 0 { // roots moved in by the last flush
		w.flush(ctx)
	}
}

// flush sends the current batch (traces, then logs), starts a new one and
// moves the pending root spans into it. Requests outlive ctx (so the
// duration bound does not fail the last batches) but not cfg.Timeout.
func (w *worker) flush(ctx context.Context) {
	b := w.b
	if b.spans.Len() > 0 {
		w.sendTraces(ctx, b.td, b.spanSteps)
	}
	if b.logs.Len() > 0 {
		w.sendLogs(ctx, b.ld, b.logSteps)
	}
	w.b = newBatch(w.cfg.ServiceName)
	w.pending.spans.MoveAndAppendTo(w.b.spans)
	w.b.spanSteps += w.pending.steps
	w.pending.steps = 0
}

func (w *worker) sendTraces(ctx context.Context, td ptrace.Traces, steps int64) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.Timeout)
	defer cancel()
	w.c.tSent.Add(1)
	w.c.stepsSent.Add(steps)
	resp, err := w.tc.Export(rctx, ptraceotlp.NewExportRequestFromTraces(td))
	if err != nil {
		w.c.tFailed.Add(1)
		w.c.addError(err)
		w.checkCollector(rctx, err)
		return
	}
	w.c.tAcked.Add(1)
	w.c.stepsAcked.Add(steps)
	w.c.rejectedSpans.Add(resp.PartialSuccess().RejectedSpans())
}

func (w *worker) sendLogs(ctx context.Context, ld plog.Logs, steps int64) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.Timeout)
	defer cancel()
	w.c.lSent.Add(1)
	w.c.stepsSent.Add(steps)
	resp, err := w.lc.Export(rctx, plogotlp.NewExportRequestFromLogs(ld))
	if err != nil {
		w.c.lFailed.Add(1)
		w.c.addError(err)
		w.checkCollector(rctx, err)
		return
	}
	w.c.lAcked.Add(1)
	w.c.stepsAcked.Add(steps)
	w.c.rejectedRecords.Add(resp.PartialSuccess().RejectedLogRecords())
}

// checkCollector ends the load when an export failed as unavailable and
// the collector no longer accepts connections; an overloaded or
// restarting-but-listening collector answers unavailable too, and the
// load goes on against it.
func (w *worker) checkCollector(ctx context.Context, err error) {
	if status.Code(err) != codes.Unavailable {
		return
	}
	if derr := dial(ctx, w.cfg.Target, w.cfg.Timeout); derr != nil {
		w.abort(&NoCollectorError{Target: w.cfg.Target, MidRun: true, Err: derr})
	}
}
