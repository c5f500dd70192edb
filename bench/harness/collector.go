package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/runledger/runledger/pipeline/loadgen"
)

// targetSpec says how to start one collector and where it writes.
type targetSpec struct {
	name   string
	binary string
	config string
	// sets are extra --set values for the collector.
	sets []string
	// vars are extra KEY=VALUE environment variables for the collector
	// process only (say GOMEMLIMIT), not the harness and its load.
	vars []string
	// env returns the environment overrides for a working dir and ports;
	// grpc is the OTLP/gRPC address the load goes to.
	env func(work string, ports []int) (vars []string, grpc string)
	// ports is how many free loopback ports env needs.
	ports int
	// outputDir is the folder below work whose files are counted.
	outputDir string
	// count counts the output folder.
	count func(dir string) (Output, error)
}

func oursSpec(binary, config string, sets []string) targetSpec {
	return targetSpec{
		name: targetOurs, binary: binary, config: config, sets: sets, ports: 6,
		env: func(work string, p []int) ([]string, string) {
			grpc := fmt.Sprintf("127.0.0.1:%d", p[0])
			return []string{
				"RUNLEDGER_OTLP_GRPC=" + grpc,
				fmt.Sprintf("RUNLEDGER_OTLP_HTTP=127.0.0.1:%d", p[1]),
				fmt.Sprintf("RUNLEDGER_REPORTAPI=127.0.0.1:%d", p[2]),
				fmt.Sprintf("RUNLEDGER_HEALTH=127.0.0.1:%d", p[3]),
				fmt.Sprintf("RUNLEDGER_METRICS_PORT=%d", p[4]),
				fmt.Sprintf("RUNLEDGER_PROMETHEUS=127.0.0.1:%d", p[5]),
				"RUNLEDGER_LEDGER_DIR=" + filepath.Join(work, "ledgers"),
				"RUNLEDGER_HOLD_DIR=" + filepath.Join(work, "hold"),
				"RUNLEDGER_REPORTS_DIR=" + filepath.Join(work, "reports"),
			}, grpc
		},
		outputDir: "ledgers",
		count:     countLedgers,
	}
}

func peerSpec(binary, config string, sets []string) targetSpec {
	return targetSpec{
		name: targetPeer, binary: binary, config: config, sets: sets, ports: 2,
		env: func(work string, p []int) ([]string, string) {
			grpc := fmt.Sprintf("127.0.0.1:%d", p[0])
			return []string{
				"RUNLEDGER_OTLP_GRPC=" + grpc,
				fmt.Sprintf("RUNLEDGER_METRICS_PORT=%d", p[1]),
				"RUNLEDGER_PEER_FILE=" + filepath.Join(work, "peer-out", "traces.json"),
			}, grpc
		},
		outputDir: "peer-out",
		count:     countPeerOutput,
	}
}

// freePorts returns n distinct free TCP ports on 127.0.0.1 (free when
// probed; held together so they are distinct).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// runOptions are the harness settings that apply to every target.
type runOptions struct {
	workRoot      string
	keep          bool
	startTimeout  time.Duration
	stopTimeout   time.Duration
	sampleEvery   time.Duration
	procRoot      string
	logf          func(format string, args ...any)
	syncAfterEach bool
}

