package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/pipeline/pipelinetest"
)

// seen is what the receiver got.
type seen struct {
	spans, spanSteps, logSteps, noiseLogs int64
	runIDsOnRoots                         map[string]bool
	failedRunEnds                         int64
	stepsWithoutRunID, spansWithoutRunID  int64
	// first/last request index per trace of child and root spans.
	lastChildReq, rootReq map[pcommon.TraceID]int
	logEventNameOK        bool
}

func inspect(r *pipelinetest.Receiver) seen {
	s := seen{runIDsOnRoots: map[string]bool{}, lastChildReq: map[pcommon.TraceID]int{}, rootReq: map[pcommon.TraceID]int{}, logEventNameOK: true}
	for reqIdx, td := range r.Traces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					s.spans++
					id, hasID := sp.Attributes().Get(stepschema.AttrRunID)
					if sp.ParentSpanID().IsEmpty() {
						s.runIDsOnRoots[id.Str()] = true
						s.rootReq[sp.TraceID()] = reqIdx
					} else {
						s.lastChildReq[sp.TraceID()] = max(s.lastChildReq[sp.TraceID()], reqIdx)
						if !hasID {
							s.spansWithoutRunID++
						}
					}
					for _, ev := range sp.Events().All() {
						if _, ok := ev.Attributes().Get(stepschema.AttrKind); !ok {
							continue
						}
						s.spanSteps++
						if _, ok := ev.Attributes().Get(stepschema.AttrRunID); !ok {
							s.stepsWithoutRunID++
						}
						st, _ := ev.Attributes().Get(stepschema.AttrStatus)
						if ev.Name() == stepschema.KindRunEnd && st.Str() == stepschema.StatusFailed {
							s.failedRunEnds++
						}
					}
				}
			}
		}
	}
	for _, ld := range r.Logs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					k, ok := lr.Attributes().Get(stepschema.AttrKind)
					if !ok {
						s.noiseLogs++
						continue
					}
					s.logSteps++
					if lr.EventName() != "step."+k.Str() || lr.TraceID().IsEmpty() || lr.SpanID().IsEmpty() {
						s.logEventNameOK = false
					}
					if _, ok := lr.Attributes().Get(stepschema.AttrRunID); !ok {
						s.stepsWithoutRunID++
					}
					st, _ := lr.Attributes().Get(stepschema.AttrStatus)
					if k.Str() == stepschema.KindRunEnd && st.Str() == stepschema.StatusFailed {
						s.failedRunEnds++
					}
				}
			}
		}
	}
	return s
}

func testConfig(r *pipelinetest.Receiver) Config {
	c := DefaultConfig()
	c.Target = r.GRPCAddr
	c.Count = 40
	c.Duration = 20 * time.Second
	c.Concurrency = 3
	c.SpansPerBatch = 16
	return c
}

func expectedSteps(c Config) int64 {
	var n int64
	for i := int64(0); i < c.Count; i++ {
		if failing(i, c.Fail) {
			n += c.StepsPerRun(int(i % int64(c.SpansPerRun)))
		} else {
			n += c.StepsPerRun(-1)
		}
	}
	return n
}

func TestRunCounts(t *testing.T) {
	for _, sig := range []Signal{SignalTraces, SignalLogs, SignalMixed} {
		t.Run(string(sig), func(t *testing.T) {
			rcv := pipelinetest.NewReceiver(t)
			cfg := testConfig(rcv)
			cfg.Signal = sig
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			want := expectedSteps(cfg)
			if res.Runs != 40 || res.FailingRuns != 4 || res.Requests.Failed != 0 ||
				res.Requests.Acked != res.Requests.Sent || res.StepEvents.Sent != want || res.StepEvents.Acked != want {
				t.Fatalf("result = %+v, want %d steps", res, want)
			}
			got := inspect(rcv)
			if got.spans != res.Spans || got.spanSteps+got.logSteps != want || len(got.runIDsOnRoots) != 40 ||
				got.failedRunEnds != 4 || got.stepsWithoutRunID != 0 || got.spansWithoutRunID != 0 {
				t.Errorf("receiver saw %+v", got)
			}
			if int64(len(rcv.Traces())) != res.TraceRequests.Acked || int64(len(rcv.Logs())) != res.LogRequests.Acked {
				t.Errorf("requests: receiver %d/%d, result %+v %+v", len(rcv.Traces()), len(rcv.Logs()), res.TraceRequests, res.LogRequests)
			}
			if frac := float64(res.NoiseSpans) / float64(res.Spans); math.Abs(frac-cfg.Noise) > 0.02 {
				t.Errorf("noise fraction %.3f", frac)
			}
			switch sig {
			case SignalTraces:
				if got.logSteps != 0 || res.LogRequests.Sent != 0 || res.LogRecords != 0 {
					t.Errorf("traces signal sent logs: %+v", got)
				}
			case SignalLogs:
				if got.spanSteps != 0 || got.noiseLogs != res.NoiseSpans || !got.logEventNameOK {
					t.Errorf("logs signal: %+v", got)
				}
			case SignalMixed:
				if got.spanSteps == 0 || got.logSteps == 0 || !got.logEventNameOK {
					t.Errorf("mixed signal: %+v", got)
				}
			}
			if res.EventsPerSecond <= 0 || !strings.HasPrefix(res.RunIDPrefix, "load-") {
				t.Errorf("events/s %v prefix %q", res.EventsPerSecond, res.RunIDPrefix)
			}
		})
	}
}

