// Command harness is the end-to-end benchmark of runledger (make bench-e2e):
// it runs the same OTLP load (pipeline/loadgen) against the otelcol-runledger
// distribution and then against a peer distribution (otlp -> batch ->
// contrib file exporter writing OTLP JSON), one after the other, each on
// free loopback ports in its own temporary directory, and reports for each
// the acknowledged step events/s, loss (acknowledged vs stored), CPU seconds
// per million step events and peak RSS (from /proc of the collector), bytes
// written per step event and the ratio ours/peer. It prints a Markdown table
// and writes results-<timestamp>.json and .md to the results folder.
//
// See docs/benchmarks.md for what each figure means.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/runledger/runledger/pipeline/loadgen"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command-line settings.
type options struct {
	load         loadgen.Config
	runsInFlight int
	only         string
	ours, peer   string
	oursConfig   string
	peerConfig   string
	resultsDir   string
	workDir      string
	keep         bool
	noSave       bool
	startTimeout time.Duration
	stopTimeout  time.Duration
	sampleEvery  time.Duration
	pause        time.Duration
	eventRate    float64
	oursSet      setFlags
	peerSet      setFlags
	oursEnv      envFlags
	peerEnv      envFlags
}

// setFlags is a repeatable string flag.
type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, " ") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

// envFlags collects repeatable KEY=VALUE flags.
type envFlags []string

func (e *envFlags) String() string { return strings.Join(*e, " ") }
func (e *envFlags) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	*e = append(*e, v)
	return nil
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{load: loadgen.DefaultConfig()}
	o.load.Duration = 60 * time.Second
	o.load.Concurrency = 0
	o.load.RootOnlyRunID = true
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.load.Duration, "duration", o.load.Duration, "load duration per target")
	fs.Float64Var(&o.load.Rate, "rate", 0, "runs per second over all workers, as runledger-load --rate; overrides --event-rate")
	fs.Float64Var(&o.eventRate, "event-rate", 55000, "step events per second offered, converted to runs/s (10% above the 50,000/s target: the measured rate includes the final flush); 0 (with --rate 0) is closed loop: each worker sends as fast as the collector acknowledges")
	fs.IntVar(&o.runsInFlight, "runs-in-flight", 10000, "distinct runs open at once: runs whose child spans were sent and whose root span (the only one with run.id) was not; each worker keeps one request's worth of runs open, so this sets --concurrency (or, when --concurrency is given, --spans-per-batch)")
	fs.IntVar(&o.load.Concurrency, "concurrency", 0, "load workers, each sending one request at a time (default: derived from --runs-in-flight and --spans-per-batch)")
	fs.IntVar(&o.load.SpansPerBatch, "spans-per-batch", 64, "spans per export request")
	fs.IntVar(&o.load.StepsPerSpan, "steps-per-span", o.load.StepsPerSpan, "step events per stage span")
	fs.IntVar(&o.load.SpansPerRun, "spans-per-run", o.load.SpansPerRun, "stage spans per run")
	fs.Float64Var(&o.load.Noise, "noise", o.load.Noise, "fraction of spans without step events")
	fs.Float64Var(&o.load.Fail, "fail", o.load.Fail, "fraction of failing runs")
	fs.BoolVar(&o.load.RootOnlyRunID, "root-only-run-id", o.load.RootOnlyRunID, "run.id only on root spans, sent after their children")
	fs.StringVar(&o.only, "only", "", "run only one target: ours or peer")
	fs.StringVar(&o.ours, "ours", "_build/otelcol-runledger", "otelcol-runledger binary")
	fs.StringVar(&o.peer, "peer", "bench/peer/_build/otelcol-peer", "peer collector binary")
	fs.StringVar(&o.oursConfig, "ours-config", "config.yaml", "configuration of ours")
	fs.StringVar(&o.peerConfig, "peer-config", "bench/peer/config.yaml", "configuration of the peer")
	fs.Var(&o.oursSet, "ours-set", "extra --set=<value> for ours, e.g. processors::steproute::resolve_wait=10s (repeatable)")
	fs.Var(&o.peerSet, "peer-set", "extra --set=<value> for the peer (repeatable)")
	fs.Var(&o.oursEnv, "ours-env", "KEY=VALUE environment variable for ours' process only, e.g. GOMEMLIMIT=170MiB (repeatable)")
	fs.Var(&o.peerEnv, "peer-env", "KEY=VALUE environment variable for the peer's process only (repeatable)")
	fs.StringVar(&o.resultsDir, "results", "bench/results", "folder for results-<timestamp>.json and .md")
	fs.BoolVar(&o.noSave, "no-save", false, "print the table only, write no result files")
	fs.StringVar(&o.workDir, "workdir", "", "parent of the collectors' temporary working dirs (default: the system temp dir)")
	fs.BoolVar(&o.keep, "keep", false, "keep the working dirs (ledgers, peer output, collector logs)")
	fs.DurationVar(&o.startTimeout, "start-timeout", 60*time.Second, "how long to wait for a collector's OTLP port")
	fs.DurationVar(&o.stopTimeout, "stop-timeout", 120*time.Second, "how long to wait for a collector to exit after SIGTERM")
	fs.DurationVar(&o.sampleEvery, "sample-every", 250*time.Millisecond, "/proc sampling interval")
	fs.DurationVar(&o.pause, "pause", 3*time.Second, "pause between targets")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch o.only {
	case "", targetOurs, targetPeer:
	default:
		return o, fmt.Errorf("--only %q: want ours or peer", o.only)
	}
	switch {
	case o.load.Duration <= 0:
		return o, errors.New("--duration must be positive")
	case o.load.Rate < 0 || o.eventRate < 0:
		return o, errors.New("--rate and --event-rate must not be negative")
	case o.load.Concurrency < 0:
		return o, errors.New("--concurrency must not be negative")
	case o.load.SpansPerBatch < 1:
		return o, errors.New("--spans-per-batch must be at least 1")
	case o.load.Concurrency == 0 && o.runsInFlight < 1:
		return o, errors.New("--runs-in-flight must be at least 1 (or give --concurrency)")
	}
	if o.load.Rate == 0 && o.eventRate > 0 {
		o.load.Rate = o.eventRate / avgStepsPerRun(o.load)
	}
	avg := avgSpansPerRun(o.load)
	switch {
	case o.load.Concurrency == 0:
		o.load.Concurrency = max(1, int(math.Ceil(float64(o.runsInFlight)*avg/float64(o.load.SpansPerBatch))))
	case !set["spans-per-batch"] && o.runsInFlight > 0:
		o.load.SpansPerBatch = max(1, int(math.Ceil(float64(o.runsInFlight)/float64(o.load.Concurrency)*avg)))
	}
	o.load.Target = "127.0.0.1:1" // replaced per target; valid for Validate
	if err := o.load.Validate(); err != nil {
		return o, err
	}
	return o, nil
}

