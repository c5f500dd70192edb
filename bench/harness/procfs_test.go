package main

import (
	"os"
	"strings"
	"testing"
)

func TestReadProcFixture(t *testing.T) {
	s, err := readProc("testdata/proc", 4242)
	if err != nil {
		t.Fatal(err)
	}
	// utime 1234 + stime 567 ticks, although the command name holds spaces
	// and parentheses.
	want := procSample{CPUTicks: 1801, RSSBytes: 153600 * 1024, HWMBytes: 187904 * 1024, WriteCallBytes: 987654321}
	if s != want {
		t.Errorf("sample = %+v, want %+v", s, want)
	}
	if got := s.CPUSeconds(); got != 18.01 {
		t.Errorf("CPUSeconds = %v, want 18.01", got)
	}
	if got := readLoadAvg("testdata/proc"); got != "0.52 1.10 1.31" {
		t.Errorf("loadavg = %q", got)
	}
	if got := readCPUModel("testdata/proc"); got != "AMD EPYC 7B13" {
		t.Errorf("cpu model = %q", got)
	}
}

func TestReadProcMissing(t *testing.T) {
	if _, err := readProc("testdata/proc", 1); err == nil {
		t.Error("no error for a missing pid")
	}
	smp := &sampler{procRoot: "testdata/proc", pid: 1}
	if smp.sample() || smp.err == nil {
		t.Errorf("sample of a missing pid: ok, err = %v", smp.err)
	}
}

func TestParseStatErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"4242 (x S 1",      // no closing parenthesis
		"4242 (x) S 1 2 3", // too few fields
		"4242 (x) S " + strings.Repeat("1 ", 10) + "u s", // utime not a number
	} {
		if _, err := parseStatCPU([]byte(in)); err == nil {
			t.Errorf("parseStatCPU(%q): no error", in)
		}
	}
}

func TestParseStatusErrors(t *testing.T) {
	for _, in := range []string{
		"VmRSS:\t 12 kB\n",                 // no VmHWM
		"VmRSS:\t 12 kB\nVmHWM:\t 12 MB\n", // wrong unit
		"VmRSS:\t x kB\nVmHWM:\t 12 kB\n",  // not a number
	} {
		if _, _, err := parseStatusMemory([]byte(in)); err == nil {
			t.Errorf("parseStatusMemory(%q): no error", in)
		}
	}
}

// The parser agrees with the kernel on this very process.
func TestReadProcSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	s, err := readProc("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSBytes == 0 || s.HWMBytes < s.RSSBytes {
		t.Errorf("sample = %+v: want 0 < VmRSS <= VmHWM", s)
	}
}

func TestSamplerKeepsPeak(t *testing.T) {
	smp := &sampler{procRoot: "testdata/proc", pid: 4242}
	smp.peakRSS = 1 << 40 // an earlier, higher reading stays the peak
	if !smp.sample() {
		t.Fatal(smp.err)
	}
	if smp.peakRSS != 1<<40 || smp.samples != 1 || smp.last.CPUTicks != 1801 {
		t.Errorf("sampler = %+v", smp)
	}
	smp.peakRSS = 0
	smp.sample()
	if smp.peakRSS != 187904*1024 {
		t.Errorf("peak = %d, want VmHWM", smp.peakRSS)
	}
}

func TestMachineBusy(t *testing.T) {
	b, err := os.ReadFile("testdata/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	// user+nice+system+irq+softirq+steal; idle and iowait are not busy.
	if got, err := parseMachineBusy(b); err != nil || got != 10000+500+3000+100+200+50 {
		t.Errorf("busy = %d, %v", got, err)
	}
	for _, in := range []string{"", "intr 1\n", "cpu 1 2 3\n", "cpu 1 2 x 4 5 6 7 8\n"} {
		if _, err := parseMachineBusy([]byte(in)); err == nil {
			t.Errorf("parseMachineBusy(%q): no error", in)
		}
	}

	a := cpuSplit{machine: 1000, self: 100, collector: 200}
	b2 := cpuSplit{machine: 1500, self: 250, collector: 400}
	if got := a.others(b2); got != 1.5 { // 500 - 150 - 200 ticks
		t.Errorf("others = %v, want 1.5", got)
	}
	if got := a.selfSeconds(b2); got != 1.5 {
		t.Errorf("self = %v, want 1.5", got)
	}
	// Sampling skew never yields negative noise.
	if got := a.others(cpuSplit{machine: 1100, self: 200, collector: 300}); got != 0 {
		t.Errorf("others = %v, want 0", got)
	}
	if _, err := os.Stat("/proc/stat"); err == nil {
		if _, err := readCPUSplit("/proc", os.Getpid()); err != nil {
			t.Errorf("readCPUSplit on this machine: %v", err)
		}
	}
}
