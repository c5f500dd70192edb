package pipeline_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/pipeline"
	"github.com/runledger/runledger/pipeline/pipelinetest"
)

func spanAttr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func TestMiddlewareBindsRun(t *testing.T) {
	h := pipelinetest.New(t, pipeline.ModeSpanEvents)
	var seen string
	srv := httptest.NewServer(h.Telemetry.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = pipeline.RunID(r.Context())
		_ = pipeline.Stage(r.Context(), "embed.vllm", func(ctx context.Context) (pipeline.Step, error) {
			return pipeline.Step{}, nil
		})
		_, _ = io.WriteString(w, "ok")
	})))
	defer srv.Close()

	// Without X-Run-Id: a new sortable id, echoed in the response.
	resp, err := http.Post(srv.URL+"/search", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get(pipeline.HeaderRunID)
	if len(id) != 26 || !pipeline.ValidRunID(id) || id != seen {
		t.Fatalf("X-Run-Id = %q, handler saw %q", id, seen)
	}
	evs := h.WaitRun(t, id)
	spans := h.Spans.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("spans = %d", len(spans))
	}
	stage, root := spans[0], spans[1]
	if root.Name != "POST /search" || root.SpanKind != trace.SpanKindServer || root.Parent.IsValid() {
		t.Errorf("root span = %q kind %v parent %v", root.Name, root.SpanKind, root.Parent)
	}
	if spanAttr(root, stepschema.AttrRunID) != id || spanAttr(stage, stepschema.AttrRunID) != id {
		t.Errorf("run.id root %q stage %q", spanAttr(root, stepschema.AttrRunID), spanAttr(stage, stepschema.AttrRunID))
	}
	if spanAttr(root, "http.response.status_code") != "200" {
		t.Errorf("status code attr = %q", spanAttr(root, "http.response.status_code"))
	}
	if got := pipelinetest.Kinds(evs); !reflect.DeepEqual(got, []string{"run.start", "embed.vllm", "run.end"}) {
		t.Fatalf("kinds = %v", got)
	}
	for _, e := range evs {
		if e.RunID() != id {
			t.Errorf("%s run.id = %q", e.Kind, e.RunID())
		}
	}
	if evs[2].Status() != "ok" || evs[0].SpanID != root.SpanContext.SpanID() || evs[2].SpanID != root.SpanContext.SpanID() {
		t.Errorf("run.start/run.end not ok on the root span")
	}

	// With a valid X-Run-Id the id is kept.
	h.Spans.Reset()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/search", nil)
	req.Header.Set(pipeline.HeaderRunID, "client-run.1")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get(pipeline.HeaderRunID); got != "client-run.1" {
		t.Errorf("echoed X-Run-Id = %q", got)
	}
	if n := len(h.WaitRun(t, "client-run.1")); n != 3 {
		t.Errorf("events of client-run.1 = %d", n)
	}
}

func TestMiddlewarePropagation(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })

	h := pipelinetest.New(t, pipeline.ModeSpanEvents)
	srv := httptest.NewServer(h.Telemetry.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true})
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), parent), propagation.HeaderCarrier(req.Header))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h.WaitRun(t, resp.Header.Get(pipeline.HeaderRunID))
	root := h.Spans.GetSpans()[0]
	if root.SpanContext.TraceID() != parent.TraceID() || root.Parent.SpanID() != parent.SpanID() {
		t.Errorf("root span did not join the caller's trace: %v parent %v", root.SpanContext.TraceID(), root.Parent.SpanID())
	}
}

func TestMiddlewareRejectsInvalidRunID(t *testing.T) {
	h := pipelinetest.New(t, pipeline.ModeSpanEvents)
	called := false
	srv := httptest.NewServer(h.Telemetry.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })))
	defer srv.Close()
	for _, bad := range []string{"../../etc/passwd", "-x", strings.Repeat("a", 129), "a b"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/search", nil)
		req.Header.Set(pipeline.HeaderRunID, bad)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body["error"], "X-Run-Id") ||
			resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%q: status %d body %v", bad, resp.StatusCode, body)
		}
	}
	if called || len(h.Spans.GetSpans()) != 0 {
		t.Errorf("invalid id reached the handler or made spans")
	}
}

func TestMiddlewareRunEnd(t *testing.T) {
	h := pipelinetest.New(t, pipeline.ModeLogEvents)
	mux := http.NewServeMux()
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/explicit", func(w http.ResponseWriter, r *http.Request) {
		pipeline.EndRun(r.Context(), "", pipeline.Errorf("index_not_found", "no index"))
		http.Error(w, "no index", http.StatusInternalServerError)
	})
	started := make(chan struct{})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})
	srv := httptest.NewServer(h.Telemetry.Middleware(mux))
	defer srv.Close()

	for path, want := range map[string][2]string{"/fail": {"failed", "http_503"}, "/explicit": {"failed", "index_not_found"}} {
		resp, err := http.Post(srv.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ends := pipelinetest.Find(h.WaitRun(t, resp.Header.Get(pipeline.HeaderRunID)), stepschema.KindRunEnd)
		if len(ends) != 1 || ends[0].Status() != want[0] || ends[0].ErrorCode() != want[1] {
			t.Errorf("%s: run.end = %+v", path, ends)
		}
	}

	// The client goes away: the run ends cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/slow", nil)
	req.Header.Set(pipeline.HeaderRunID, "gone-1")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	<-done
	ends := pipelinetest.Find(h.WaitRun(t, "gone-1"), stepschema.KindRunEnd)
	if len(ends) != 1 || ends[0].Status() != "cancelled" || ends[0].ErrorCode() != "cancelled" {
		t.Errorf("cancelled run.end = %+v", ends)
	}
}