// runsInFlight is the number of runs open at once under cfg: each worker
// sends a run's children in one request and its root in the next, so about
// one request's worth of runs per worker is open at any time.
func runsInFlight(cfg loadgen.Config) int {
	return int(math.Round(float64(cfg.SpansPerBatch*cfg.Concurrency) / avgSpansPerRun(cfg)))
}

// avgSample is how many runs avgSpansPerRun and avgStepsPerRun average.
const avgSample = 10000

// loadFailing mirrors loadgen's choice of failing runs: exactly
// floor(n*fail) of the first n runs fail, spread evenly; a failing run i
// stops at stage i mod SpansPerRun. TestAveragesMatchLoadgen keeps the two
// in step.
func loadFailing(i int64, fail float64) bool {
	return int64(float64(i+1)*fail) > int64(float64(i)*fail)
}

// avgSpansPerRun is the mean number of spans (stage, noise and root) of a
// run under cfg; noise spans make up cfg.Noise of all spans.
func avgSpansPerRun(cfg loadgen.Config) float64 {
	var sum float64
	for i := int64(0); i < avgSample; i++ {
		stages := cfg.SpansPerRun
		if loadFailing(i, cfg.Fail) {
			stages = int(i%int64(cfg.SpansPerRun)) + 1
		}
		sum += float64(stages + 1)
	}
	return sum / avgSample / (1 - cfg.Noise)
}

