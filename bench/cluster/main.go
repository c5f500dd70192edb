// Command cluster measures the scale-out data path (docs/scale-out.md,
// "Measured"): it fills a kfake topic through one agent with the load
// generator's runs, reports the bytes per step event in Kafka, then times
// 1..N gateways (a new consumer group each) reading the whole topic.
// Run it after `make build`: go run ./bench/cluster --runs 10000.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"
)

const topic = "runledger-steps"

func main() {
	runs := flag.Int("runs", 10000, "runs the load generator sends")
	maxGateways := flag.Int("gateways", 3, "time 1..N gateways")
	partitions := flag.Int("partitions", 6, "partitions of the topic")
	build := flag.String("build", "_build", "directory of otelcol-runledger and runledger-load")
	configDir := flag.String("config-dir", "config", "directory of agent.yaml and gateway.yaml")
	flag.Parse()
	if err := run(*runs, *maxGateways, *partitions, *build, *configDir); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// proc is one collector process.
type proc struct {
	cmd               *exec.Cmd
	dir, health, otlp string
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func start(bin, cfg, dir string, env ...string) (*proc, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var addrs [5]string
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	_, metricsPort, _ := net.SplitHostPort(addrs[4])
	p := &proc{dir: dir, health: addrs[0], otlp: addrs[1]}
	p.cmd = exec.Command(bin, "--config", cfg)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), "RUNLEDGER_HEALTH="+addrs[0], "RUNLEDGER_OTLP_GRPC="+addrs[1],
		"RUNLEDGER_OTLP_HTTP="+addrs[2], "RUNLEDGER_REPORTAPI="+addrs[3], "RUNLEDGER_METRICS_PORT="+metricsPort,
		"RUNLEDGER_LEDGER_DIR=runs", "RUNLEDGER_HOLD_DIR=hold", "RUNLEDGER_AGENT_QUEUE_DIR=queue")
	p.cmd.Env = append(p.cmd.Env, env...)
	log, err := os.Create(filepath.Join(dir, "collector.log"))
	if err != nil {
		return nil, err
	}
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get("http://" + p.health + "/status"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
	}
	p.stop()
	return nil, fmt.Errorf("%s not healthy within a minute (see %s)", dir, log.Name())
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
}

// lines counts the ledger lines under the gateways' directories.
func lines(dirs []string) int {
	n := 0
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(d, "runs", "*", "*.jsonl"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil {
				n += strings.Count(string(b), "\n")
			}
		}
	}
	return n
}

// inKafka reads the topic until it holds want step events and returns its
// messages, log records, step events and bytes (key and value, as the
// client sees them: after decompression), and the values' bytes each
// compressed alone with zstd (an upper bound of what the producer's
// per-batch compression sends).
func inKafka(brokers string, want int) (msgs, records, steps, bytes, zbytes int, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, 0, 0, 0, 0, err
	}
	defer cl.Close()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		return 0, 0, 0, 0, 0, err
	}
	var zbuf []byte
	for deadline := time.Now().Add(3 * time.Minute); steps < want; {
		if time.Now().After(deadline) {
			return msgs, records, steps, bytes, zbytes, fmt.Errorf("only %d of %d step events reached Kafka", steps, want)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fetches := cl.PollFetches(ctx)
		cancel()
		fetches.EachRecord(func(r *kgo.Record) {
			msgs++
			bytes += len(r.Key) + len(r.Value)
			zbuf = enc.EncodeAll(r.Value, zbuf[:0])
			zbytes += len(r.Key) + len(zbuf)
			ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(r.Value)
			if err != nil {
				return
			}
			for _, rl := range ld.ResourceLogs().All() {
				for _, sl := range rl.ScopeLogs().All() {
					for _, lr := range sl.LogRecords().All() {
						records++
						if _, ok := lr.Attributes().Get("step.kind"); ok {
							steps++
						}
					}
				}
			}
		})
	}
	return msgs, records, steps, bytes, zbytes, nil
}

func run(runs, maxGateways, partitions int, build, configDir string) error {
	bin, err := filepath.Abs(filepath.Join(build, "otelcol-runledger"))
	if err != nil {
		return err
	}
	load, _ := filepath.Abs(filepath.Join(build, "runledger-load"))
	agentCfg, _ := filepath.Abs(filepath.Join(configDir, "agent.yaml"))
	gatewayCfg, _ := filepath.Abs(filepath.Join(configDir, "gateway.yaml"))
	work, err := os.MkdirTemp("", "runledger-cluster-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	broker, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), topic))
	if err != nil {
		return err
	}
	defer broker.Close()
	brokers := broker.ListenAddrs()[0]

	agent, err := start(bin, agentCfg, filepath.Join(work, "agent"), "RUNLEDGER_KAFKA_BROKERS="+brokers)
	if err != nil {
		return err
	}
	out, err := exec.Command(load, "--target", agent.otlp, "--root-only-run-id", "--count", strconv.Itoa(runs), "--json").Output()
	if err != nil {
		agent.stop()
		return fmt.Errorf("runledger-load: %w", err)
	}
	var res struct {
		StepEvents struct {
			Acked int `json:"acked"`
		} `json:"step_events"`
		EventsPerSecond float64 `json:"events_per_s"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		agent.stop()
		return fmt.Errorf("runledger-load output: %w", err)
	}
	fmt.Printf("agent: %d step events acknowledged at %.0f step events/s\n", res.StepEvents.Acked, res.EventsPerSecond)
	msgs, records, steps, bytes, zbytes, err := inKafka(brokers, res.StepEvents.Acked)
	agent.stop()
	if err != nil {
		return err
	}
	fmt.Printf("kafka: %d messages, %d log records (%d step events, %d span records), %d bytes: %.0f bytes per step event (%.0f with zstd per message)\n",
		msgs, records, steps, records-steps, bytes, float64(bytes)/float64(steps), float64(zbytes)/float64(steps))

	for g := 1; g <= maxGateways; g++ {
		var gws []*proc
		var dirs []string
		for i := 0; i < g; i++ {
			dir := filepath.Join(work, fmt.Sprintf("gateways-%d", g), strconv.Itoa(i))
			p, err := start(bin, gatewayCfg, dir, "RUNLEDGER_KAFKA_BROKERS="+brokers, "RUNLEDGER_KAFKA_GROUP=bench-"+strconv.Itoa(g))
			if err != nil {
				return err
			}
			gws = append(gws, p)
			dirs = append(dirs, dir)
		}
		var first time.Time
		deadline := time.Now().Add(5 * time.Minute)
		for n := lines(dirs); n < records; n = lines(dirs) {
			if first.IsZero() && n > 0 {
				first = time.Now()
			}
			if time.Now().After(deadline) {
				return errors.New("gateways did not write every line within 5 minutes")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if first.IsZero() {
			first = time.Now()
		}
		el := time.Since(first).Seconds()
		fmt.Printf("%d gateway(s): %d lines in %.2fs: %.0f lines/s, %.0f step events/s\n",
			g, records, el, float64(records)/el, float64(steps)/el)
		for _, p := range gws {
			p.stop()
		}
	}
	return nil
}