func TestRootOnlyRunID(t *testing.T) {
	rcv := pipelinetest.NewReceiver(t)
	cfg := testConfig(rcv)
	cfg.RootOnlyRunID = true
	cfg.RunIDPrefix = "ro"
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := inspect(rcv)
	if got.spans != res.Spans || got.spanSteps != expectedSteps(cfg) || res.StepEvents.Acked != got.spanSteps {
		t.Fatalf("result %+v, receiver %+v", res, got)
	}
	if got.stepsWithoutRunID != got.spanSteps || got.spansWithoutRunID != res.Spans-40 || !got.runIDsOnRoots["ro-0"] || !got.runIDsOnRoots["ro-39"] {
		t.Errorf("run.id leaked below the root: %+v", got)
	}
	if len(got.rootReq) != 40 {
		t.Fatalf("roots = %d", len(got.rootReq))
	}
	for tid, rootIdx := range got.rootReq {
		if child, ok := got.lastChildReq[tid]; !ok || rootIdx <= child {
			t.Errorf("trace %v: root in request %d, children up to %d", tid, rootIdx, child)
		}
	}
}

func TestRunServerFailure(t *testing.T) {
	rcv := pipelinetest.NewReceiver(t)
	rcv.RejectWith(func() error { return status.Error(codes.Unavailable, "collector is overloaded") })
	cfg := testConfig(rcv)
	cfg.Count = 10
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests.Sent == 0 || res.Requests.Failed != res.Requests.Sent || res.Requests.Acked != 0 ||
		res.StepEvents.Acked != 0 || len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "overloaded") {
		t.Errorf("result = %+v", res)
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil || !strings.Contains(text.String(), "acked 0, failed ") ||
		!strings.Contains(text.String(), "error: ") {
		t.Errorf("text = %q", text.String())
	}
	if _, err := json.Marshal(res); err != nil {
		t.Error(err)
	}
}

func TestRunBounds(t *testing.T) {
	rcv := pipelinetest.NewReceiver(t)
	cfg := testConfig(rcv)
	cfg.Rate, cfg.Count = 200, 20
	start := time.Now()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Runs != 20 || time.Since(start) < 90*time.Millisecond {
		t.Errorf("rate 200/s: %d runs in %v", res.Runs, time.Since(start))
	}

	cfg.Rate, cfg.Count, cfg.Duration = 0, 0, 150*time.Millisecond
	start = time.Now()
	res, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); res.Runs == 0 || el > 5*time.Second || res.Requests.Failed != 0 || res.StepEvents.Acked != res.StepEvents.Sent {
		t.Errorf("duration bound: %+v in %v", res, el)
	}
}

func TestValidate(t *testing.T) {
	ok := DefaultConfig()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"remote":      func(c *Config) { c.Target = "10.1.2.3:4317" },
		"remote-name": func(c *Config) { c.Target = "collector.example.com:4317" },
		"no-port":     func(c *Config) { c.Target = "127.0.0.1" },
		"unbounded":   func(c *Config) { c.Duration, c.Count = 0, 0 },
		"noise":       func(c *Config) { c.Noise = 1 },
		"fail":        func(c *Config) { c.Fail = 1.5 },
		"signal":      func(c *Config) { c.Signal = "metrics" },
		"concurrency": func(c *Config) { c.Concurrency = 0 },
		"steps":       func(c *Config) { c.StepsPerSpan = 0 },
		"batch":       func(c *Config) { c.SpansPerBatch = 0 },
		"wait":        func(c *Config) { c.StartupWait = -time.Second },
	} {
		c := DefaultConfig()
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, target := range []string{"localhost:4317", "[::1]:4317", "127.0.0.2:4317"} {
		c := DefaultConfig()
		c.Target = target
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", target, err)
		}
	}
	c := DefaultConfig()
	c.Target, c.AllowRemote = "10.1.2.3:4317", true
	if err := c.Validate(); err != nil {
		t.Errorf("allow-remote: %v", err)
	}
	if _, err := Run(context.Background(), Config{Target: "10.1.2.3:4317"}); err == nil || !strings.HasPrefix(err.Error(), "loadgen: ") {
		t.Errorf("Run with an invalid config: %v", err)
	}
}

