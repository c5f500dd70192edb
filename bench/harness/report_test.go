package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runledger/runledger/pipeline/loadgen"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func measurement(acked, stored int64) Measurement {
	return Measurement{
		Load: loadgen.Result{
			StepEvents:      loadgen.StepEvents{Sent: acked, Acked: acked},
			ElapsedSeconds:  20,
			EventsPerSecond: float64(acked) / 20,
		},
		CPUAtLoadStart:  1.5,
		CPUAtLoadEnd:    21.5,
		CPUAtExit:       26.5,
		PeakRSSBytes:    150 << 20,
		LoadGenCPU:      10,
		OtherCPU:        2,
		WriteCallBytes:  uint64(acked) * 500,
		Output:          Output{Files: 3, Bytes: acked * 400, StepEvents: stored, FallbackEvents: 7},
		ShutdownSeconds: 5,
	}
}

func TestComputeResult(t *testing.T) {
	r := computeResult(targetOurs, measurement(1_000_000, 999_990))
	checks := []struct {
		name      string
		got, want float64
	}{
		{"events/s", r.EventsPerSecond, 50_000},
		{"stored/s over load+drain", r.StoredPerSecond, 999_990.0 / 25},
		{"lost", float64(r.Lost), 10},
		{"extra", float64(r.Extra), 0},
		{"cpu s (load start to exit)", r.CPUSeconds, 25},
		{"cpu s during load", r.CPUSecondsDuringLoad, 20},
		{"cpu per million", r.CPUPerMillion, 25},
		{"cores busy", r.CoresBusy, 1},
		{"load generator cores", r.LoadGenCores, 0.5},
		{"other cores", r.OtherCores, 0.1},
		{"peak MiB", r.PeakRSSMiB, 150},
		{"bytes per event", r.BytesPerEvent, 400},
		{"write-call bytes per event", r.WriteCallBytesPerEvent, 500},
		{"fallback", float64(r.FallbackEvents), 7},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	// Stored beyond acked is extra, not negative loss; per-event figures
	// then divide by what was stored.
	r = computeResult(targetPeer, measurement(1_000_000, 1_250_000))
	if r.Lost != 0 || r.Extra != 250_000 || !near(r.CPUPerMillion, 20) || !near(r.BytesPerEvent, 320) {
		t.Errorf("lost %d extra %d cpu/M %v bytes/event %v, want 0, 250000, 20, 320", r.Lost, r.Extra, r.CPUPerMillion, r.BytesPerEvent)
	}

	// Killed collector: no rusage, CPU up to the end of the load.
	m := measurement(100, 100)
	m.CPUAtExit, m.ExitError = 0, "killed"
	if r = computeResult(targetOurs, m); r.CPUSeconds != 20 {
		t.Errorf("cpu without rusage = %v, want 20", r.CPUSeconds)
	}

	// Nothing acknowledged: no division by zero.
	r = computeResult(targetOurs, Measurement{})
	if r.CPUPerMillion != 0 || r.BytesPerEvent != 0 || r.StoredPerSecond != 0 {
		t.Errorf("empty result = %+v", r)
	}
}

func testReport() *Report {
	ours := measurement(3_000_000, 3_000_000)
	ours.Load.EventsPerSecond = 50_000
	ours.PeakRSSBytes = 180 << 20
	peer := measurement(3_000_000, 2_999_000)
	peer.CPUAtExit = 51.5 // 50 s of CPU
	peer.Load.EventsPerSecond = 50_000
	peer.PeakRSSBytes = 360 << 20
	peer.Output.Bytes = 3_000_000 * 800
	rep := &Report{
		Started: "2026-11-25T17:00:00Z",
		Host:    Host{CPUs: 2, CPUModel: "AMD EPYC", GoVersion: "go1.26"},
		Load:    LoadSettings{DurationSeconds: 60, Rate: 1916, EventRate: 50000, Concurrency: 1133, RunsInFlight: 10000, SpansPerBatch: 64, StepsPerSpan: 5, SpansPerRun: 5, Noise: 0.2, Fail: 0.1, RootOnlyRunID: true, Signal: "traces"},
		Results: []TargetResult{computeResult(targetOurs, ours), computeResult(targetPeer, peer)},
	}
	rep.finish()
	return rep
}

func TestReportRatiosAndChecks(t *testing.T) {
	rep := testReport()
	if rep.Ratios == nil {
		t.Fatal("no ratios")
	}
	if !near(rep.Ratios.CPUPerMillion, 0.5) || !near(rep.Ratios.PeakRSS, 0.5) || !near(rep.Ratios.BytesPerEvent, 0.5) || !near(rep.Ratios.EventsPerSecond, 1) {
		t.Errorf("ratios = %+v", *rep.Ratios)
	}
	if len(rep.Checks) != 3 {
		t.Fatalf("checks = %+v", rep.Checks)
	}
	// 50,000/s acknowledged, 120,000/s written over load+drain: both at
	// least the target, nothing lost.
	if !rep.Checks[0].Met || !rep.Checks[1].Met || !rep.Checks[2].Met {
		t.Errorf("checks = %+v, want all met", rep.Checks)
	}

	// A loss, more CPU than the peer and too much memory miss all three.
	rep.Results[0].Lost = 1
	rep.Results[0].CPUPerMillion = 100
	rep.Results[0].PeakRSSBytes = 201 << 20
	rep.finish()
	for _, c := range rep.Checks {
		if c.Met {
			t.Errorf("check %q met", c.Target)
		}
	}

	// Written rate below the target misses the first target although the
	// acknowledged rate meets it.
	rep = testReport()
	rep.Results[0].StoredPerSecond = 30_000
	rep.finish()
	if rep.Checks[0].Met {
		t.Errorf("throughput check met with 30,000/s written: %+v", rep.Checks[0])
	}

	// Peer only: no ratios, no checks about ours.
	rep = &Report{Results: []TargetResult{computeResult(targetPeer, measurement(10, 10))}}
	rep.finish()
	if rep.Ratios != nil || len(rep.Checks) != 0 {
		t.Errorf("peer only: ratios %v checks %v", rep.Ratios, rep.Checks)
	}
}

func TestReportMarkdownAndJSON(t *testing.T) {
	rep := testReport()
	var md bytes.Buffer
	if err := rep.writeMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	text := md.String()
	for _, want := range []string{
		"| metric | runledger (ours) | peer (otlp → batch → file, OTLP JSON) | ours/peer |",
		"| step events/s acknowledged | 50,000 | 50,000 | 1.00 |",
		"| CPU s per million step events | 8.33 | 16.67 | 0.50 |",
		"| peak RSS (MiB) | 180.0 | 360.0 | 0.50 |",
		"| lost (acked - stored) | 0 | 1,000 | |",
		"fixed rate 1916 runs/s (~50,000 step events/s), 1133 workers, ~10000 runs in flight",
		"Targets (issue 6):",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("markdown lacks %q:\n%s", want, text)
		}
	}
	// Every table row has as many cells as the header.
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "|") && strings.Count(line, "|") != 5 {
			t.Errorf("row with %d separators: %s", strings.Count(line, "|"), line)
		}
	}

	base := filepath.Join(t.TempDir(), "results", "results-20261125T170000Z")
	if err := saveReport(rep, base); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(base + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != 2 || back.Results[1].Lost != 1000 || back.Ratios == nil || back.Load.RunsInFlight != 10000 {
		t.Errorf("JSON round trip = %+v", back)
	}
	if mdFile, err := os.ReadFile(base + ".md"); err != nil || string(mdFile) != text {
		t.Errorf("markdown file differs from stdout (err %v)", err)
	}
}

func TestFmtInt(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -45000: "-45,000"} {
		if got := fmtInt(n); got != want {
			t.Errorf("fmtInt(%d) = %q, want %q", n, got, want)
		}
	}
}