// avgStepsPerRun is the mean number of step events of a run under cfg.
func avgStepsPerRun(cfg loadgen.Config) float64 {
	var sum float64
	for i := int64(0); i < avgSample; i++ {
		failAt := -1
		if loadFailing(i, cfg.Fail) {
			failAt = int(i % int64(cfg.SpansPerRun))
		}
		sum += float64(cfg.StepsPerRun(failAt))
	}
	return sum / avgSample
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "harness:", err)
		return 2
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "%s harness: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}

	var specs []targetSpec
	if o.only != targetPeer {
		s := oursSpec(mustAbs(o.ours), mustAbs(o.oursConfig), o.oursSet)
		s.vars = o.oursEnv
		specs = append(specs, s)
	}
	if o.only != targetOurs {
		s := peerSpec(mustAbs(o.peer), mustAbs(o.peerConfig), o.peerSet)
		s.vars = o.peerEnv
		specs = append(specs, s)
	}
	for _, s := range specs {
		for _, f := range []string{s.binary, s.config} {
			if _, err := os.Stat(f); err != nil {
				fmt.Fprintf(stderr, "harness: %s: %v\n", s.name, err)
				return 1
			}
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	started := time.Now().UTC()
	rep := &Report{
		Started: started.Format(time.RFC3339),
		Host:    Host{CPUs: runtime.NumCPU(), CPUModel: readCPUModel("/proc"), Kernel: readKernel(), GoVersion: runtime.Version()},
		Load: LoadSettings{
			DurationSeconds: o.load.Duration.Seconds(), Rate: o.load.Rate, EventRate: o.load.Rate * avgStepsPerRun(o.load),
			Concurrency:   o.load.Concurrency,
			RunsInFlight:  runsInFlight(o.load),
			SpansPerBatch: o.load.SpansPerBatch, StepsPerSpan: o.load.StepsPerSpan, SpansPerRun: o.load.SpansPerRun,
			Noise: o.load.Noise, Fail: o.load.Fail, RootOnlyRunID: o.load.RootOnlyRunID, Signal: string(o.load.Signal),
		},
	}
	ropt := runOptions{
		workRoot: o.workDir, keep: o.keep, startTimeout: o.startTimeout, stopTimeout: o.stopTimeout,
		sampleEvery: o.sampleEvery, procRoot: "/proc", logf: logf, syncAfterEach: true,
	}
	logf("load: %v per target, %d workers, %d spans per request (~%d runs in flight), %s",
		o.load.Duration, o.load.Concurrency, o.load.SpansPerBatch, rep.Load.RunsInFlight, rateText(o.load))
	for i, s := range specs {
		if i > 0 {
			select {
			case <-time.After(o.pause):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "harness: interrupted")
			return 1
		}
		loadAvg := readLoadAvg("/proc")
		logf("%s: load average before: %s", s.name, loadAvg)
		m, err := runTarget(ctx, s, o.load, ropt)
		if err != nil {
			fmt.Fprintln(stderr, "harness:", err)
			return 1
		}
		r := computeResult(s.name, m)
		r.Binary, r.Config, r.Sets, r.Env, r.LoadAvgBefore = relPath(s.binary), relPath(s.config), s.sets, s.vars, loadAvg
		r.BinarySHA256, r.BinaryModified = fileIdentity(s.binary)
		rep.Results = append(rep.Results, r)
	}
	if la := readLoadAvg("/proc"); la != "" {
		rep.Notes = append(rep.Notes, "load average after the run (1/5/15 min): "+la+"; it counts threads blocked in disk I/O too (a collector busy with file I/O raises it), so judge the noise by \"other processes' cores\"")
	}
	rep.finish()

	if err := rep.writeMarkdown(stdout); err != nil {
		fmt.Fprintln(stderr, "harness:", err)
		return 1
	}
	if !o.noSave {
		base := filepath.Join(o.resultsDir, "results-"+started.Format("20060102T150405Z"))
		if err := saveReport(rep, base); err != nil {
			fmt.Fprintln(stderr, "harness:", err)
			return 1
		}
		logf("wrote %s.json and %s.md", base, base)
	}
	return 0
}

// saveReport writes base+".json" and base+".md".
func saveReport(rep *Report, base string) error {
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return err
	}
	for ext, write := range map[string]func(io.Writer) error{".json": rep.writeJSON, ".md": rep.writeMarkdown} {
		f, err := os.Create(base + ext)
		if err != nil {
			return err
		}
		if err := write(f); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", base+ext, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func rateText(cfg loadgen.Config) string {
	if cfg.Rate <= 0 {
		return "closed loop"
	}
	return fmt.Sprintf("%.0f runs/s (~%.0f step events/s)", cfg.Rate, cfg.Rate*avgStepsPerRun(cfg))
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// relPath shows p relative to the working directory when it is below it.
func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// fileIdentity returns the first 16 hex digits of the file's SHA-256 and
// its modification time (RFC 3339, UTC); empty strings when unreadable.
func fileIdentity(path string) (sum, modified string) {
	f, err := os.Open(path)
	if err != nil {
		return "", ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", ""
	}
	if st, err := f.Stat(); err == nil {
		modified = st.ModTime().UTC().Format(time.RFC3339)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], modified
}

func readKernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