func BenchmarkAppendRun(b *testing.B) {
	b.ReportAllocs()
	cfg := DefaultConfig()
	g := newGenerator(cfg, "bench", 1)
	bt := newBatch(cfg.ServiceName)
	pending := &pendingRoots{spans: bt.spans}
	var steps int64
	now := time.Now()
	for i := 0; b.Loop(); i++ {
		st := g.appendRun(bt, pending, int64(i), now)
		steps += st.spanSteps + st.logSteps
		if bt.spans.Len() >= cfg.SpansPerBatch {
			bt = newBatch(cfg.ServiceName)
			pending.spans = bt.spans
		}
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "events/s")
}

// deadAddr returns a loopback host:port where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// acceptAll is an OTLP/gRPC traces and logs server that acknowledges
// everything and counts the requests.
type acceptAll struct {
	ptraceotlp.UnimplementedGRPCServer
	requests atomic.Int64
}

func (a *acceptAll) Export(context.Context, ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	a.requests.Add(1)
	return ptraceotlp.NewExportResponse(), nil
}

type acceptLogs struct {
	plogotlp.UnimplementedGRPCServer
	a *acceptAll
}

func (l *acceptLogs) Export(context.Context, plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	l.a.requests.Add(1)
	return plogotlp.NewExportResponse(), nil
}

// serveOTLP serves acceptAll on ln until stop (or the end of t); unlike
// pipelinetest.Receiver it can go away in the middle of a test.
func serveOTLP(t *testing.T, ln net.Listener) (a *acceptAll, stop func()) {
	t.Helper()
	a = &acceptAll{}
	gs := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(gs, a)
	plogotlp.RegisterGRPCServer(gs, &acceptLogs{a: a})
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return a, gs.Stop
}

func TestRunNoCollector(t *testing.T) {
	addr := deadAddr(t)
	cfg := DefaultConfig() // 10s duration, as a user runs it
	cfg.Target = addr
	start := time.Now()
	res, err := Run(context.Background(), cfg)
	el := time.Since(start)
	if err == nil {
		t.Fatalf("no error after %v against a port without a listener: %+v", el, res)
	}
	if el > 4*time.Second {
		t.Errorf("took %v to give up (duration %v)", el, cfg.Duration)
	}
	want := "no collector at " + addr + ": connection refused"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	var nc *NoCollectorError
	if !errors.As(err, &nc) || nc.Target != addr || nc.MidRun {
		t.Errorf("error %#v is not a start-up NoCollectorError for %s", err, addr)
	}
	if res.Requests.Sent != 0 {
		t.Errorf("sent %d requests to nothing", res.Requests.Sent)
	}
}

func TestRunCollectorStartsLate(t *testing.T) {
	addr := deadAddr(t)
	go func() {
		time.Sleep(300 * time.Millisecond)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen again on %s: %v", addr, err)
			return
		}
		serveOTLP(t, ln)
	}()
	cfg := DefaultConfig()
	cfg.Target, cfg.Count, cfg.Duration = addr, 20, 20*time.Second
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Runs != 20 || res.Requests.Sent == 0 || res.Requests.Failed != 0 || res.Requests.Acked != res.Requests.Sent {
		t.Errorf("collector up after 300ms: %+v", res)
	}
}

func TestRunCollectorGoesAway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	srv, stop := serveOTLP(t, ln)
	go func() {
		for srv.requests.Load() < 5 {
			time.Sleep(time.Millisecond)
		}
		stop()
	}()
	cfg := DefaultConfig()
	cfg.Target, cfg.Rate = addr, 500
	start := time.Now()
	res, err := Run(context.Background(), cfg)
	el := time.Since(start)
	if err == nil || el > 5*time.Second {
		t.Fatalf("after the collector went away: error %v after %v (duration %v): %+v", err, el, cfg.Duration, res)
	}
	var nc *NoCollectorError
	if !errors.As(err, &nc) || nc.Target != addr || !nc.MidRun || !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q is not a mid-run NoCollectorError for %s", err, addr)
	}
	if res.Requests.Acked == 0 || res.Runs == 0 {
		t.Errorf("partial result = %+v", res)
	}
}
