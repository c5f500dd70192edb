// Command runledger-cluster starts a local scale-out demo (make cluster;
// docs/scale-out.md): an in-process Kafka-protocol broker for development
// (franz-go's kfake; production runs a real Kafka), agents running
// config/agent.yaml and gateways running config/gateway.yaml, every one an
// otelcol-runledger process on free loopback ports with its own directory.
// It prints where to send OTLP and where to ask for reports, and stops
// everything on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

const usage = `runledger-cluster: a local scale-out demo of otelcol-runledger behind Kafka.

Starts a development Kafka broker (kfake, in this process, with the topic
pre-created), agents (config/agent.yaml) and gateways (config/gateway.yaml)
on free loopback ports; Ctrl-C stops them all.

`

type options struct {
	collector  string
	configDir  string
	dir        string
	agents     int
	gateways   int
	partitions int
	topic      string
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "runledger-cluster:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("runledger-cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.collector, "collector", "_build/otelcol-runledger", "the otelcol-runledger binary")
	fs.StringVar(&o.configDir, "config-dir", "config", "directory of agent.yaml and gateway.yaml")
	fs.StringVar(&o.dir, "dir", "data/cluster", "working directory: one sub-directory per process (ledgers, hold, queue, log)")
	fs.IntVar(&o.agents, "agents", 2, "agents to start")
	fs.IntVar(&o.gateways, "gateways", 3, "gateways to start")
	fs.IntVar(&o.partitions, "partitions", 6, "partitions of the topic (at least the number of gateways, or some gateway idles)")
	fs.StringVar(&o.topic, "topic", "runledger-steps", "the topic step events travel on")
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.agents < 1 || o.gateways < 1 || o.partitions < 1 {
		return errors.New("-agents, -gateways and -partitions must be at least 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return start(ctx, o, stdout)
}

// node is one otelcol-runledger process of the demo.
type node struct {
	name, role string
	dir        string
	env        map[string]string
	cmd        *exec.Cmd
	exited     chan struct{}
	log        *os.File
}

func start(ctx context.Context, o options, out io.Writer) error {
	bin, err := filepath.Abs(o.collector)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("collector binary: %w (run make build first)", err)
	}
	broker, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(o.partitions), o.topic))
	if err != nil {
		return fmt.Errorf("start kfake broker: %w", err)
	}
	defer broker.Close()
	brokers := broker.ListenAddrs()[0]
	fmt.Fprintf(out, "kafka   %s  (kfake, development only)  topic %s, %d partitions\n", brokers, o.topic, o.partitions)

	var nodes []*node
	defer func() { stopAll(nodes) }()
	var peers []string
	for i := 1; i <= o.gateways+o.agents; i++ {
		role, n := "gateway", i
		if i > o.gateways {
			role, n = "agent", i-o.gateways
		}
		nd, err := newNode(o, role, n, brokers)
		if err != nil {
			return err
		}
		nodes = append(nodes, nd)
		if role == "gateway" {
			peers = append(peers, "http://"+nd.env["RUNLEDGER_REPORTAPI"])
		}
	}
	for _, nd := range nodes {
		// Every gateway lists all (itself included: reportapi leaves
		// itself out), so any of them answers for every run.
		nd.env["RUNLEDGER_PEERS"] = strings.Join(peers, ",")
		if err := nd.start(bin, filepath.Join(o.configDir, nd.role+".yaml")); err != nil {
			return err
		}
	}
	for _, nd := range nodes {
		if err := nd.waitHealthy(ctx, time.Minute); err != nil {
			return err
		}
		switch nd.role {
		case "gateway":
			fmt.Fprintf(out, "%-10s reports http://%s/reports/runs  ledgers %s  log %s\n",
				nd.name, nd.env["RUNLEDGER_REPORTAPI"], filepath.Join(nd.dir, nd.env["RUNLEDGER_LEDGER_DIR"]), nd.log.Name())
		case "agent":
			fmt.Fprintf(out, "%-10s OTLP gRPC %s  OTLP HTTP http://%s  log %s\n",
				nd.name, nd.env["RUNLEDGER_OTLP_GRPC"], nd.env["RUNLEDGER_OTLP_HTTP"], nd.log.Name())
		}
	}
	fmt.Fprintf(out, "\nsend load:  _build/runledger-load --target %s --root-only-run-id --count 100\n", nodes[o.gateways].env["RUNLEDGER_OTLP_GRPC"])
	fmt.Fprintf(out, "runs:       curl http://%s/reports/runs   (any gateway answers for all: reportapi peers)\n", nodes[0].env["RUNLEDGER_REPORTAPI"])
	fmt.Fprintf(out, "a run:      curl http://%s/reports/runs/<run_id>\n", nodes[0].env["RUNLEDGER_REPORTAPI"])
	fmt.Fprintln(out, "Ctrl-C stops everything.")

	exits := make(chan *node, len(nodes))
	for _, nd := range nodes {
		go func() { <-nd.exited; exits <- nd }()
	}
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "stopping")
			return nil
		case nd := <-exits:
			fmt.Fprintf(out, "%s exited (%v); see %s\n", nd.name, nd.cmd.ProcessState, nd.log.Name())
		}
	}
}

