package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicksPerSecond is USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat; Linux exports it as 100 on every architecture.
const clockTicksPerSecond = 100

// procSample is one reading of a process from /proc.
type procSample struct {
	// CPUTicks is utime+stime in clock ticks (1/clockTicksPerSecond s).
	CPUTicks uint64
	// RSSBytes is VmRSS, the resident set now.
	RSSBytes uint64
	// HWMBytes is VmHWM, the peak resident set so far.
	HWMBytes uint64
	// WriteCallBytes is wchar of /proc/<pid>/io: bytes passed to write
	// calls (0 when the file cannot be read).
	WriteCallBytes uint64
}

// CPUSeconds converts CPUTicks to seconds.
func (s procSample) CPUSeconds() float64 {
	return float64(s.CPUTicks) / clockTicksPerSecond
}

// parseStatCPU returns utime+stime (clock ticks) from the content of
// /proc/<pid>/stat. The command name (field 2) is in parentheses and may
// itself hold spaces and parentheses, so fields are counted from the last ')'.
func parseStatCPU(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no ')' after the command name")
	}
	// Fields after the command: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(stat[i+1:]))
	const utimeIdx, stimeIdx = 14 - 3, 15 - 3
	if len(f) <= stimeIdx {
		return 0, fmt.Errorf("stat: %d fields after the command name, want more than %d", len(f), stimeIdx)
	}
	u, err := strconv.ParseUint(f[utimeIdx], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: utime: %w", err)
	}
	s, err := strconv.ParseUint(f[stimeIdx], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: stime: %w", err)
	}
	return u + s, nil
}

// parseStatusMemory returns VmRSS and VmHWM in bytes from the content of
// /proc/<pid>/status ("VmHWM:\t   1234 kB").
func parseStatusMemory(status []byte) (rss, hwm uint64, err error) {
	var haveRSS, haveHWM bool
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		n, err := parseKB(val)
		if err != nil {
			return 0, 0, fmt.Errorf("status: %s: %w", key, err)
		}
		if key == "VmRSS" {
			rss, haveRSS = n, true
		} else {
			hwm, haveHWM = n, true
		}
	}
	if !haveRSS || !haveHWM {
		return 0, 0, errors.New("status: VmRSS or VmHWM missing")
	}
	return rss, hwm, nil
}

// parseKB parses "  1234 kB" into bytes.
func parseKB(s string) (uint64, error) {
	f := strings.Fields(s)
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("value %q: want \"<n> kB\"", strings.TrimSpace(s))
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, err
	}
	return n * 1024, nil
}

// parseIOWchar returns wchar from the content of /proc/<pid>/io.
func parseIOWchar(io []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(io))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "wchar:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("io: no wchar line")
}

// readProc reads one sample of process pid below procRoot (normally
// "/proc"). The io file is optional.
func readProc(procRoot string, pid int) (procSample, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	var s procSample
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return s, err
	}
	if s.CPUTicks, err = parseStatCPU(stat); err != nil {
		return s, fmt.Errorf("pid %d: %w", pid, err)
	}
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return s, err
	}
	if s.RSSBytes, s.HWMBytes, err = parseStatusMemory(status); err != nil {
		return s, fmt.Errorf("pid %d: %w", pid, err)
	}
	if ioStat, err := os.ReadFile(filepath.Join(dir, "io")); err == nil {
		s.WriteCallBytes, _ = parseIOWchar(ioStat)
	}
	return s, nil
}

// sampler polls a process's /proc entries and keeps the peaks and the
// latest reading.
type sampler struct {
	procRoot string
	pid      int
	last     procSample
	peakRSS  uint64 // max of VmHWM and VmRSS seen
	samples  int
	err      error // last read error, if no sample succeeded
}

// sample takes one reading; it returns false once the process is gone.
func (s *sampler) sample() bool {
	p, err := readProc(s.procRoot, s.pid)
	if err != nil {
		if s.samples == 0 {
			s.err = err
		}
		return false
	}
	s.last = p
	s.peakRSS = max(s.peakRSS, p.HWMBytes, p.RSSBytes)
	s.samples++
	return true
}

// run samples every interval until stop is closed, then takes a last sample.
func (s *sampler) run(interval time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			s.sample()
			return
		case <-t.C:
			if !s.sample() {
				return
			}
		}
	}
}

// parseMachineBusy returns the busy CPU time of the whole machine (user,
// nice, system, irq, softirq, steal; not idle or iowait) in clock ticks
// from the content of /proc/stat.
func parseMachineBusy(stat []byte) (uint64, error) {
	line, _, _ := bytes.Cut(stat, []byte{'\n'})
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no aggregate cpu line")
	}
	var busy uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		n, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: field %d: %w", i, err)
		}
		busy += n
	}
	return busy, nil
}

// cpuSplit is a reading of where the machine's CPU time went: the
// collector, this process (the load generator) and everything.
type cpuSplit struct {
	machine, self, collector uint64 // clock ticks
}

// readCPUSplit reads the machine's busy time, this process's and the
// collector's CPU time.
func readCPUSplit(procRoot string, collector int) (cpuSplit, error) {
	var c cpuSplit
	b, err := os.ReadFile(filepath.Join(procRoot, "stat"))
	if err != nil {
		return c, err
	}
	if c.machine, err = parseMachineBusy(b); err != nil {
		return c, err
	}
	self, err := readProc(procRoot, os.Getpid())
	if err != nil {
		return c, err
	}
	coll, err := readProc(procRoot, collector)
	if err != nil {
		return c, err
	}
	c.self, c.collector = self.CPUTicks, coll.CPUTicks
	return c, nil
}

// others returns the CPU seconds between a and b used by neither this
// process nor the collector: other processes and the kernel's own threads
// (page cache writeback).
func (a cpuSplit) others(b cpuSplit) float64 {
	d := int64(b.machine-a.machine) - int64(b.self-a.self) - int64(b.collector-a.collector)
	return float64(max(d, 0)) / clockTicksPerSecond
}

// selfSeconds returns this process's CPU seconds between a and b.
func (a cpuSplit) selfSeconds(b cpuSplit) float64 {
	return float64(b.self-a.self) / clockTicksPerSecond
}

// readLoadAvg returns the first three fields of /proc/loadavg, or "" when
// it cannot be read.
func readLoadAvg(procRoot string) string {
	b, err := os.ReadFile(filepath.Join(procRoot, "loadavg"))
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// readCPUModel returns the first "model name" of /proc/cpuinfo, or "".
func readCPUModel(procRoot string) string {
	f, err := os.Open(filepath.Join(procRoot, "cpuinfo"))
	if err != nil {
		return ""
	}
	defer f.Close()
	return cpuModel(f)
}

func cpuModel(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
