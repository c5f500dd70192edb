package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/runledger/runledger/pipeline/loadgen"
)

// Target names.
const (
	targetOurs = "ours"
	targetPeer = "peer"
)

// Targets of issue 6 for runledger on a 2-core machine.
const (
	targetEventsPerSecond = 50000
	targetPeakRSSBytes    = 200 << 20
)

// Measurement is what the harness observed of one collector: the raw
// readings a TargetResult is computed from.
type Measurement struct {
	// Load is the load generator's result against this collector.
	Load loadgen.Result
	// CPUAtLoadStart is the collector's utime+stime (s) just before the
	// load started.
	CPUAtLoadStart float64
	// CPUAtLoadEnd is utime+stime (s) when the load generator returned.
	CPUAtLoadEnd float64
	// CPUAtExit is utime+stime (s) of the whole process from its rusage
	// after it exited (0 when it did not exit cleanly).
	CPUAtExit float64
	// PeakRSSBytes is the largest of VmHWM/VmRSS sampled and the rusage
	// maxrss at exit.
	PeakRSSBytes uint64
	// LoadGenCPU is the CPU seconds of the harness process (the load
	// generator) during the load.
	LoadGenCPU float64
	// OtherCPU is the CPU seconds used during the load by everything but
	// the collector and the harness: other processes, kernel threads.
	OtherCPU float64
	// WriteCallBytes is wchar (bytes passed to write calls) at the last
	// sample before exit.
	WriteCallBytes uint64
	// Output is what was counted in the output folder after exit.
	Output Output
	// StartupSeconds is the time from exec to the OTLP port accepting.
	StartupSeconds float64
	// ShutdownSeconds is the time from SIGTERM to exit.
	ShutdownSeconds float64
	// ExitError is set when the collector did not exit cleanly.
	ExitError string
	// CollectorLog is the kept copy of the collector's log after an
	// unclean exit.
	CollectorLog string
}

