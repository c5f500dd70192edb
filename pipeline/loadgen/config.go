// Package loadgen generates runledger load: runs of a simulated retrieval
// service as OTLP traces (step events as span events) and/or logs (step
// events as log records), sent over gRPC with the collector's pdata client,
// at a fixed rate or closed-loop, bounded in time and count.
//
// A run is one trace: a root span (run.start and run.end steps, plus a
// retrieval.error step when the run fails) with SpansPerRun stage spans
// (StepsPerSpan steps each) and noise spans without steps. A failing run
// stops at one stage, whose last step is "<stage>.error" (status failed,
// with an error code), followed by retrieval.error and a failed run.end.
package loadgen

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Signal selects how step events are sent.
type Signal string

const (
	// SignalTraces sends step events as span events.
	SignalTraces Signal = "traces"
	// SignalLogs sends step events as log records correlated with the spans
	// (the spans are sent too, without events, as an SDK in log-events mode
	// does).
	SignalLogs Signal = "logs"
	// SignalMixed alternates per stage span: even stages as span events,
	// odd stages as log records; the root span's steps are span events.
	SignalMixed Signal = "mixed"
)

// Config configures a load run. Use DefaultConfig and change what you need.
type Config struct {
	// Target is the collector's OTLP gRPC host:port.
	Target string
	// AllowRemote permits a Target that is not a loopback address.
	AllowRemote bool
	// Rate is runs per second over all workers; 0 means closed loop (as
	// fast as the collector acknowledges).
	Rate float64
	// Concurrency is the number of workers, each with its own batches.
	Concurrency int
	// StepsPerSpan is the number of step events on each stage span.
	StepsPerSpan int
	// SpansPerRun is the number of stage spans of a run (they cycle
	// through embed.vllm, ann.faiss.search, hydrate.duckdb, git.blame,
	// retrieval.hybrid).
	SpansPerRun int
	// SpansPerBatch is the number of spans per traces request (log
	// records of the same spans go in one logs request).
	SpansPerBatch int
	// Noise is the fraction of all spans that carry no step events, in [0,1).
	Noise float64
	// Fail is the fraction of runs that fail, in [0,1].
	Fail float64
	// RootOnlyRunID puts run.id only on root spans (not on children or
	// events) and sends each root span in a later request than its
	// children, as plain SDKs do; the collector then has to resolve the run
	// id by trace.
	RootOnlyRunID bool
	// Signal is traces, logs or mixed.
	Signal Signal
	// Duration bounds the load in time (0 = no time bound).
	Duration time.Duration
	// Count bounds the number of runs (0 = no count bound). At least one
	// of Duration and Count must be set.
	Count int64
	// Timeout bounds each export request.
	Timeout time.Duration
	// StartupWait is how long Run keeps trying to connect to Target before
	// it gives up with a NoCollectorError (the collector may be starting
	// at the same time); 0 means one attempt.
	StartupWait time.Duration
	// ServiceName is the resource's service.name.
	ServiceName string
	// RunIDPrefix prefixes the run ids (<prefix>-<n>); empty means a new
	// time-ordered id per load run, so repeated loads do not collide.
	RunIDPrefix string
}

// DefaultConfig returns the defaults of runledger-load.
func DefaultConfig() Config {
	return Config{
		Target:        "127.0.0.1:4317",
		Concurrency:   4,
		StepsPerSpan:  5,
		SpansPerRun:   5,
		SpansPerBatch: 64,
		Noise:         0.2,
		Fail:          0.1,
		Signal:        SignalTraces,
		Duration:      10 * time.Second,
		Timeout:       10 * time.Second,
		StartupWait:   1500 * time.Millisecond,
		ServiceName:   "runledger-load",
	}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.Target == "":
		return errors.New("target is empty")
	case c.Rate < 0:
		return fmt.Errorf("rate %v < 0", c.Rate)
	case c.Concurrency < 1:
		return fmt.Errorf("concurrency %d < 1", c.Concurrency)
	case c.StepsPerSpan < 1:
		return fmt.Errorf("steps-per-span %d < 1", c.StepsPerSpan)
	case c.SpansPerRun < 1:
		return fmt.Errorf("spans-per-run %d < 1", c.SpansPerRun)
	case c.SpansPerBatch < 1:
		return fmt.Errorf("spans-per-batch %d < 1", c.SpansPerBatch)
	case c.Noise < 0 || c.Noise >= 1:
		return fmt.Errorf("noise %v not in [0,1)", c.Noise)
	case c.Fail < 0 || c.Fail > 1:
		return fmt.Errorf("fail %v not in [0,1]", c.Fail)
	case c.Duration < 0 || c.Count < 0:
		return errors.New("duration and count must not be negative")
	case c.Duration == 0 && c.Count == 0:
		return errors.New("unbounded load: set a duration or a count")
	case c.Timeout <= 0:
		return fmt.Errorf("timeout %v <= 0", c.Timeout)
	case c.StartupWait < 0:
		return fmt.Errorf("startup-wait %v < 0", c.StartupWait)
	}
	switch c.Signal {
	case SignalTraces, SignalLogs, SignalMixed:
	default:
		return fmt.Errorf("signal %q: want traces, logs or mixed", c.Signal)
	}
	if !c.AllowRemote {
		if err := checkLoopback(c.Target); err != nil {
			return err
		}
	}
	return nil
}

// checkLoopback accepts host:port targets whose host is localhost or a
// loopback IP.
func checkLoopback(target string) error {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return fmt.Errorf("target %q: want host:port: %w", target, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("target %q is not a loopback address; pass --allow-remote to send load elsewhere", target)
}
