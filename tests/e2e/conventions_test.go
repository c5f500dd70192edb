package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// A service instrumented with the OpenTelemetry SDK alone (no pipeline/
// helpers, no step.* on the spans that fail): session.id on the root span,
// an exception recorded on a child span. runledger keeps one ledger under
// the session id, and the report stops on the exception with its type,
// its error category and a remediation (issue 20).
func TestPlainOpenTelemetrySessionAndException(t *testing.T) {
	c := startCollector(t, "")
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(c.otlpHTTP), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "plain-otel-svc"))
	// One export for both spans: the batch timeout is longer than the test,
	// so ForceFlush sends them together (the root's session.id names the
	// child's trace in the same request).
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res),
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Hour)))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tracer := tp.Tracer("plain")

	const session = "sess-e2e-plain-otel"
	t0 := time.Now().UTC()
	rctx, root := tracer.Start(ctx, "handle query", trace.WithAttributes(attribute.String("session.id", session)))
	root.AddEvent("step", trace.WithAttributes(attribute.String("step.kind", "retrieval.request"),
		attribute.String("step.detail", "query received")))
	_, child := tracer.Start(rctx, "embed")
	cause := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	child.RecordError(cause, trace.WithStackTrace(true))
	child.SetStatus(codes.Error, cause.Error())
	child.End()
	root.End()
	if err := tp.ForceFlush(ctx); err != nil {
		t.Fatalf("export: %v", err)
	}

	_, lines := waitLedger(t, c, t0, session, 2)
	var exc map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m["run_id"] != session {
			t.Errorf("line in the wrong run: %s", l)
		}
		if m["kind"] == "exception" {
			exc = m
		}
	}
	if exc == nil {
		t.Fatalf("no exception step in the ledger:\n%s", strings.Join(lines, "\n"))
	}
	attrs, _ := exc["attrs"].(map[string]any)
	if exc["status"] != "failed" || exc["error_code"] != "*net.OpError" || exc["detail"] != cause.Error() ||
		attrs == nil || !strings.Contains(attrs["stacktrace"].(string), "goroutine") {
		t.Errorf("exception step = %v", exc)
	}

	var rep struct {
		RunID      string `json:"run_id"`
		StopReason struct {
			Category      string `json:"category"`
			Kind          string `json:"kind"`
			ErrorCode     string `json:"error_code"`
			Remediation   string `json:"remediation"`
			ErrorCategory string `json:"error_category"`
			Retryable     *bool  `json:"retryable"`
		} `json:"stop_reason"`
		Errors []struct {
			Kind          string `json:"kind"`
			ErrorCategory string `json:"error_category"`
		} `json:"errors"`
	}
	status, body := c.get("/reports/runs/" + session)
	if status != http.StatusOK {
		t.Fatalf("report: HTTP %d: %s", status, body)
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, body)
	}
	sr := rep.StopReason
	// The type names no code the table knows; the message says connection
	// refused: a dependency, worth retrying.
	if sr.Category != "error" || sr.Kind != "exception" || sr.ErrorCode != "*net.OpError" ||
		sr.ErrorCategory != "dependency" || sr.Retryable == nil || !*sr.Retryable || sr.Remediation == "" {
		t.Errorf("stop_reason = %+v, want the exception's type, category dependency and a remediation", sr)
	}
	if len(rep.Errors) != 1 || rep.Errors[0].ErrorCategory != "dependency" {
		t.Errorf("errors = %+v", rep.Errors)
	}
	// The run list classifies from the error code alone (its summary lines
	// carry no detail), so a code the table does not know is "unknown"
	// there even when the report's detail text says more.
	waitFor(t, 2*time.Second, "the run under ?error_category=unknown", func() bool {
		status, body = c.get("/reports/runs?error_category=unknown")
		return status == http.StatusOK && strings.Contains(string(body), `"`+session+`"`)
	})
}
