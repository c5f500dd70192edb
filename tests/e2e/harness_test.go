// Package e2e drives the built otelcol-runledger binary and the runledger CLI
// end to end: OTLP in over the network, ledgers on disk, reports over HTTP.
// `make test` builds both binaries and points RUNLEDGER_COLLECTOR and
// RUNLEDGER_CLI at them; without those variables the suite is skipped.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// collector is one running otelcol-runledger process.
type collector struct {
	t         *testing.T
	cmd       *exec.Cmd
	dir       string // working directory: data/ and out/ live here
	ledgerDir string
	otlpHTTP  string
	otlpGRPC  string
	reportAPI string
	health    string
	env       []string
	args      []string // extra command-line arguments, e.g. more --config
	logs      *bytes.Buffer
	exited    chan struct{}

	// prometheus serves the run metrics (runmetrics connector) on /metrics.
	prometheus string
}

func binaries(t *testing.T) (collectorBin, cliBin string) {
	t.Helper()
	collectorBin, cliBin = os.Getenv("RUNLEDGER_COLLECTOR"), os.Getenv("RUNLEDGER_CLI")
	if collectorBin == "" {
		t.Skip("RUNLEDGER_COLLECTOR not set: run the end-to-end suite with `make test`")
	}
	return collectorBin, cliBin
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startCollector runs the binary with the repo's config.yaml (or configPath)
// on free ports in a fresh working directory, and waits until it is healthy.
func startCollector(t *testing.T, configPath string, extraEnv ...string) *collector {
	t.Helper()
	return startCollectorArgs(t, configPath, nil, extraEnv...)
}

// startCollectorArgs is startCollector with extra command-line arguments.
func startCollectorArgs(t *testing.T, configPath string, args []string, extraEnv ...string) *collector {
	t.Helper()
	bin, _ := binaries(t)
	c := &collector{t: t, dir: t.TempDir(), args: args}
	c.ledgerDir = filepath.Join(c.dir, "data", "telemetry", "runs")
	c.otlpHTTP, c.otlpGRPC, c.reportAPI, c.health = freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	_, metricsPort, _ := net.SplitHostPort(freeAddr(t))
	c.prometheus = freeAddr(t)
	c.env = append([]string{
		"RUNLEDGER_OTLP_HTTP=" + c.otlpHTTP,
		"RUNLEDGER_OTLP_GRPC=" + c.otlpGRPC,
		"RUNLEDGER_REPORTAPI=" + c.reportAPI,
		"RUNLEDGER_HEALTH=" + c.health,
		"RUNLEDGER_METRICS_PORT=" + metricsPort,
		"RUNLEDGER_PROMETHEUS=" + c.prometheus,
	}, extraEnv...)
	if configPath == "" {
		configPath = filepath.Join(repoRoot(t), "config.yaml")
	}
	c.start(bin, configPath)
	return c
}

func (c *collector) start(bin, configPath string) {
	t := c.t
	c.logs = &bytes.Buffer{}
	c.exited = make(chan struct{})
	c.cmd = exec.Command(bin, append([]string{"--config", configPath}, c.args...)...)
	c.cmd.Dir = c.dir
	c.cmd.Env = append(os.Environ(), c.env...)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start collector: %v", err)
	}
	go func() { _ = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			t.Logf("collector output:\n%s", c.logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-c.exited:
			t.Fatalf("collector exited during start-up:\n%s", c.logs.String())
		default:
		}
		resp, err := http.Get("http://" + c.health + "/status")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("collector not healthy within 60s:\n%s", c.logs.String())
}

// stop ends the collector gracefully and waits for it.
func (c *collector) stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// kill ends the collector with SIGKILL, as a crash would.
func (c *collector) kill() {
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// alive reports whether the process is still running.
func (c *collector) alive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// sendTraces posts traces as OTLP/HTTP protobuf and returns the status code.
func (c *collector) sendTraces(td ptrace.Traces) int {
	c.t.Helper()
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		c.t.Fatal(err)
	}
	return c.post("/v1/traces", "application/x-protobuf", body)
}

// sendLogs posts logs as OTLP/HTTP protobuf and returns the status code.
func (c *collector) sendLogs(ld plog.Logs) int {
	c.t.Helper()
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		c.t.Fatal(err)
	}
	return c.post("/v1/logs", "application/x-protobuf", body)
}

func (c *collector) post(path, contentType string, body []byte) int {
	c.t.Helper()
	resp, err := http.Post("http://"+c.otlpHTTP+path, contentType, bytes.NewReader(body))
	if err != nil {
		c.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// get fetches a reportapi URL and returns status and body.
func (c *collector) get(path string, header ...string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+c.reportAPI+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// ledgerFiles lists every ledger file under the collector's ledger directory.
func (c *collector) ledgerFiles() []string {
	files, _ := filepath.Glob(filepath.Join(c.ledgerDir, "*", "*.jsonl"))
	return files
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// readLines returns the step lines of a ledger without their newlines:
// every line but span records (see readSpanRecords).
func readLines(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	for _, l := range readAllLines(t, path) {
		if !isSpanRecord(l) {
			out = append(out, l)
		}
	}
	return out
}

// readSpanRecords returns the span record lines of a ledger.
func readSpanRecords(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	for _, l := range readAllLines(t, path) {
		if isSpanRecord(l) {
			out = append(out, l)
		}
	}
	return out
}

// isSpanRecord reports whether a ledger line is a span record: "rec":"span"
// right after run_id, as the writer puts it.
func isSpanRecord(l string) bool {
	i := strings.Index(l, `","rec":"span",`)
	return i > 0 && strings.HasPrefix(l, `{"v":1,"run_id":"`) && !strings.Contains(l[:i], `","seq":`)
}

// readAllLines returns the lines of a file without their newlines.
func readAllLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// runCLI runs the built runledger CLI and returns stdout, stderr and the exit code.
func runCLI(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	_, cli := binaries(t)
	if cli == "" {
		t.Skip("RUNLEDGER_CLI not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func itoa(i int) string { return strconv.Itoa(i) }

var _ = fmt.Sprintf

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
