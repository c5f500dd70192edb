package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseSample reads `name{k="v",...} value [timestamp]`; ok is false for
// comments, blank lines and lines it cannot read.
func parseSample(line string) (sample, bool) {
	if line == "" || line[0] == '#' {
		return sample{}, false
	}
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return sample{}, false
	}
	s.name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for len(line) > 0 && line[0] != '}' {
			eq := strings.Index(line, `="`)
			if eq < 0 {
				return sample{}, false
			}
			key := line[:eq]
			line = line[eq+2:]
			var val strings.Builder
			for len(line) > 0 && line[0] != '"' {
				if line[0] == '\\' && len(line) > 1 {
					switch line[1] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(line[1])
					}
					line = line[2:]
					continue
				}
				val.WriteByte(line[0])
				line = line[1:]
			}
			if len(line) == 0 {
				return sample{}, false
			}
			s.labels[key] = val.String()
			line = strings.TrimPrefix(line[1:], ",")
		}
		if len(line) == 0 {
			return sample{}, false
		}
		line = line[1:]
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return sample{}, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return sample{}, false
	}
	s.value = v
	return s, true
}

// scrape fetches the collector's Prometheus endpoint.
func (c *collector) scrape() []sample {
	c.t.Helper()
	resp, err := http.Get("http://" + c.prometheus + "/metrics")
	if err != nil {
		c.t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("scrape: HTTP %d: %s", resp.StatusCode, b)
	}
	var out []sample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		if s, ok := parseSample(sc.Text()); ok {
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		c.t.Fatalf("scrape: %v", err)
	}
	return out
}

// total sums the samples called name whose labels include want.
func total(samples []sample, name string, want map[string]string) float64 {
	var sum float64
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		sum += s.value
	}
	return sum
}

// Runs sent over OTLP (span events whose run id comes late, on the root
// span, and log records) show on the Prometheus endpoint as run outcomes
// under the stop reason their reports give, with step counts and
// durations.
func TestRunMetricsOnPrometheusEndpoint(t *testing.T) {
	c := startCollector(t, "", "RUNLEDGER_RUN_METRICS_FLUSH=200ms")
	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	const failRun, okRun, timeoutRun = "e2e-metrics-fail", "e2e-metrics-ok", "e2e-metrics-timeout"

	// The failed run: the children carry no run id and wait in
	// steproute's hold until the root span brings it.
	tid := traceID(41)
	children := traces("retriever", span{name: "faiss.search", traceID: tid, spanID: spanID(2), parent: spanID(1), steps: []step{
		{kind: "ann.faiss.search", status: "failed", code: "index_not_found", at: t0.Add(20 * time.Millisecond), durationMS: 3},
	}})
	root := traces("retriever", span{name: "search", traceID: tid, spanID: spanID(1), runID: failRun, steps: []step{
		{kind: "run.start", at: t0},
		{kind: "retrieval.error", status: "failed", code: "index_not_found", at: t0.Add(21 * time.Millisecond)},
		{kind: "run.end", status: "failed", at: t0.Add(22 * time.Millisecond)},
	}})
	// The completed run, in one request.
	ok := traces("retriever", span{name: "search", traceID: traceID(42), spanID: spanID(1), runID: okRun, steps: []step{
		{kind: "run.start", at: t0},
		{kind: "embed.vllm", at: t0.Add(time.Millisecond), durationMS: 40},
		{kind: "embed.vllm", at: t0.Add(2 * time.Millisecond), durationMS: 60},
		{kind: "run.end", at: t0.Add(3 * time.Millisecond)},
	}})
	for _, td := range []struct {
		what string
		code int
	}{{"children", c.sendTraces(children)}, {"root", c.sendTraces(root)}, {"ok", c.sendTraces(ok)}} {
		if td.code != http.StatusOK {
			t.Fatalf("%s export: HTTP %d", td.what, td.code)
		}
	}
	// The timed-out run, as log records.
	if code := c.sendLogs(logs("indexer", span{traceID: traceID(43), spanID: spanID(1), runID: timeoutRun, steps: []step{
		{kind: "run.start", at: t0},
		{kind: "embed.vllm", status: "failed", code: "deadline_exceeded", at: t0.Add(time.Millisecond), detail: "vLLM did not answer"},
		{kind: "run.end", status: "failed", at: t0.Add(2 * time.Millisecond)},
	}})); code != http.StatusOK {
		t.Fatalf("logs export: HTTP %d", code)
	}

	var samples []sample
	waitFor(t, 30*time.Second, "three run outcomes on /metrics", func() bool {
		samples = c.scrape()
		return total(samples, "runledger_runs_total", nil) == 3
	})

	// Each outcome is named as the run's report names it.
	for _, tc := range []struct {
		run     string
		service string
		labels  map[string]string
	}{
		{failRun, "retriever", map[string]string{"run_status": "failed", "stop_category": "error", "stop_stage": "ann", "stop_error_code": "index_not_found"}},
		{okRun, "retriever", map[string]string{"run_status": "completed", "stop_category": "completed", "stop_stage": "run"}},
		{timeoutRun, "indexer", map[string]string{"run_status": "failed", "stop_category": "timeout", "stop_stage": "embed", "stop_error_code": "deadline_exceeded"}},
	} {
		tc.labels["service_name"] = tc.service
		if got := total(samples, "runledger_runs_total", tc.labels); got != 1 {
			t.Errorf("%s: runledger_runs_total%v = %v, want 1", tc.run, tc.labels, got)
		}
		var rep struct {
			Status     string `json:"status"`
			StopReason struct {
				Category  string `json:"category"`
				Stage     string `json:"stage"`
				ErrorCode string `json:"error_code"`
			} `json:"stop_reason"`
		}
		waitFor(t, 15*time.Second, "report of "+tc.run, func() bool {
			code, body := c.get("/reports/runs/" + tc.run)
			return code == http.StatusOK && json.Unmarshal(body, &rep) == nil && rep.Status != "in_progress"
		})
		sr := rep.StopReason
		if rep.Status != tc.labels["run_status"] || sr.Category != tc.labels["stop_category"] ||
			sr.Stage != tc.labels["stop_stage"] || sr.ErrorCode != tc.labels["stop_error_code"] {
			t.Errorf("%s: report says %s %+v, the metric %v", tc.run, rep.Status, sr, tc.labels)
		}
	}

	// Steps by kind, status and error code; durations by kind.
	if got := total(samples, "runledger_steps_total", map[string]string{
		"service_name": "retriever", "step_kind": "ann.faiss.search", "step_status": "failed", "step_error_code": "index_not_found",
	}); got != 1 {
		t.Errorf("failed ANN steps = %v, want 1", got)
	}
	if got := total(samples, "runledger_steps_total", map[string]string{"step_kind": "embed.vllm", "step_status": "ok"}); got != 2 {
		t.Errorf("ok embed steps = %v, want 2", got)
	}
	if got := total(samples, "runledger_step_duration_milliseconds_count", map[string]string{"step_kind": "embed.vllm", "service_name": "retriever"}); got != 2 {
		t.Errorf("embed durations observed = %v, want 2", got)
	}
	if got := total(samples, "runledger_step_duration_milliseconds_sum", map[string]string{"step_kind": "embed.vllm", "service_name": "retriever"}); got != 100 {
		t.Errorf("embed duration sum = %v ms, want 100", got)
	}
	if got := total(samples, "runledger_step_duration_milliseconds_bucket", map[string]string{"step_kind": "embed.vllm", "le": "50"}); got != 1 {
		t.Errorf("embed durations <= 50 ms = %v, want 1", got)
	}
}
