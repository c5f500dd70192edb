package pipeline_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/pipeline"
	"github.com/runledger/runledger/pipeline/pipelinetest"
)

// clearOTLPEnv keeps the developer's environment out of the test.
func clearOTLPEnv(t *testing.T) {
	for _, k := range []string{"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_PROTOCOL",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_EXPORTER_OTLP_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS",
		"OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_INSECURE"} {
		t.Setenv(k, "")
	}
}

type received struct {
	spans, spanSteps, logSteps int
	services                   map[string]bool
	kinds                      []string
	runIDs                     map[string]bool
}

func collect(r *pipelinetest.Receiver) received {
	out := received{services: map[string]bool{}, runIDs: map[string]bool{}}
	for _, td := range r.Traces() {
		for _, rs := range td.ResourceSpans().All() {
			if v, ok := rs.Resource().Attributes().Get(stepschema.AttrServiceName); ok {
				out.services[v.Str()] = true
			}
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					out.spans++
					if v, ok := s.Attributes().Get(stepschema.AttrRunID); ok {
						out.runIDs[v.Str()] = true
					}
					for _, ev := range s.Events().All() {
						if k, ok := ev.Attributes().Get(stepschema.AttrKind); ok {
							out.spanSteps++
							out.kinds = append(out.kinds, k.Str())
						}
					}
				}
			}
		}
	}
	for _, ld := range r.Logs() {
		for _, rl := range ld.ResourceLogs().All() {
			if v, ok := rl.Resource().Attributes().Get(stepschema.AttrServiceName); ok {
				out.services[v.Str()] = true
			}
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					if k, ok := lr.Attributes().Get(stepschema.AttrKind); ok {
						out.logSteps++
						out.kinds = append(out.kinds, k.Str())
						if lr.EventName() != "step."+k.Str() || lr.TraceID().IsEmpty() || lr.SpanID().IsEmpty() {
							out.kinds = append(out.kinds, "BAD:"+lr.EventName())
						}
					}
				}
			}
		}
	}
	return out
}

// runOneRequest sends one request through the telemetry's middleware with
// one stage, then shuts the telemetry down (which must flush).
func runOneRequest(t *testing.T, tel *pipeline.Telemetry) string {
	t.Helper()
	srv := httptest.NewServer(tel.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = pipeline.Stage(r.Context(), "embed.vllm", func(context.Context) (pipeline.Step, error) {
			return pipeline.Step{Sizes: map[string]float64{"vectors": 1}}, nil
		})
	})))
	resp, err := http.Post(srv.URL+"/search", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	srv.Close() // waits for the handler, so the root span has ended
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	return resp.Header.Get(pipeline.HeaderRunID)
}

func TestSetupOTLP(t *testing.T) {
	cases := []struct {
		name     string
		protocol string // via OTEL_EXPORTER_OTLP_PROTOCOL
		mode     pipeline.Mode
		want     []string // requests the receiver sees
	}{
		{"http-span-events", "", pipeline.ModeSpanEvents, []string{"http:traces"}},
		{"grpc-span-events", "grpc", pipeline.ModeSpanEvents, []string{"grpc:traces"}},
		{"http-log-events", "http/protobuf", pipeline.ModeLogEvents, []string{"http:logs", "http:traces"}},
		{"grpc-log-events", "grpc", pipeline.ModeLogEvents, []string{"grpc:logs", "grpc:traces"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clearOTLPEnv(t)
			rcv := pipelinetest.NewReceiver(t)
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", c.protocol)
			if c.protocol == "grpc" {
				t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+rcv.GRPCAddr)
			} else {
				t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.HTTPURL)
			}
			t.Setenv("OTEL_SERVICE_NAME", "retriever-from-env")
			tel, err := pipeline.Setup(context.Background(), pipeline.Options{ServiceName: "retriever", Mode: c.mode, SkipGlobal: true})
			if err != nil {
				t.Fatal(err)
			}
			id := runOneRequest(t, tel)

			if got := rcv.Requests(); !reflect.DeepEqual(sortedCopy(got), c.want) {
				t.Errorf("requests = %v, want %v", got, c.want)
			}
			got := collect(rcv)
			if !reflect.DeepEqual(got.services, map[string]bool{"retriever-from-env": true}) {
				t.Errorf("services = %v", got.services)
			}
			if got.spans != 2 || !reflect.DeepEqual(got.runIDs, map[string]bool{id: true}) {
				t.Errorf("spans = %d run ids = %v (want %s)", got.spans, got.runIDs, id)
			}
			steps := got.spanSteps
			if c.mode == pipeline.ModeLogEvents {
				steps = got.logSteps
				if got.spanSteps != 0 {
					t.Errorf("log-events mode sent %d span events", got.spanSteps)
				}
			}
			if steps != 3 || !reflect.DeepEqual(sortedCopy(got.kinds), []string{"embed.vllm", "run.end", "run.start"}) {
				t.Errorf("steps = %d kinds = %v", steps, got.kinds)
			}
		})
	}
}

func TestSetupOptionsEndpointAndServiceName(t *testing.T) {
	clearOTLPEnv(t)
	rcv := pipelinetest.NewReceiver(t)
	tel, err := pipeline.Setup(context.Background(), pipeline.Options{
		ServiceName: "retriever", Protocol: "grpc", Endpoint: "http://" + rcv.GRPCAddr, SkipGlobal: true})
	if err != nil {
		t.Fatal(err)
	}
	runOneRequest(t, tel)
	if got := collect(rcv); !reflect.DeepEqual(got.services, map[string]bool{"retriever": true}) || got.spanSteps != 3 {
		t.Errorf("services = %v steps = %d", got.services, got.spanSteps)
	}
}

func TestSetupErrors(t *testing.T) {
	clearOTLPEnv(t)
	for _, o := range []pipeline.Options{
		{Mode: "metrics"},
		{Protocol: "thrift"},
		{Protocol: "http/json", Mode: pipeline.ModeLogEvents},
		{Endpoint: "127.0.0.1:4317"},
	} {
		o.SkipGlobal = true
		if tel, err := pipeline.Setup(context.Background(), o); err == nil {
			_ = tel.Shutdown(context.Background())
			t.Errorf("Setup(%+v) succeeded", o)
		} else if !strings.HasPrefix(err.Error(), "pipeline: ") {
			t.Errorf("error without context: %v", err)
		}
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