// TargetResult is the reported outcome for one collector.
type TargetResult struct {
	Name   string `json:"name"`
	Binary string `json:"binary"`
	Config string `json:"config"`
	// BinarySHA256 is the first 16 hex digits of the binary's SHA-256 and
	// BinaryModified its modification time: which build was measured.
	BinarySHA256   string `json:"binary_sha256,omitempty"`
	BinaryModified string `json:"binary_modified,omitempty"`
	// Sets are the --set overrides the collector ran with.
	Sets []string `json:"sets,omitempty"`
	// Env are the environment variables given to the collector alone.
	Env []string `json:"env,omitempty"`

	// StepEventsAcked is the step events in acknowledged requests.
	StepEventsAcked int64 `json:"step_events_acked"`
	// StepEventsSent is the step events in all requests sent.
	StepEventsSent int64 `json:"step_events_sent"`
	// FailedRequests is the requests that were not acknowledged.
	FailedRequests int64 `json:"failed_requests"`
	// EventsPerSecond is acknowledged step events per second of load.
	EventsPerSecond float64 `json:"step_events_per_s"`
	// StoredPerSecond is StepEventsStored per second of load plus drain
	// (load elapsed + shutdown): what the collector actually wrote per
	// second. A collector that acknowledges before writing and falls
	// behind shows a long drain and a rate below EventsPerSecond.
	StoredPerSecond float64 `json:"step_events_stored_per_s"`
	// StepEventsStored is the step events found in the output.
	StepEventsStored int64 `json:"step_events_stored"`
	// Lost is acknowledged step events missing from the output
	// (max(0, acked - stored)).
	Lost int64 `json:"lost"`
	// Extra is stored step events beyond those acknowledged
	// (max(0, stored - acked)): written although their request failed, or
	// written twice.
	Extra int64 `json:"extra"`
	// CPUSeconds is the collector's CPU time (user+system) from the start
	// of the load to its exit (drain and shutdown included).
	CPUSeconds float64 `json:"cpu_s"`
	// CPUSecondsDuringLoad is the part of CPUSeconds while the load ran.
	CPUSecondsDuringLoad float64 `json:"cpu_s_during_load"`
	// CPUPerMillion is CPUSeconds per million step events handled
	// (max of acknowledged and stored).
	CPUPerMillion float64 `json:"cpu_s_per_million_step_events"`
	// CoresBusy is CPUSecondsDuringLoad / load duration.
	CoresBusy float64 `json:"cores_busy"`
	// LoadGenCores is the load generator's (harness's) CPU per second of
	// load.
	LoadGenCores float64 `json:"loadgen_cores"`
	// OtherCores is the CPU per second of load used by other processes and
	// kernel threads: the noise on the measurement.
	OtherCores   float64 `json:"other_cores"`
	PeakRSSBytes uint64  `json:"peak_rss_bytes"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	// OutputBytes is the size of what the collector wrote.
	OutputBytes int64 `json:"output_bytes"`
	// BytesPerEvent is OutputBytes per step event handled.
	BytesPerEvent float64 `json:"output_bytes_per_step_event"`
	// WriteCallBytesPerEvent is wchar per step event handled (all write
	// calls of the process, sockets included).
	WriteCallBytesPerEvent float64 `json:"write_call_bytes_per_step_event"`
	OutputFiles            int     `json:"output_files"`
	// FallbackEvents: runledger only, step events whose run id was not
	// resolved and that went to a trace-<id> ledger.
	FallbackEvents  int64   `json:"fallback_events"`
	StartupSeconds  float64 `json:"startup_s"`
	ShutdownSeconds float64 `json:"shutdown_s"`
	ExitError       string  `json:"exit_error,omitempty"`
	// CollectorLog is where the collector's log was kept after an unclean
	// exit.
	CollectorLog string `json:"collector_log,omitempty"`
	// LoadAvgBefore is /proc/loadavg (1, 5, 15 min) before the target ran.
	// It counts threads in uninterruptible sleep too, so a collector
	// blocked in file I/O raises it: OtherCores is the better noise figure.
	LoadAvgBefore string         `json:"loadavg_before"`
	Load          loadgen.Result `json:"load"`
}

// computeResult derives the reported figures from a measurement.
func computeResult(name string, m Measurement) TargetResult {
	r := TargetResult{
		Name:             name,
		StepEventsAcked:  m.Load.StepEvents.Acked,
		StepEventsSent:   m.Load.StepEvents.Sent,
		FailedRequests:   m.Load.Requests.Failed,
		EventsPerSecond:  m.Load.EventsPerSecond,
		StepEventsStored: m.Output.StepEvents,
		PeakRSSBytes:     m.PeakRSSBytes,
		PeakRSSMiB:       float64(m.PeakRSSBytes) / (1 << 20),
		OutputBytes:      m.Output.Bytes,
		OutputFiles:      m.Output.Files,
		FallbackEvents:   m.Output.FallbackEvents,
		StartupSeconds:   m.StartupSeconds,
		ShutdownSeconds:  m.ShutdownSeconds,
		ExitError:        m.ExitError,
		CollectorLog:     m.CollectorLog,
		Load:             m.Load,
	}
	if d := r.StepEventsAcked - r.StepEventsStored; d > 0 {
		r.Lost = d
	} else {
		r.Extra = -d
	}
	end := m.CPUAtExit
	if end < m.CPUAtLoadEnd { // no rusage: the process did not exit cleanly
		end = m.CPUAtLoadEnd
	}
	r.CPUSeconds = end - m.CPUAtLoadStart
	r.CPUSecondsDuringLoad = m.CPUAtLoadEnd - m.CPUAtLoadStart
	if d := m.Load.ElapsedSeconds + m.ShutdownSeconds; d > 0 {
		r.StoredPerSecond = float64(r.StepEventsStored) / d
	}
	if m.Load.ElapsedSeconds > 0 {
		r.CoresBusy = r.CPUSecondsDuringLoad / m.Load.ElapsedSeconds
		r.LoadGenCores = m.LoadGenCPU / m.Load.ElapsedSeconds
		r.OtherCores = m.OtherCPU / m.Load.ElapsedSeconds
	}
	// Per-event figures divide by the step events handled: the larger of
	// acknowledged and stored, so that events written for a request that
	// timed out count as work done, and lost events do not make the rest
	// look dearer.
	if n := float64(max(r.StepEventsAcked, r.StepEventsStored)); n > 0 {
		r.CPUPerMillion = r.CPUSeconds / (n / 1e6)
		r.BytesPerEvent = float64(r.OutputBytes) / n
		r.WriteCallBytesPerEvent = float64(m.WriteCallBytes) / n
	}
	return r
}

// LoadSettings is the load both targets got.
type LoadSettings struct {
	DurationSeconds float64 `json:"duration_s"`
	// Rate is runs/s over all workers; 0 is closed loop.
	Rate float64 `json:"rate_runs_per_s"`
	// EventRate is the step events/s Rate amounts to (0: closed loop).
	EventRate     float64 `json:"rate_step_events_per_s"`
	Concurrency   int     `json:"concurrency"`
	RunsInFlight  int     `json:"runs_in_flight"`
	SpansPerBatch int     `json:"spans_per_batch"`
	StepsPerSpan  int     `json:"steps_per_span"`
	SpansPerRun   int     `json:"spans_per_run"`
	Noise         float64 `json:"noise"`
	Fail          float64 `json:"fail"`
	RootOnlyRunID bool    `json:"root_only_run_id"`
	Signal        string  `json:"signal"`
}

// Host describes the machine the benchmark ran on.
type Host struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
	Kernel    string `json:"kernel,omitempty"`
	GoVersion string `json:"go_version"`
}

// Ratios are ours/peer for the main figures (0 when a side is missing).
type Ratios struct {
	EventsPerSecond float64 `json:"step_events_per_s"`
	CPUPerMillion   float64 `json:"cpu_s_per_million_step_events"`
	PeakRSS         float64 `json:"peak_rss"`
	BytesPerEvent   float64 `json:"output_bytes_per_step_event"`
}

// Check is one target of issue 6 and whether this run met it.
type Check struct {
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// Report is one benchmark run: the load, each target's result, ratios and
// the targets checked.
type Report struct {
	Started string         `json:"started"`
	Host    Host           `json:"host"`
	Load    LoadSettings   `json:"load"`
	Results []TargetResult `json:"results"`
	// Ratios is set when both ours and the peer ran.
	Ratios *Ratios  `json:"ratios_ours_over_peer,omitempty"`
	Checks []Check  `json:"checks,omitempty"`
	Notes  []string `json:"notes,omitempty"`
}

// find returns the result of the named target.
func (r *Report) find(name string) *TargetResult {
	for i := range r.Results {
		if r.Results[i].Name == name {
			return &r.Results[i]
		}
	}
	return nil
}

// ratio returns a/b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// finish computes the ratios and the checks from the results.
func (r *Report) finish() {
	ours, peer := r.find(targetOurs), r.find(targetPeer)
	if ours != nil && peer != nil {
		r.Ratios = &Ratios{
			EventsPerSecond: ratio(ours.EventsPerSecond, peer.EventsPerSecond),
			CPUPerMillion:   ratio(ours.CPUPerMillion, peer.CPUPerMillion),
			PeakRSS:         ratio(float64(ours.PeakRSSBytes), float64(peer.PeakRSSBytes)),
			BytesPerEvent:   ratio(ours.BytesPerEvent, peer.BytesPerEvent),
		}
	}
	r.Checks = nil
	if ours == nil {
		return
	}
	r.Checks = append(r.Checks, Check{
		Target: fmt.Sprintf(">= %d step events/s with zero loss", targetEventsPerSecond),
		Measured: fmt.Sprintf("%.0f/s acknowledged, %.0f/s written (load + drain), %d lost, %d failed requests",
			ours.EventsPerSecond, ours.StoredPerSecond, ours.Lost, ours.FailedRequests),
		Met: min(ours.EventsPerSecond, ours.StoredPerSecond) >= targetEventsPerSecond &&
			ours.Lost == 0 && ours.FailedRequests == 0 && ours.ExitError == "",
	})
	if peer != nil {
		r.Checks = append(r.Checks, Check{
			Target:   "CPU per million step events <= peer's",
			Measured: fmt.Sprintf("%.2f s vs %.2f s", ours.CPUPerMillion, peer.CPUPerMillion),
			Met:      ours.CPUPerMillion <= peer.CPUPerMillion,
		})
	}
	r.Checks = append(r.Checks, Check{
		Target:   fmt.Sprintf("peak RSS <= 200 MiB with %d runs in flight", r.Load.RunsInFlight),
		Measured: fmt.Sprintf("%.1f MiB", ours.PeakRSSMiB),
		Met:      ours.PeakRSSBytes <= targetPeakRSSBytes,
	})
}

// writeJSON writes the report as indented JSON.
func (r *Report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// row is one line of the Markdown table: a label and a value per target.
type row struct {
	label string
	value func(t *TargetResult) string
	// ratio returns the ours/peer ratio cell, nil for no ratio.
	ratio func(o, p *TargetResult) float64
}

func fmtInt(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + fmtInt(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

var tableRows = []row{
	{"step events/s acknowledged", func(t *TargetResult) string { return fmtInt(int64(math.Round(t.EventsPerSecond))) },
		func(o, p *TargetResult) float64 { return ratio(o.EventsPerSecond, p.EventsPerSecond) }},
	{"step events/s written (stored ÷ (load + drain))", func(t *TargetResult) string { return fmtInt(int64(math.Round(t.StoredPerSecond))) },
		func(o, p *TargetResult) float64 { return ratio(o.StoredPerSecond, p.StoredPerSecond) }},
	{"step events acknowledged", func(t *TargetResult) string { return fmtInt(t.StepEventsAcked) }, nil},
	{"step events stored (ledger lines / span events in file)", func(t *TargetResult) string { return fmtInt(t.StepEventsStored) }, nil},
	{"lost (acked - stored)", func(t *TargetResult) string { return fmtInt(t.Lost) }, nil},
	{"extra (stored - acked)", func(t *TargetResult) string { return fmtInt(t.Extra) }, nil},
	{"failed requests", func(t *TargetResult) string { return fmtInt(t.FailedRequests) }, nil},
	{"CPU s per million step events", func(t *TargetResult) string { return fmt.Sprintf("%.2f", t.CPUPerMillion) },
		func(o, p *TargetResult) float64 { return ratio(o.CPUPerMillion, p.CPUPerMillion) }},
	{"collector cores busy during load", func(t *TargetResult) string { return fmt.Sprintf("%.2f", t.CoresBusy) }, nil},
	{"load generator cores during load", func(t *TargetResult) string { return fmt.Sprintf("%.2f", t.LoadGenCores) }, nil},
	{"other processes' cores during load (noise)", func(t *TargetResult) string { return fmt.Sprintf("%.2f", t.OtherCores) }, nil},
	{"peak RSS (MiB)", func(t *TargetResult) string { return fmt.Sprintf("%.1f", t.PeakRSSMiB) },
		func(o, p *TargetResult) float64 { return ratio(float64(o.PeakRSSBytes), float64(p.PeakRSSBytes)) }},
	{"bytes written per step event (output files)", func(t *TargetResult) string { return fmt.Sprintf("%.0f", t.BytesPerEvent) },
		func(o, p *TargetResult) float64 { return ratio(o.BytesPerEvent, p.BytesPerEvent) }},
	{"write-call bytes per step event (wchar)", func(t *TargetResult) string { return fmt.Sprintf("%.0f", t.WriteCallBytesPerEvent) },
		func(o, p *TargetResult) float64 { return ratio(o.WriteCallBytesPerEvent, p.WriteCallBytesPerEvent) }},
	{"output files", func(t *TargetResult) string { return fmtInt(int64(t.OutputFiles)) }, nil},
	{"step events in trace-<id> fallback ledgers", func(t *TargetResult) string {
		if t.Name != targetOurs {
			return "n/a"
		}
		return fmtInt(t.FallbackEvents)
	}, nil},
	{"drain: SIGTERM to exit (s)", func(t *TargetResult) string { return fmt.Sprintf("%.1f", t.ShutdownSeconds) }, nil},
}

// writeMarkdown writes the load line, the comparison table and the checks.
func (r *Report) writeMarkdown(w io.Writer) error {
	var b strings.Builder
	l := r.Load
	mode := "closed loop"
	if l.Rate > 0 {
		mode = fmt.Sprintf("fixed rate %.0f runs/s (~%s step events/s)", l.Rate, fmtInt(int64(math.Round(l.EventRate))))
	}
	fmt.Fprintf(&b, "Benchmark %s — %d CPUs (%s), load generator in the same process/machine.\n\n", r.Started, r.Host.CPUs, r.Host.CPUModel)
	fmt.Fprintf(&b, "Load: %.0f s, %s, %d workers, ~%d runs in flight (%d spans per request), %d steps per span, %d stage spans per run, %.0f%% noise spans, %.0f%% failing runs, run id only on roots: %v, signal %s.\n\n",
		l.DurationSeconds, mode, l.Concurrency, l.RunsInFlight, l.SpansPerBatch, l.StepsPerSpan, l.SpansPerRun, l.Noise*100, l.Fail*100, l.RootOnlyRunID, l.Signal)

	ours, peer := r.find(targetOurs), r.find(targetPeer)
	for _, t := range r.Results {
		if len(t.Sets) > 0 {
			fmt.Fprintf(&b, "%s ran with --set=%s.\n\n", t.Name, strings.Join(t.Sets, " --set="))
		}
		if len(t.Env) > 0 {
			fmt.Fprintf(&b, "%s ran with the environment %s.\n\n", t.Name, strings.Join(t.Env, " "))
		}
	}
	var cols []*TargetResult
	header := "| metric |"
	sep := "|---|"
	for _, t := range []*TargetResult{ours, peer} {
		if t != nil {
			cols = append(cols, t)
			label := "runledger (ours)"
			if t.Name == targetPeer {
				label = "peer (otlp → batch → file, OTLP JSON)"
			}
			header += " " + label + " |"
			sep += "---:|"
		}
	}
	both := ours != nil && peer != nil
	if both {
		header += " ours/peer |"
		sep += "---:|"
	}
	b.WriteString(header + "\n" + sep + "\n")
	for _, rw := range tableRows {
		b.WriteString("| " + rw.label + " |")
		for _, t := range cols {
			b.WriteString(" " + rw.value(t) + " |")
		}
		if both {
			if rw.ratio != nil {
				fmt.Fprintf(&b, " %.2f |", rw.ratio(ours, peer))
			} else {
				b.WriteString(" |")
			}
		}
		b.WriteString("\n")
	}
	if len(r.Checks) > 0 {
		b.WriteString("\nTargets (issue 6):\n\n")
		for _, c := range r.Checks {
			mark := "MISSED"
			if c.Met {
				mark = "met"
			}
			fmt.Fprintf(&b, "- %s: %s — %s\n", c.Target, c.Measured, mark)
		}
	}
	for _, t := range cols {
		if t.ExitError != "" {
			fmt.Fprintf(&b, "\n%s did not exit cleanly: %s (log: %s)\n", t.Name, t.ExitError, t.CollectorLog)
		}
		for _, e := range t.Load.Errors {
			fmt.Fprintf(&b, "\n%s export error: %s\n", t.Name, e)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