func newNode(o options, role string, n int, brokers string) (*node, error) {
	name := fmt.Sprintf("%s-%d", role, n)
	dir, err := filepath.Abs(filepath.Join(o.dir, name))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s directory: %w", name, err)
	}
	nd := &node{name: name, role: role, dir: dir, exited: make(chan struct{})}
	nd.env = map[string]string{
		"RUNLEDGER_KAFKA_BROKERS": brokers,
		"RUNLEDGER_KAFKA_TOPIC":   o.topic,
		"RUNLEDGER_NODE_NAME":     name,
	}
	for _, k := range []string{"RUNLEDGER_HEALTH", "RUNLEDGER_OTLP_GRPC", "RUNLEDGER_OTLP_HTTP", "RUNLEDGER_REPORTAPI"} {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		nd.env[k] = a
	}
	a, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(a)
	nd.env["RUNLEDGER_METRICS_PORT"] = port
	// Directories relative to the node's working directory.
	nd.env["RUNLEDGER_LEDGER_DIR"] = "runs"
	nd.env["RUNLEDGER_REPORTS_DIR"] = "reports"
	nd.env["RUNLEDGER_HOLD_DIR"] = "hold"
	nd.env["RUNLEDGER_AGENT_QUEUE_DIR"] = "queue"
	return nd, nil
}

func (nd *node) start(bin, config string) error {
	cfg, err := filepath.Abs(config)
	if err != nil {
		return err
	}
	nd.log, err = os.OpenFile(filepath.Join(nd.dir, "collector.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s log: %w", nd.name, err)
	}
	nd.cmd = exec.Command(bin, "--config", cfg)
	nd.cmd.Dir = nd.dir
	nd.cmd.Env = os.Environ()
	for k, v := range nd.env {
		nd.cmd.Env = append(nd.cmd.Env, k+"="+v)
	}
	nd.cmd.Stdout, nd.cmd.Stderr = nd.log, nd.log
	// Its own process group: Ctrl-C in the terminal reaches this program,
	// which stops the nodes in order.
	nd.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := nd.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", nd.name, err)
	}
	go func() { _ = nd.cmd.Wait(); close(nd.exited) }()
	return nil
}

func (nd *node) waitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-nd.exited:
			return fmt.Errorf("%s exited during start-up; see %s", nd.name, nd.log.Name())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := http.Get("http://" + nd.env["RUNLEDGER_HEALTH"] + "/status")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s not healthy within %s; see %s", nd.name, timeout, nd.log.Name())
}

// stopAll stops the agents first (they flush to Kafka), then the gateways.
func stopAll(nodes []*node) {
	for _, role := range []string{"agent", "gateway"} {
		var wg sync.WaitGroup
		for _, nd := range nodes {
			if nd.role != role || nd.cmd == nil || nd.cmd.Process == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = nd.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-nd.exited:
				case <-time.After(30 * time.Second):
					_ = nd.cmd.Process.Kill()
					<-nd.exited
				}
				_ = nd.log.Close()
			}()
		}
		wg.Wait()
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return "localhost:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
