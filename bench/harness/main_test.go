package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

	"github.com/runledger/runledger/pipeline/loadgen"
	"github.com/runledger/runledger/pipeline/pipelinetest"
)

// fakeCollectorEnv makes the test binary act as a tiny peer collector: OTLP
// traces over gRPC on RUNLEDGER_OTLP_GRPC, each request appended as an
// OTLP JSON line to RUNLEDGER_PEER_FILE, graceful exit on SIGTERM.
const fakeCollectorEnv = "RUNLEDGER_BENCH_FAKE_COLLECTOR"

func TestMain(m *testing.M) {
	if os.Getenv(fakeCollectorEnv) == "1" {
		os.Exit(fakeCollector())
	}
	os.Exit(m.Run())
}

type fakeTraces struct {
	ptraceotlp.UnimplementedGRPCServer
	mu sync.Mutex
	w  io.Writer
}

func (f *fakeTraces) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	var m ptrace.JSONMarshaler
	b, err := m.MarshalTraces(req.Traces())
	if err != nil {
		return ptraceotlp.NewExportResponse(), err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err = f.w.Write(append(b, '\n'))
	return ptraceotlp.NewExportResponse(), err
}

func fakeCollector() int {
	if want := os.Getenv("RUNLEDGER_FAKE_EXPECT"); want != "" && os.Getenv("RUNLEDGER_FAKE_MARK") != want {
		fmt.Fprintln(os.Stderr, "fake collector: RUNLEDGER_FAKE_MARK not passed")
		return 1
	}
	path := os.Getenv("RUNLEDGER_PEER_FILE")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	l, err := net.Listen("tcp", os.Getenv("RUNLEDGER_OTLP_GRPC"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, &fakeTraces{w: f})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() { <-sig; srv.GracefulStop() }()
	if err := srv.Serve(l); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "fake collector: stopped")
	if err := f.Close(); err != nil {
		return 1
	}
	return 0
}

