package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoClusterServesRuns starts the demo (make cluster) with the built
// collector: one agent and two gateways behind the in-process broker. A run
// sent to the agent is reported by every gateway, and cancelling stops all
// processes. It runs with the end-to-end suite (RUNLEDGER_COLLECTOR and
// RUNLEDGER_CLUSTER_TESTS set by make test).
func TestDemoClusterServesRuns(t *testing.T) {
	bin := os.Getenv("RUNLEDGER_COLLECTOR")
	if bin == "" || os.Getenv("RUNLEDGER_CLUSTER_TESTS") == "" {
		t.Skip("RUNLEDGER_COLLECTOR or RUNLEDGER_CLUSTER_TESTS not set: run it with `make test`")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	o := options{collector: bin, configDir: "../../config", dir: t.TempDir(), agents: 1, gateways: 2, partitions: 4, topic: "runledger-steps"}
	go func() {
		err := start(ctx, o, pw)
		pw.Close()
		done <- err
	}()

	var out strings.Builder
	var gateways []string
	agent := ""
	gwRe, agRe := regexp.MustCompile(`reports http://(\S+)/reports/runs`), regexp.MustCompile(`OTLP HTTP http://(\S+)`)
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if m := gwRe.FindStringSubmatch(line); m != nil && strings.HasPrefix(line, "gateway-") {
			gateways = append(gateways, m[1])
		}
		if m := agRe.FindStringSubmatch(line); m != nil {
			agent = m[1]
		}
		if line == "Ctrl-C stops everything." {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }() // "stopping" and the like
	if len(gateways) != 2 || agent == "" {
		t.Fatalf("the demo did not print two gateways and an agent:\n%s", out.String())
	}

	now := time.Now().UnixNano()
	ev := func(kind string, at int64) string {
		return fmt.Sprintf(`{"timeUnixNano":"%d","name":%q,"attributes":[{"key":"step.kind","value":{"stringValue":%q}},{"key":"step.status","value":{"stringValue":"ok"}}]}`, at, kind, kind)
	}
	body := fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"demo"}}]},`+
		`"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"run",`+
		`"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[{"key":"run.id","value":{"stringValue":"demo-run"}}],`+
		`"events":[%s,%s]}]}]}]}`, now, now+int64(time.Millisecond), ev("run.start", now), ev("run.end", now+1000))
	resp, err := http.Post("http://"+agent+"/v1/traces", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("agent answered %s", resp.Status)
	}
	for _, gw := range gateways {
		deadline := time.Now().Add(60 * time.Second)
		for {
			var rep struct {
				EventCount int    `json:"event_count"`
				Status     string `json:"status"`
			}
			resp, err := http.Get("http://" + gw + "/reports/runs/demo-run")
			if err == nil {
				_ = json.NewDecoder(resp.Body).Decode(&rep)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && rep.EventCount == 2 && rep.Status == "completed" {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("gateway %s never reported demo-run (last: %v %+v)\n%s", gw, err, rep, out.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the demo ended with %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the demo did not stop")
	}
	for _, gw := range gateways {
		if resp, err := http.Get("http://" + gw + "/reports/runs"); err == nil {
			resp.Body.Close()
			t.Errorf("gateway %s still answers after the demo stopped", gw)
		}
	}
}