// runTarget starts the collector of spec in a new working dir, waits for
// its OTLP port, runs the load against it while sampling /proc, stops it
// with SIGTERM and counts what it wrote.
func runTarget(ctx context.Context, spec targetSpec, load loadgen.Config, opt runOptions) (Measurement, error) {
	var m Measurement
	work, err := os.MkdirTemp(opt.workRoot, "runledger-bench-"+spec.name+"-")
	if err != nil {
		return m, fmt.Errorf("%s: working dir: %w", spec.name, err)
	}
	if !opt.keep {
		defer func() {
			t := time.Now()
			if err := os.RemoveAll(work); err != nil {
				opt.logf("%s: remove %s: %v", spec.name, work, err)
			}
			opt.logf("%s: removed the working dir in %.1fs", spec.name, time.Since(t).Seconds())
		}()
	} else {
		opt.logf("%s: keeping %s", spec.name, work)
	}
	ports, err := freePorts(spec.ports)
	if err != nil {
		return m, fmt.Errorf("%s: %w", spec.name, err)
	}
	vars, grpcAddr := spec.env(work, ports)
	logPath := filepath.Join(work, "collector.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return m, fmt.Errorf("%s: %w", spec.name, err)
	}
	defer logFile.Close()

	args := []string{"--config", spec.config}
	for _, v := range spec.sets {
		args = append(args, "--set="+v)
	}
	cmd := exec.Command(spec.binary, args...)
	cmd.Dir = work
	cmd.Env = append(append(os.Environ(), vars...), spec.vars...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return m, fmt.Errorf("%s: start %s: %w", spec.name, spec.binary, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waited := false // exited was received from: the process is gone
	defer func() {
		if !waited {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	if err := waitListening(ctx, grpcAddr, opt.startTimeout, exited); err != nil {
		waited = errors.Is(err, errExited)
		return m, fmt.Errorf("%s: %w\n%s", spec.name, err, tail(logPath, 20))
	}
	m.StartupSeconds = time.Since(t0).Seconds()
	opt.logf("%s: %s listening on %s after %.1fs (pid %d)", spec.name, filepath.Base(spec.binary), grpcAddr, m.StartupSeconds, cmd.Process.Pid)

	smp := &sampler{procRoot: opt.procRoot, pid: cmd.Process.Pid}
	if !smp.sample() {
		return m, fmt.Errorf("%s: read /proc of pid %d: %v", spec.name, cmd.Process.Pid, smp.err)
	}
	m.CPUAtLoadStart = smp.last.CPUSeconds()
	split0, splitErr := readCPUSplit(opt.procRoot, cmd.Process.Pid)
	stop, done := make(chan struct{}), make(chan struct{})
	go smp.run(opt.sampleEvery, stop, done)

	load.Target = grpcAddr
	res, err := loadgen.Run(ctx, load)
	if split1, err := readCPUSplit(opt.procRoot, cmd.Process.Pid); err == nil && splitErr == nil {
		m.LoadGenCPU, m.OtherCPU = split0.selfSeconds(split1), split0.others(split1)
	}
	close(stop)
	<-done
	if err != nil {
		return m, fmt.Errorf("%s: load: %w", spec.name, err)
	}
	m.Load = res
	m.CPUAtLoadEnd = smp.last.CPUSeconds()
	m.WriteCallBytes = smp.last.WriteCallBytes
	opt.logf("%s: load done: %d step events acked in %.1fs (%.0f/s), %d requests failed",
		spec.name, res.StepEvents.Acked, res.ElapsedSeconds, res.EventsPerSecond, res.Requests.Failed)

	// Graceful stop; keep sampling memory while it drains.
	tStop := time.Now()
	select {
	case err := <-exited: // died during the load
		waited = true
		m.ExitError = fmt.Sprintf("exited during the load: %v", err)
	default:
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			return m, fmt.Errorf("%s: SIGTERM: %w", spec.name, err)
		}
		drainStop, drainDone := make(chan struct{}), make(chan struct{})
		go smp.run(opt.sampleEvery, drainStop, drainDone)
		select {
		case err := <-exited:
			if err != nil {
				m.ExitError = err.Error()
			}
		case <-time.After(opt.stopTimeout):
			_ = cmd.Process.Kill()
			<-exited
			m.ExitError = fmt.Sprintf("no exit %v after SIGTERM; killed", opt.stopTimeout)
		}
		waited = true
		close(drainStop)
		<-drainDone
		m.ShutdownSeconds = time.Since(tStop).Seconds()
	}
	m.PeakRSSBytes = smp.peakRSS
	if st := cmd.ProcessState; st != nil {
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			if m.ExitError == "" {
				m.CPUAtExit = tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
			}
			m.PeakRSSBytes = max(m.PeakRSSBytes, uint64(ru.Maxrss)*1024) // Linux: KiB
		}
	}
	if m.ExitError != "" {
		m.CollectorLog = keepLog(logPath, opt.workRoot, spec.name, cmd.Process.Pid)
		opt.logf("%s: %s (log kept in %s)\n%s", spec.name, m.ExitError, m.CollectorLog, tail(logPath, 20))
	}

	opt.logf("%s: stopped in %.1fs", spec.name, m.ShutdownSeconds)
	tCount := time.Now()
	if m.Output, err = spec.count(filepath.Join(work, spec.outputDir)); err != nil {
		return m, fmt.Errorf("%s: count output: %w", spec.name, err)
	}
	opt.logf("%s: output: %d files, %d bytes, %d step events (counted in %.1fs)",
		spec.name, m.Output.Files, m.Output.Bytes, m.Output.StepEvents, time.Since(tCount).Seconds())
	if opt.syncAfterEach {
		// Push this target's dirty pages to disk now rather than during the
		// next target's run.
		syscall.Sync()
	}
	return m, nil
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// errExited is returned by waitListening when the collector exited.
var errExited = errors.New("collector exited before listening")

// waitListening dials addr until it accepts, the process exits (the error
// then wraps errExited) or the timeout passes.
func waitListening(ctx context.Context, addr string, timeout time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting after %v: %w", addr, timeout, err)
		}
		select {
		case werr := <-exited:
			if werr == nil {
				werr = errors.New("exit status 0")
			}
			return fmt.Errorf("%w: %w", errExited, werr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// keepLog copies the collector log out of the working dir (which is
// removed) so that an unclean exit can be investigated; it returns the copy's
// path, or the original path when copying failed.
func keepLog(logPath, workRoot, name string, pid int) string {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return logPath
	}
	if workRoot == "" {
		workRoot = os.TempDir()
	}
	dst := filepath.Join(workRoot, fmt.Sprintf("runledger-bench-%s-%d.log", name, pid))
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return logPath
	}
	return dst
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
