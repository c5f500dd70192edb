package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// NoCollectorError reports that nothing accepts connections at Target:
// at start-up (after Config.StartupWait) or, with MidRun, after the load
// had started.
type NoCollectorError struct {
	// Target is the address that refused (Config.Target).
	Target string
	// MidRun is true when the collector went away during the load.
	MidRun bool
	// Err is the last dial error.
	Err error
}

// Error names the target and, for a refused connection (the usual case:
// no collector running), only that, without the dial error's noise.
func (e *NoCollectorError) Error() string {
	cause := "connection refused"
	if !errors.Is(e.Err, syscall.ECONNREFUSED) {
		cause = e.Err.Error()
	}
	if e.MidRun {
		return fmt.Sprintf("collector at %s went away during the load: %s", e.Target, cause)
	}
	return fmt.Sprintf("no collector at %s: %s", e.Target, cause)
}

// Unwrap returns the dial error.
func (e *NoCollectorError) Unwrap() error { return e.Err }

// probeRetry is the pause between connection attempts at start-up.
const probeRetry = 100 * time.Millisecond

// dial reports whether something accepts TCP connections at target. It
// is a plain TCP connect rather than a gRPC call because gRPC fails
// requests on a refused connection with the same Unavailable code as an
// overloaded collector, and the two need opposite reactions. gRPC servers
// close such connections without logging (as load balancer health checks).
func dial(ctx context.Context, target string, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return err
	}
	return c.Close()
}

// awaitCollector returns nil once target accepts connections, or a
// *NoCollectorError when it still refuses after wait, or ctx's error.
func awaitCollector(ctx context.Context, target string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		// At least a second per attempt so that a slow but reachable
		// remote target is not mistaken for a missing one.
		err := dial(ctx, target, max(time.Until(deadline), time.Second))
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if !time.Now().Add(probeRetry).Before(deadline) {
			return &NoCollectorError{Target: target, Err: err}
		}
		t := time.NewTimer(probeRetry)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
	}
}
