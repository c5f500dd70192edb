package e2e

// The scale-out deployment of docs/scale-out.md, process by process: a
// development Kafka broker (kfake) in the test process, agents running
// config/agent.yaml and gateways running config/gateway.yaml as built
// binaries. `make test-cluster` runs these tests (RUNLEDGER_CLUSTER_TESTS=1);
// `make test` skips them.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/connector/steplogs"
)

const (
	clusterTopic = "runledger-steps"
	clusterGroup = "runledger-gateways"
)

func clusterTest(t *testing.T) {
	t.Helper()
	if os.Getenv("RUNLEDGER_CLUSTER_TESTS") == "" {
		t.Skip("multi-process Kafka test: run it with `make test-cluster`")
	}
	binaries(t)
}

// startBroker starts a kfake broker on a free loopback port (or port) with
// the topic created, closed when the test ends.
func startBroker(t *testing.T, partitions int, port ...int) string {
	t.Helper()
	_, addr := startBrokerOpts(t, partitions, port)
	return addr
}

// startBrokerOpts is startBroker with more kfake options, returning the
// cluster too.
func startBrokerOpts(t *testing.T, partitions int, port []int, more ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	opts := append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), clusterTopic)}, more...)
	if len(port) > 0 {
		opts = append(opts, kfake.Ports(port...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

func startGateway(t *testing.T, brokers, name string, args ...string) *collector {
	t.Helper()
	return startPeeredGateway(t, brokers, name, "", nil, args...)
}

// startPeeredGateway starts a gateway whose reportapi listens on
// reportAPI (a free address when "") and has peers.
func startPeeredGateway(t *testing.T, brokers, name, reportAPI string, peers []string, args ...string) *collector {
	t.Helper()
	env := []string{"RUNLEDGER_KAFKA_BROKERS=" + brokers, "RUNLEDGER_NODE_NAME=" + name,
		// Where the harness looks (collector.ledgerDir).
		"RUNLEDGER_LEDGER_DIR=data/telemetry/runs",
		// A killed gateway's partitions move after this long.
		"RUNLEDGER_KAFKA_SESSION_TIMEOUT=6s"}
	if reportAPI != "" {
		// Later in the environment than the harness's own address: it wins.
		env = append(env, "RUNLEDGER_REPORTAPI="+reportAPI, "RUNLEDGER_PEERS="+strings.Join(peers, ","))
	}
	c := startCollectorArgs(t, filepath.Join(repoRoot(t), "config", "gateway.yaml"), args, env...)
	if reportAPI != "" {
		c.reportAPI = reportAPI
	}
	return c
}

func startAgent(t *testing.T, brokers, name string) *collector {
	t.Helper()
	return startCollector(t, filepath.Join(repoRoot(t), "config", "agent.yaml"),
		"RUNLEDGER_KAFKA_BROKERS="+brokers, "RUNLEDGER_NODE_NAME="+name)
}

// waitGroupStable waits until the gateways' consumer group is stable with
// n members sharing every partition, so that no partition moves while a
// test sends.
func waitGroupStable(t *testing.T, brokers string, n, partitions int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var last string
	waitFor(t, 60*time.Second, fmt.Sprintf("a stable group of %d gateways", n), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		groups, err := adm.DescribeGroups(ctx, clusterGroup)
		if err != nil {
			last = err.Error()
			return false
		}
		g := groups[clusterGroup]
		assigned := 0
		for _, ps := range g.AssignedPartitions() {
			assigned += len(ps)
		}
		last = fmt.Sprintf("state %s, %d members, %d partitions assigned", g.State, len(g.Members), assigned)
		return g.State == "Stable" && len(g.Members) == n && assigned == partitions
	})
	t.Logf("consumer group: %s", last)
}

// clusterLine is what these tests read of a line.
type clusterLine struct {
	RunID   string `json:"run_id"`
	EventID string `json:"event_id"`
	Rec     string `json:"rec"`
	Kind    string `json:"kind"`
	Status  string `json:"status"`
}

// stored is every line of a set of gateways' ledger directories.
type stored struct {
	// byEvent maps an event id to the gateways (indexes) whose ledgers
	// hold it, once per line.
	byEvent map[string][]int
	// byRun maps a run id to the gateways holding a ledger of it.
	byRun map[string][]int
	// lines maps a run to its raw lines on each gateway.
	lines map[string]map[int][]string
	steps int // step event lines (no span records)
}

func readStored(t *testing.T, gws ...*collector) stored {
	t.Helper()
	s := stored{byEvent: map[string][]int{}, byRun: map[string][]int{}, lines: map[string]map[int][]string{}}
	for i, gw := range gws {
		for _, f := range gw.ledgerFiles() {
			run := strings.TrimSuffix(filepath.Base(f), ".jsonl")
			s.byRun[run] = append(s.byRun[run], i)
			if s.lines[run] == nil {
				s.lines[run] = map[int][]string{}
			}
			for _, l := range readAllLines(t, f) {
				var ll clusterLine
				if err := json.Unmarshal([]byte(l), &ll); err != nil {
					continue // a torn tail being written
				}
				s.byEvent[ll.EventID] = append(s.byEvent[ll.EventID], i)
				s.lines[run][i] = append(s.lines[run][i], l)
				if ll.Rec == "" {
					s.steps++
				}
			}
		}
	}
	return s
}

var seqField = regexp.MustCompile(`,"seq":[0-9]+`)

// withoutSeq returns the lines sorted with their seq removed: two agents'
// events of one run interleave in another order in Kafka than when sent to
// one node, so seq may differ while every line is the same.
func withoutSeq(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = seqField.ReplaceAllString(l, "")
	}
	slices.Sort(out)
	return out
}

// twoServiceRun returns the requests of run: agent A's (service retriever:
// a stage span with two steps, then its root with run.id and run.start, as
// SDKs send them) and agent B's (service generator, another trace: a root
// with run.id and a child with steps and run.end).
func twoServiceRun(run string, n byte, t0 time.Time) (a, b []ptrace.Traces) {
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ta, tb := traceID(n), traceID(n+128)
	a = []ptrace.Traces{
		traces("retriever", span{name: "retrieve", traceID: ta, spanID: spanID(2), parent: spanID(1), steps: []step{
			{kind: "embed", at: at(10), durationMS: 4, sizes: map[string]int64{"tokens": 12}},
			{kind: "ann.search", at: at(20), resources: map[string]string{"index": "wiki"}, attrs: map[string]any{"nprobe": 8}},
		}}),
		traces("retriever", span{name: "POST /ask", traceID: ta, spanID: spanID(1), runID: run, steps: []step{
			{kind: "run.start", at: at(1)}}}),
	}
	b = []ptrace.Traces{
		traces("generator",
			span{name: "generate", traceID: tb, spanID: spanID(1), runID: run},
			span{name: "llm", traceID: tb, spanID: spanID(2), parent: spanID(1), steps: []step{
				{kind: "llm.call", at: at(30), status: "failed", code: "timeout", detail: "upstream 504"},
				{kind: "run.end", at: at(40), status: "failed"},
			}}),
	}
	return a, b
}

// TestClusterRunOnOneGateway: the events of a run sent by two services
// through two agents are written by exactly one gateway, each exactly
// once, and each line is the line a single node writes for the same input.
func TestClusterRunOnOneGateway(t *testing.T) {
	clusterTest(t)
	brokers := startBroker(t, 6)
	gws := []*collector{startGateway(t, brokers, "gw1"), startGateway(t, brokers, "gw2")}
	agentA, agentB := startAgent(t, brokers, "agent-a"), startAgent(t, brokers, "agent-b")
	single := startCollector(t, "")
	waitGroupStable(t, brokers, 2, 6)

	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	const runs = 16
	for i := 0; i < runs; i++ {
		run := fmt.Sprintf("two-svc-%02d", i)
		a, b := twoServiceRun(run, byte(i+1), t0)
		for _, td := range a {
			for _, c := range []*collector{agentA, single} {
				if code := c.sendTraces(td); code != http.StatusOK {
					t.Fatalf("%s: HTTP %d", run, code)
				}
			}
		}
		for _, td := range b {
			for _, c := range []*collector{agentB, single} {
				if code := c.sendTraces(td); code != http.StatusOK {
					t.Fatalf("%s: HTTP %d", run, code)
				}
			}
		}
	}
	// 5 steps per run; span records: retrieve, POST /ask, generate
	// (an ancestor), llm.
	const stepsPerRun, linesPerRun = 5, 9
	waitFor(t, 60*time.Second, "every run on the single node", func() bool {
		n := 0
		for _, f := range single.ledgerFiles() {
			n += len(readAllLines(t, f))
		}
		return n == runs*linesPerRun
	})
	var s stored
	waitFor(t, 90*time.Second, "every line on the gateways", func() bool {
		s = readStored(t, gws...)
		return len(s.byEvent) >= runs*linesPerRun
	})
	time.Sleep(2 * time.Second) // anything written twice would show now
	s = readStored(t, gws...)

	for id, at := range s.byEvent {
		if len(at) != 1 {
			t.Errorf("event %s stored %d times (gateways %v)", id, len(at), at)
		}
	}
	if len(s.byRun) != runs {
		t.Errorf("%d runs on the gateways, want %d", len(s.byRun), runs)
	}
	for _, f := range single.ledgerFiles() {
		run := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		holders := s.byRun[run]
		if len(holders) != 1 {
			t.Errorf("run %s is on gateways %v, want exactly one", run, holders)
			continue
		}
		want := withoutSeq(readAllLines(t, f))
		got := withoutSeq(s.lines[run][holders[0]])
		if !slices.Equal(got, want) {
			t.Errorf("run %s: gateway lines differ from the single node's:\ngateway:\n%s\nsingle node:\n%s",
				run, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// Both gateways took a share of the runs (6 partitions, 16 runs).
	for i := range gws {
		n := 0
		for _, h := range s.byRun {
			if h[0] == i {
				n++
			}
		}
		t.Logf("gateway %d holds %d runs", i+1, n)
	}
	if s.steps != runs*stepsPerRun {
		t.Errorf("%d step lines, want %d", s.steps, runs*stepsPerRun)
	}
}

// loadResult is what these tests read of runledger-load's JSON result.
type loadResult struct {
	Runs       int64 `json:"runs"`
	StepEvents struct {
		Acked int64 `json:"acked"`
	} `json:"step_events"`
	Requests struct {
		Failed int64 `json:"failed"`
	} `json:"requests"`
}

// startLoad runs the load generator against an agent (run ids on roots
// only) and returns a function that waits for its result.
func startLoad(t *testing.T, agent *collector, prefix string, args ...string) func() loadResult {
	t.Helper()
	bin := producerBin(t, "RUNLEDGER_LOAD")
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, append([]string{"--target", agent.otlpGRPC, "--root-only-run-id",
		"--run-id-prefix", prefix, "--json"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return func() loadResult {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("runledger-load %s: %v\n%s", prefix, err, errb.String())
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("runledger-load %s did not finish", prefix)
		}
		var r loadResult
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("runledger-load %s output: %v\n%s", prefix, err, out.String())
		}
		return r
	}
}

// TestClusterGatewayCrash: one of three gateways is killed (kill -9)
// mid-load and a fourth joins; every step event the agents acknowledged is
// stored,
// none twice in one gateway's directory. An event is in two directories
// only when the killed gateway wrote it and Kafka delivered it again to
// the partition's next owner (at-least-once: the read side merges by
// event_id, docs/scale-out.md).
func TestClusterGatewayCrash(t *testing.T) {
	clusterTest(t)
	brokers := startBroker(t, 6)
	// gw1 commits its offsets only when its partitions are revoked, which
	// a kill -9 never lets it do: everything it wrote is delivered again
	// to the partitions' next owners.
	// The four gateways know each other (reportapi peers), the fourth
	// before it exists.
	apis := []string{freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)}
	var peers []string
	for _, a := range apis {
		peers = append(peers, "http://"+a)
	}
	gws := []*collector{
		startPeeredGateway(t, brokers, "gw1", apis[0], peers, "--set=receivers::kafka::autocommit::interval=1h"),
		startPeeredGateway(t, brokers, "gw2", apis[1], peers),
		startPeeredGateway(t, brokers, "gw3", apis[2], peers),
	}
	agentA, agentB := startAgent(t, brokers, "agent-a"), startAgent(t, brokers, "agent-b")
	waitGroupStable(t, brokers, 3, 6)

	waitA := startLoad(t, agentA, "crash-a", "--rate", "25", "--duration", "12s")
	// Log-based step events too: agent B's load sends both signals.
	waitB := startLoad(t, agentB, "crash-b", "--rate", "25", "--duration", "12s", "--signal", "mixed")
	time.Sleep(4 * time.Second)
	gws[0].kill()
	gws = append(gws, startPeeredGateway(t, brokers, "gw4", apis[3], peers))
	ra, rb := waitA(), waitB()
	if ra.Requests.Failed+rb.Requests.Failed != 0 {
		t.Fatalf("agents refused requests: %+v %+v", ra, rb)
	}
	acked := int(ra.StepEvents.Acked + rb.StepEvents.Acked)
	t.Logf("acknowledged: %d runs, %d step events", ra.Runs+rb.Runs, acked)

	var s stored
	waitFor(t, 120*time.Second, "every acknowledged step event on the gateways", func() bool {
		// Span records have event ids too: count step lines by id.
		return stepIDs(t, gws...) >= acked
	})
	time.Sleep(2 * time.Second)
	s = readStored(t, gws...)
	if n := stepIDs(t, gws...); n != acked {
		t.Errorf("%d distinct step events stored, %d acknowledged", n, acked)
	}
	redelivered := 0
	for id, at := range s.byEvent {
		seen := map[int]bool{}
		for _, g := range at {
			if seen[g] {
				t.Errorf("event %s twice in gateway %d's directory", id, g+1)
			}
			seen[g] = true
		}
		if len(seen) > 1 {
			redelivered++
			if !seen[0] {
				t.Errorf("event %s in gateways %v: only the killed gateway's events may be redelivered", id, at)
			}
		}
	}
	t.Logf("%d events written by the killed gateway and again by the partition's next owner", redelivered)
	if redelivered == 0 {
		t.Error("nothing was delivered again: the test did not exercise Kafka's redelivery")
	}
	// The test is only worth its name if the killed gateway was writing
	// and the one that joined took partitions over.
	for i, gw := range gws {
		n := stepIDs(t, gw)
		t.Logf("gateway %d: %d step events", i+1, n)
		if n == 0 && (i == 0 || i == len(gws)-1) {
			t.Errorf("gateway %d wrote nothing: the kill or the join did not move partitions", i+1)
		}
	}
	for _, gw := range gws[1:] {
		if !gw.alive() {
			t.Fatal("a gateway died")
		}
	}
	if len(s.byRun) != int(ra.Runs+rb.Runs) {
		t.Errorf("%d runs stored, %d acknowledged", len(s.byRun), ra.Runs+rb.Runs)
	}
	checkFederated(t, gws[1:], gws...)
}

// checkFederated asks each of the live gateways, through its peers, for
// the run list and every run's report: each run is listed once, and its
// report has each of its step events once (the redelivered ones merged
// away) and the status its run.end says, whichever gateway is asked.
func checkFederated(t *testing.T, live []*collector, all ...*collector) {
	t.Helper()
	steps := map[string]map[string]bool{} // run -> step event ids
	final := map[string]string{}          // run -> run.end status
	for _, gw := range all {
		for _, f := range gw.ledgerFiles() {
			for _, l := range readLines(t, f) {
				var ll clusterLine
				if json.Unmarshal([]byte(l), &ll) != nil {
					continue
				}
				if steps[ll.RunID] == nil {
					steps[ll.RunID] = map[string]bool{}
				}
				steps[ll.RunID][ll.EventID] = true
				if ll.Kind == "run.end" {
					final[ll.RunID] = ll.Status
				}
			}
		}
	}
	holders := map[string]int{}
	for _, gw := range all {
		for _, f := range gw.ledgerFiles() {
			holders[strings.TrimSuffix(filepath.Base(f), ".jsonl")]++
		}
	}
	split := 0
	for _, n := range holders {
		if n > 1 {
			split++
		}
	}
	t.Logf("federation: %d runs, %d of them split over two gateways' directories", len(steps), split)
	// Behind a load balancer: each page from the next live gateway. They
	// list the same peers, themselves included, so any continues a cursor.
	rotated := listRuns(t, func(page int) *collector { return live[page%len(live)] })
	for run := range steps {
		if rotated[run] != 1 {
			t.Errorf("paging across the live gateways lists run %s %d times", run, rotated[run])
		}
	}
	if len(rotated) != len(steps) {
		t.Errorf("paging across the live gateways lists %d runs, %d are stored", len(rotated), len(steps))
	}
	for i, gw := range live {
		listed := listRuns(t, func(int) *collector { return gw })
		for run := range steps {
			if listed[run] != 1 {
				t.Errorf("live gateway %d lists run %s %d times", i+1, run, listed[run])
			}
		}
		if len(listed) != len(steps) {
			t.Errorf("live gateway %d lists %d runs, %d are stored", i+1, len(listed), len(steps))
		}
		bad := 0
		for run, ids := range steps {
			code, body := gw.get("/reports/runs/" + run)
			var rep struct {
				EventCount int    `json:"event_count"`
				Status     string `json:"status"`
			}
			if code != http.StatusOK || json.Unmarshal(body, &rep) != nil {
				t.Errorf("live gateway %d: report of %s: HTTP %d %.300s", i+1, run, code, body)
				bad++
			} else if want := map[string]string{"ok": "completed", "failed": "failed"}[final[run]]; rep.EventCount != len(ids) || rep.Status != want {
				t.Errorf("live gateway %d: report of %s: %d events, status %q; want %d, %q", i+1, run, rep.EventCount, rep.Status, len(ids), want)
				bad++
			}
			if bad > 10 {
				t.Fatal("too many wrong reports")
			}
		}
		// Insights cover every gateway's runs, a split run once.
		code, body := gw.get("/reports/insights?since=1h")
		var in struct {
			Runs int `json:"runs"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &in) != nil || in.Runs != len(steps) {
			t.Errorf("live gateway %d: insights: HTTP %d, %d runs, want %d: %.300s", i+1, code, in.Runs, len(steps), body)
		}
		t.Logf("live gateway %d: %d runs listed, %d reports checked", i+1, len(listed), len(steps))
	}
}

// stepIDs counts the distinct event ids of step lines (not span records)
// across the gateways.
func stepIDs(t *testing.T, gws ...*collector) int {
	t.Helper()
	ids := map[string]bool{}
	for _, gw := range gws {
		for _, f := range gw.ledgerFiles() {
			for _, l := range readLines(t, f) {
				var ll clusterLine
				if json.Unmarshal([]byte(l), &ll) == nil {
					ids[ll.EventID] = true
				}
			}
		}
	}
	return len(ids)
}

// TestClusterMalformedMessage: garbage on the topic is logged and skipped
// by the gateway, which goes on writing the runs behind it.
func TestClusterMalformedMessage(t *testing.T) {
	clusterTest(t)
	brokers := startBroker(t, 2)
	gw := startGateway(t, brokers, "gw1")
	agent := startAgent(t, brokers, "agent-a")
	waitGroupStable(t, brokers, 1, 2)

	for i := 0; i < 4; i++ {
		produce(t, brokers, []byte{byte(i)}, []byte("\xff\x00 not an OTLP message \x12\x99"))
	}
	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	a, b := twoServiceRun("after-garbage", 1, t0)
	for _, td := range append(a, b...) {
		if code := agent.sendTraces(td); code != http.StatusOK {
			t.Fatalf("HTTP %d", code)
		}
	}
	waitFor(t, 60*time.Second, "the run behind the garbage", func() bool {
		s := readStored(t, gw)
		return len(s.lines["after-garbage"][0]) == 9
	})
	if !gw.alive() {
		t.Fatal("gateway died on a malformed message")
	}
	if !strings.Contains(gw.logs.String(), "failed to unmarshal message") {
		t.Errorf("the malformed messages were not logged:\n%s", gw.logs.String())
	}
}

// TestClusterBrokerLate: an agent started while the broker is unreachable
// acknowledges what it queues and delivers it once the broker is up.
func TestClusterBrokerLate(t *testing.T) {
	clusterTest(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	brokers := fmt.Sprintf("127.0.0.1:%d", port)
	agent := startAgent(t, brokers, "agent-a")
	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	a, b := twoServiceRun("broker-late", 1, t0)
	for _, td := range append(a, b...) {
		if code := agent.sendTraces(td); code != http.StatusOK {
			t.Fatalf("HTTP %d with the broker down", code)
		}
	}
	time.Sleep(3 * time.Second) // the agent retries meanwhile
	startBroker(t, 2, port)
	gw := startGateway(t, brokers, "gw1")
	waitFor(t, 90*time.Second, "the queued run on the gateway", func() bool {
		s := readStored(t, gw)
		return len(s.lines["broker-late"][0]) == 9
	})
}

// TestClusterBrokerDownMidRun: the broker goes away while a run is being
// sent and comes back (with its data); the agent's queue holds what it
// acknowledged meanwhile and the gateway writes every event once.
func TestClusterBrokerDownMidRun(t *testing.T) {
	clusterTest(t)
	data := t.TempDir()
	broker, brokers := startBrokerOpts(t, 2, nil, kfake.DataDir(data))
	_, portStr, _ := net.SplitHostPort(brokers)
	port, _ := strconv.Atoi(portStr)
	gw := startGateway(t, brokers, "gw1")
	agent := startAgent(t, brokers, "agent-a")
	waitGroupStable(t, brokers, 1, 2)

	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	a, b := twoServiceRun("broker-away", 1, t0)
	for _, td := range a {
		if code := agent.sendTraces(td); code != http.StatusOK {
			t.Fatalf("HTTP %d", code)
		}
	}
	waitFor(t, 60*time.Second, "the first half of the run", func() bool {
		return len(readStored(t, gw).lines["broker-away"][0]) == 5
	})
	broker.Close()
	for _, td := range b {
		if code := agent.sendTraces(td); code != http.StatusOK {
			t.Fatalf("HTTP %d with the broker down", code)
		}
	}
	time.Sleep(3 * time.Second) // the agent retries meanwhile
	startBrokerOpts(t, 2, []int{port}, kfake.DataDir(data))
	var s stored
	waitFor(t, 90*time.Second, "the whole run after the broker came back", func() bool {
		s = readStored(t, gw)
		return len(s.lines["broker-away"][0]) >= 9
	})
	time.Sleep(2 * time.Second)
	s = readStored(t, gw)
	if n := len(s.lines["broker-away"][0]); n != 9 {
		t.Fatalf("%d lines, want 9:\n%s", n, strings.Join(s.lines["broker-away"][0], "\n"))
	}
}

// TestClusterLargeRun: one request holding a run larger than a Kafka
// message may be (max_message_bytes) reaches the gateway whole: the
// agent's batcher splits it by bytes below that limit; a single event too
// large for any message is dropped alone.
func TestClusterLargeRun(t *testing.T) {
	clusterTest(t)
	brokers := startBroker(t, 2)
	gw := startGateway(t, brokers, "gw1")
	agent := startAgent(t, brokers, "agent-a")
	waitGroupStable(t, brokers, 1, 2)

	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	const n = 6000
	steps := make([]step, n)
	detail := strings.Repeat("d", 300)
	for i := range steps {
		steps[i] = step{kind: "chunk.embed", at: t0.Add(time.Duration(i) * time.Microsecond), detail: detail}
	}
	// And one step event of 2 MB: dropped and counted by the agent's
	// steplogs connector, not failing the batch it would be in.
	huge := step{kind: "chunk.huge", at: t0, attrs: map[string]any{"blob": strings.Repeat("h", 2<<20)}}
	steps = append(steps[:n/2], append([]step{huge}, steps[n/2:]...)...)
	td := traces("embedder", span{name: "embed.all", traceID: traceID(7), spanID: spanID(1), runID: "large-run", steps: steps})
	if code := agent.sendTraces(td); code != http.StatusOK {
		t.Fatalf("HTTP %d", code)
	}
	waitFor(t, 60*time.Second, "every step of the large run", func() bool {
		return stepIDs(t, gw) >= n
	})
	if got := stepIDs(t, gw); got != n {
		t.Fatalf("%d step events stored, want %d", got, n)
	}
}

// TestClusterRedeliveredMessage: the same carried message on the topic
// twice (Kafka's redelivery, or an agent's retry after a lost ack) is
// written once: the gateway's writer deduplicates by event_id.
func TestClusterRedeliveredMessage(t *testing.T) {
	clusterTest(t)
	brokers := startBroker(t, 1)
	gw := startGateway(t, brokers, "gw1")
	waitGroupStable(t, brokers, 1, 1)

	// What an agent publishes for a run (after steproute: run ids on the
	// spans): the steplogs connector's output, one otlp_proto message per
	// request.
	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	a := []ptrace.Traces{traces("retriever", span{name: "retrieve", traceID: traceID(3), spanID: spanID(1), runID: "twice", steps: []step{
		{kind: "run.start", at: t0}, {kind: "embed", at: t0.Add(time.Millisecond)}}})}
	b := []ptrace.Traces{traces("generator", span{name: "generate", traceID: traceID(4), spanID: spanID(1), runID: "twice", steps: []step{
		{kind: "llm.call", at: t0.Add(2 * time.Millisecond)}, {kind: "run.end", at: t0.Add(3 * time.Millisecond)}}})}
	f := steplogs.NewFactory()
	sink := new(consumertest.LogsSink)
	conn, err := f.CreateTracesToLogs(context.Background(), connectortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), sink)
	if err != nil {
		t.Fatal(err)
	}
	for _, td := range append(a, b...) {
		if err := conn.ConsumeTraces(context.Background(), td); err != nil {
			t.Fatal(err)
		}
	}
	var values [][]byte
	for _, ld := range sink.AllLogs() {
		v, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, v)
	}
	for round := 0; round < 2; round++ {
		produce(t, brokers, []byte("twice"), values...)
		waitFor(t, 60*time.Second, "the run", func() bool {
			return len(readStored(t, gw).lines["twice"][0]) >= 6
		})
	}
	time.Sleep(2 * time.Second) // a second copy would be written by now
	s := readStored(t, gw)
	if n := len(s.lines["twice"][0]); n != 6 { // 4 steps, 2 span records
		t.Fatalf("%d lines, want 6 (each once):\n%s", n, strings.Join(s.lines["twice"][0], "\n"))
	}
}

// produce writes values to the cluster's topic with key, as a foreign or
// repeating producer would.
func produce(t *testing.T, brokers string, key []byte, values ...[]byte) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.DefaultProduceTopic(clusterTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: key, Value: v}).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", clusterTopic, err)
		}
	}
}

// listRuns pages through the federated run list, 200 runs a page, asking
// page n of gateway pick(n), and returns how often each run was listed.
func listRuns(t *testing.T, pick func(page int) *collector) map[string]int {
	t.Helper()
	listed := map[string]int{}
	cursor := ""
	for page := 0; page < 100; page++ {
		path := "/reports/runs?limit=200"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		code, body := pick(page).get(path)
		if code != http.StatusOK {
			t.Fatalf("run list page %d: HTTP %d %s", page, code, body)
		}
		var p struct {
			Runs []struct {
				RunID string `json:"run_id"`
			} `json:"runs"`
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("run list: %v", err)
		}
		for _, r := range p.Runs {
			listed[r.RunID]++
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	return listed
}