// runTarget drives a real process through the whole cycle: start on free
// ports, wait, load, /proc sampling, SIGTERM, counting the output.
func TestRunTargetFakeCollector(t *testing.T) {
	t.Setenv(fakeCollectorEnv, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadgen.DefaultConfig()
	cfg.Count, cfg.Duration, cfg.Concurrency, cfg.RootOnlyRunID = 40, 0, 2, true
	work := t.TempDir()
	var logs bytes.Buffer
	opt := runOptions{
		workRoot: work, startTimeout: 20 * time.Second, stopTimeout: 20 * time.Second,
		sampleEvery: 10 * time.Millisecond, procRoot: "/proc",
		logf: func(format string, a ...any) { fmt.Fprintf(&logs, format+"\n", a...) },
	}
	// Variables for the collector reach its process, not the harness's.
	t.Setenv("RUNLEDGER_FAKE_EXPECT", "yes")
	spec := peerSpec(exe, "unused.yaml", nil)
	spec.vars = []string{"RUNLEDGER_FAKE_MARK=yes"}
	m, err := runTarget(context.Background(), spec, cfg, opt)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	if m.ExitError != "" {
		t.Errorf("exit error %q", m.ExitError)
	}
	if m.Load.Runs != 40 || m.Load.StepEvents.Acked == 0 || m.Output.StepEvents != m.Load.StepEvents.Acked {
		t.Errorf("load %+v, output %+v: want every acked step event in the file", m.Load, m.Output)
	}
	if m.PeakRSSBytes == 0 || m.CPUAtExit < m.CPUAtLoadStart {
		t.Errorf("peak RSS %d, cpu start %v exit %v", m.PeakRSSBytes, m.CPUAtLoadStart, m.CPUAtExit)
	}
	r := computeResult(targetPeer, m)
	if r.Lost != 0 || r.BytesPerEvent <= 0 {
		t.Errorf("result %+v", r)
	}
	// The working dir is removed afterwards.
	if left, _ := filepath.Glob(filepath.Join(work, "runledger-bench-*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// A collector that exits before listening is reported with its log.
func TestRunTargetCollectorFails(t *testing.T) {
	cfg := loadgen.DefaultConfig()
	cfg.Count, cfg.Duration = 1, 0
	opt := runOptions{
		workRoot: t.TempDir(), startTimeout: 20 * time.Second, stopTimeout: time.Second,
		sampleEvery: 10 * time.Millisecond, procRoot: "/proc", logf: func(string, ...any) {},
	}
	spec := peerSpec("/bin/sh", "-c", nil) // sh --config -c: fails at once
	_, err := runTarget(context.Background(), spec, cfg, opt)
	if err == nil || !strings.Contains(err.Error(), "exited before listening") {
		t.Errorf("err = %v", err)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	l := o.load
	if l.Duration != 60*time.Second || !l.RootOnlyRunID || l.Noise != 0.2 || l.StepsPerSpan != 5 || l.SpansPerBatch != 64 {
		t.Errorf("defaults = %+v", l)
	}
	if got := l.Rate * avgStepsPerRun(l); math.Abs(got-55000) > 1e-6 {
		t.Errorf("default rate = %v step events/s", got)
	}
	if got := runsInFlight(l); got < 9990 || got > 10010 {
		t.Errorf("runs in flight = %d (concurrency %d)", got, l.Concurrency)
	}

	// --concurrency given: the request size follows --runs-in-flight.
	o, err = parseFlags([]string{"--concurrency", "32", "--runs-in-flight", "3200", "--rate", "100", "--duration", "5s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.load.Concurrency != 32 || o.load.Rate != 100 || o.load.SpansPerBatch != int(math.Ceil(100*avgSpansPerRun(o.load))) {
		t.Errorf("load = %+v", o.load)
	}
	// Both given: they win.
	o, err = parseFlags([]string{"--concurrency", "4", "--spans-per-batch", "10", "--event-rate", "0", "--only", "peer"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.load.Concurrency != 4 || o.load.SpansPerBatch != 10 || o.load.Rate != 0 || o.only != "peer" {
		t.Errorf("load = %+v only %q", o.load, o.only)
	}

	for _, args := range [][]string{
		{"--only", "both"},
		{"--duration", "0"},
		{"--rate", "-1"},
		{"--runs-in-flight", "0"},
		{"--spans-per-batch", "0"},
		{"--noise", "1"},
		{"--ours-env", "GOMEMLIMIT"},
		{"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if o, err := parseFlags([]string{"--ours-env", "GOMEMLIMIT=170MiB", "--peer-env", "GOGC=200"}, io.Discard); err != nil ||
		len(o.oursEnv) != 1 || o.oursEnv[0] != "GOMEMLIMIT=170MiB" || len(o.peerEnv) != 1 {
		t.Errorf("env flags: %+v %v", o, err)
	}
	if os.Getenv("RUNLEDGER_FAKE_MARK") != "" {
		t.Error("a collector's variable leaked into the harness")
	}
	if code := run([]string{"--no-such-flag"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("exit %d for a bad flag", code)
	}
	if code := run([]string{"--ours", "/nonexistent/otelcol", "--only", "ours", "--no-save"}, io.Discard, io.Discard); code != 1 {
		t.Errorf("exit %d for a missing binary", code)
	}
}

func TestFileIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(path, []byte("abc"), 0o755); err != nil {
		t.Fatal(err)
	}
	sum, mod := fileIdentity(path)
	if sum != "ba7816bf8f01cfea" || mod == "" { // SHA-256("abc")
		t.Errorf("identity = %q %q", sum, mod)
	}
	if sum, mod := fileIdentity(filepath.Join(t.TempDir(), "missing")); sum != "" || mod != "" {
		t.Errorf("missing file: %q %q", sum, mod)
	}
}

// The averages the harness derives rates and request sizes from match
// what the load generator really sends.
func TestAveragesMatchLoadgen(t *testing.T) {
	rcv := pipelinetest.NewReceiver(t)
	for _, c := range []struct {
		fail, noise        float64
		stages, stepsPerSp int
	}{{0.1, 0.2, 5, 5}, {0.3, 0.5, 3, 2}, {0, 0, 1, 1}} {
		cfg := loadgen.DefaultConfig()
		cfg.Target, cfg.Count, cfg.Duration, cfg.Concurrency, cfg.RootOnlyRunID = rcv.GRPCAddr, 2000, 0, 1, true
		cfg.Fail, cfg.Noise, cfg.SpansPerRun, cfg.StepsPerSpan = c.fail, c.noise, c.stages, c.stepsPerSp
		res, err := loadgen.Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		steps := float64(res.StepEvents.Sent) / float64(res.Runs)
		spans := float64(res.Spans) / float64(res.Runs)
		if math.Abs(steps-avgStepsPerRun(cfg)) > 0.01*steps || math.Abs(spans-avgSpansPerRun(cfg)) > 0.01*spans {
			t.Errorf("%+v: loadgen sends %.3f steps and %.3f spans per run; harness assumes %.3f and %.3f",
				c, steps, spans, avgStepsPerRun(cfg), avgSpansPerRun(cfg))
		}
	}
}
