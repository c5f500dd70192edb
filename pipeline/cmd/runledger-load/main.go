// Command runledger-load sends runledger load over OTLP/gRPC to a
// collector: runs of a simulated retrieval service with step events as span
// events, log records, or both, at a fixed rate or closed-loop, bounded in
// time and count. It prints sent/acked/failed requests, step events and
// events/s at the end (JSON with --json).
//
// When nothing listens at --target it retries for --startup-wait, then
// exits 1 with "no collector at <target>" without sending anything. When
// the collector goes away during the load, it stops at the first refused
// connection, prints the counts so far and exits 1.
//
// Exit status: 0 when every request was acknowledged, 1 when a request
// failed or the load could not run, 2 for usage errors.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/runledger/runledger/pipeline/loadgen"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg := loadgen.DefaultConfig()
	fs := flag.NewFlagSet("runledger-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Target, "target", cfg.Target, "collector OTLP gRPC host:port")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a target that is not a loopback address")
	fs.Float64Var(&cfg.Rate, "rate", 0, "runs per second (0 = closed loop, as fast as acknowledged)")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "workers sending in parallel")
	fs.IntVar(&cfg.StepsPerSpan, "steps-per-span", cfg.StepsPerSpan, "step events per stage span")
	fs.IntVar(&cfg.SpansPerRun, "spans-per-run", cfg.SpansPerRun, "stage spans per run")
	fs.IntVar(&cfg.SpansPerBatch, "spans-per-batch", cfg.SpansPerBatch, "spans per export request")
	fs.Float64Var(&cfg.Noise, "noise", cfg.Noise, "fraction of spans without step events, in [0,1)")
	fs.Float64Var(&cfg.Fail, "fail", cfg.Fail, "fraction of failing runs, in [0,1]")
	fs.BoolVar(&cfg.RootOnlyRunID, "root-only-run-id", false, "put run.id only on root spans, sent in a later request than their children")
	signalName := fs.String("signal", string(cfg.Signal), "how step events are sent: traces, logs or mixed")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "stop after this long (0 = no time bound)")
	fs.Int64Var(&cfg.Count, "count", 0, "stop after this many runs (0 = no count bound)")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "timeout of each export request")
	fs.DurationVar(&cfg.StartupWait, "startup-wait", cfg.StartupWait, "how long to retry connecting to the target at start-up before giving up")
	fs.StringVar(&cfg.ServiceName, "service-name", cfg.ServiceName, "resource service.name")
	fs.StringVar(&cfg.RunIDPrefix, "run-id-prefix", "", "run id prefix, ids are <prefix>-<n> (default: load-<new sortable id>)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "runledger-load: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg.Signal = loadgen.Signal(*signalName)
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "runledger-load:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.Run(ctx, cfg)
	var gone *loadgen.NoCollectorError
	if errors.As(err, &gone) {
		// The collector went away mid-run: what was sent before still
		// counts. Its message already names the target, so it goes out
		// without the loadgen prefix.
		if gone.MidRun {
			_ = writeResult(stdout, res, *asJSON)
		}
		fmt.Fprintln(stderr, "runledger-load:", gone)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "runledger-load:", err)
		return 1
	}
	if err := writeResult(stdout, res, *asJSON); err != nil {
		fmt.Fprintln(stderr, "runledger-load:", err)
		return 1
	}
	if res.Requests.Failed > 0 {
		return 1
	}
	return 0
}

const usage = `Usage: runledger-load [flags]

Sends runs of a simulated retrieval service over OTLP/gRPC to a collector
and prints requests sent/acked/failed, step events and events/s.

If nothing listens at --target, it retries for --startup-wait, then exits 1
with "no collector at <target>" without sending anything. If the collector
goes away during the load, it stops at the first refused connection, prints
the counts so far and exits 1.

Exit status: 0 when every request was acknowledged, 1 when a request failed
or the load could not run, 2 for usage errors.

Flags:
`

func writeResult(w io.Writer, res loadgen.Result, asJSON bool) error {
	if !asJSON {
		return res.WriteText(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}
