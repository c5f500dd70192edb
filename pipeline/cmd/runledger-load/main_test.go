package main

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

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

func TestRunNoCollector(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out, errb bytes.Buffer
	start := time.Now()
	code := run([]string{"--target", addr}, &out, &errb) // default 10s duration
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("took %v to give up on %s", el, addr)
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if want := "runledger-load: no collector at " + addr + ": connection refused\n"; errb.String() != want {
		t.Errorf("stderr = %q, want %q", errb.String(), want)
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q", out.String())
	}
}
