package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/runledger/runledger/pipeline/loadgen"
	"github.com/runledger/runledger/pipeline/pipelinetest"
)

func TestRunJSON(t *testing.T) {
	rcv := pipelinetest.NewReceiver(t)
	var out, errb bytes.Buffer
	code := run([]string{"--target", rcv.GRPCAddr, "--count", "12", "--signal", "mixed", "--json", "--run-id-prefix", "cli"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res loadgen.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if res.Runs != 12 || res.StepEvents.Acked == 0 || res.StepEvents.Acked != res.StepEvents.Sent || res.RunIDPrefix != "cli" {
		t.Errorf("result = %+v", res)
	}
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--target", "10.0.0.1:4317", "--count", "1"},
		{"--duration", "0"},
		{"--signal", "metrics"},
		{"--no-such-flag"},
		{"extra"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d", args, code)
		}
	}
	var out, errb bytes.Buffer
	run([]string{"--target", "10.0.0.1:4317", "--count", "1"}, &out, &errb)
	if !strings.Contains(errb.String(), "--allow-remote") {
		t.Errorf("stderr = %q", errb.String())
	}
}
