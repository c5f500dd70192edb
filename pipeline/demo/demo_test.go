package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/pipeline"
	"github.com/runledger/runledger/pipeline/demo"
	"github.com/runledger/runledger/pipeline/pipelinetest"
)

type env struct {
	h   *pipelinetest.Harness
	srv *httptest.Server
}

func newEnv(t *testing.T, mode pipeline.Mode, cfg demo.Config) *env {
	t.Helper()
	h := pipelinetest.New(t, mode)
	cfg.Telemetry = h.Telemetry
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	svc, err := demo.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	return &env{h: h, srv: srv}
}

func (e *env) search(t *testing.T, req demo.Request) (*http.Response, demo.Response) {
	t.Helper()
	body, _ := json.Marshal(req)
	resp, err := http.Post(e.srv.URL+"/search", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out demo.Response
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return resp, out
}

func attr(t *testing.T, ev pipelinetest.Event, key string) attribute.Value {
	t.Helper()
	v, ok := ev.Attr(key)
	if !ok {
		t.Errorf("%s: no attribute %s in %v", ev.Kind, key, ev.Attrs)
	}
	return v
}

func TestSearchOK(t *testing.T) {
	e := newEnv(t, pipeline.ModeSpanEvents, demo.Config{})
	resp, out := e.search(t, demo.Request{Query: "where is the faiss index reloaded"})
	id := resp.Header.Get(pipeline.HeaderRunID)
	if resp.StatusCode != 200 || out.Status != "ok" || out.RunID != id || len(out.Hits) != 10 {
		t.Fatalf("status %d response %+v", resp.StatusCode, out)
	}
	evs := e.h.WaitRun(t, id)
	want := append(append([]string{"run.start"}, demo.Stages()...), "run.end")
	if got := pipelinetest.Kinds(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("kinds = %v, want %v", got, want)
	}
	for _, ev := range evs {
		if ev.Status() != "ok" {
			t.Errorf("%s status %s", ev.Kind, ev.Status())
		}
		if ev.Kind != "run.start" {
			if d := attr(t, ev, stepschema.AttrDurationMS); d.Type() != attribute.FLOAT64 {
				t.Errorf("%s duration type %v", ev.Kind, d.Type())
			}
		}
	}
	embed, ann, hyd, blame, hybrid := evs[1], evs[2], evs[3], evs[4], evs[5]
	if attr(t, embed, "step.resource.model").AsString() != "BAAI/bge-large-en-v1.5" ||
		attr(t, embed, "step.size.dims").AsInt64() != 1024 || attr(t, embed, "step.size.vectors").AsInt64() != 1 {
		t.Errorf("embed = %v", embed.Attrs)
	}
	hits := attr(t, ann, "step.size.hits").AsInt64()
	if hits < 30 || hits > 50 || attr(t, ann, "nprobe").AsInt64() != 16 || attr(t, ann, "k").AsInt64() != 50 ||
		attr(t, ann, "step.resource.index_version").AsString() != "v3" ||
		attr(t, ann, "step.resource.index_path").AsString() == "" {
		t.Errorf("ann = %v", ann.Attrs)
	}
	if attr(t, hyd, "step.size.rows").AsInt64() != hits || attr(t, hyd, "step.resource.table").AsString() != "chunks" {
		t.Errorf("hydrate = %v", hyd.Attrs)
	}
	if attr(t, blame, "step.resource.repo").AsString() != "github.com/acme/search" ||
		attr(t, blame, "step.resource.path").AsString() != out.Hits[0].Path || attr(t, blame, "step.size.lines").AsInt64() < 40 {
		t.Errorf("blame = %v", blame.Attrs)
	}
	if !reflect.DeepEqual(attr(t, hybrid, "channels").AsStringSlice(), []string{"dense", "bm25", "blame"}) ||
		attr(t, hybrid, "step.size.hits").AsInt64() != 10 {
		t.Errorf("hybrid = %v", hybrid.Attrs)
	}
	// Every stage ran in its own span named after it.
	for _, ev := range evs[1:6] {
		if ev.SpanName != ev.Kind {
			t.Errorf("%s on span %q", ev.Kind, ev.SpanName)
		}
	}
}

func TestSearchFailures(t *testing.T) {
	e := newEnv(t, pipeline.ModeSpanEvents, demo.Config{Latency: time.Millisecond})
	specs := []string{"client:cancelled"}
	for _, f := range demo.Failures() {
		specs = append(specs, f.Stage+":"+f.Code)
	}
	for _, spec := range specs {
		t.Run(spec, func(t *testing.T) {
			f, err := demo.ParseFailure(spec)
			if err != nil {
				t.Fatal(err)
			}
			resp, out := e.search(t, demo.Request{Query: "faiss", Fail: spec})
			status, httpCode := "failed", http.StatusInternalServerError
			switch f.Code {
			case "cancelled":
				status, httpCode = "cancelled", 499
			case "timeout":
				httpCode = http.StatusGatewayTimeout
			case "http_503":
				httpCode = http.StatusServiceUnavailable
			}
			if resp.StatusCode != httpCode || out.Status != status || out.Stage != f.Stage || out.ErrorCode != f.Code || out.Error == "" {
				t.Errorf("HTTP %d response %+v", resp.StatusCode, out)
			}
			evs := e.h.WaitRun(t, resp.Header.Get(pipeline.HeaderRunID))
			var want []string
			want = append(want, "run.start")
			for _, st := range demo.Stages() {
				if st == f.Stage {
					break
				}
				want = append(want, st)
			}
			want = append(want, f.Stage+".error", "retrieval.error", "run.end")
			if got := pipelinetest.Kinds(evs); !reflect.DeepEqual(got, want) {
				t.Fatalf("kinds = %v, want %v", got, want)
			}
			for _, ev := range evs[len(evs)-3:] {
				if ev.Status() != status || ev.ErrorCode() != f.Code {
					t.Errorf("%s: status %s code %s, want %s %s", ev.Kind, ev.Status(), ev.ErrorCode(), status, f.Code)
				}
				if d := attr(t, ev, stepschema.AttrDetail).AsString(); d == "" {
					t.Errorf("%s without detail", ev.Kind)
				}
			}
			if f.Code == "timeout" && !strings.Contains(attr(t, evs[len(evs)-3], stepschema.AttrDetail).AsString(), "deadline exceeded") {
				t.Errorf("timeout detail = %v", evs[len(evs)-3].Attrs)
			}
		})
	}
}

func TestSearchStall(t *testing.T) {
	for _, mode := range []pipeline.Mode{pipeline.ModeSpanEvents, pipeline.ModeLogEvents} {
		e := newEnv(t, mode, demo.Config{})
		resp, out := e.search(t, demo.Request{Query: "q", Fail: "hydrate:stall"})
		id := resp.Header.Get(pipeline.HeaderRunID)
		if resp.StatusCode != http.StatusInternalServerError || out.Status != "abandoned" || out.Stage != demo.KindHydrate {
			t.Errorf("%s: %d %+v", mode, resp.StatusCode, out)
		}
		// Wait until the root span is exported (it carries no run.end).
		deadline := time.Now().Add(5 * time.Second)
		for len(e.h.Spans.GetSpans()) < 4 && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		var kinds []string
		for _, ev := range e.h.Events() {
			if ev.RunID() == id {
				kinds = append(kinds, ev.Kind)
			}
		}
		if want := []string{"run.start", "embed.vllm", "ann.faiss.search"}; !reflect.DeepEqual(kinds, want) {
			t.Errorf("%s: kinds = %v, want %v", mode, kinds, want)
		}
	}
}

func TestSearchModes(t *testing.T) {
	e := newEnv(t, pipeline.ModeLogEvents, demo.Config{})
	resp, _ := e.search(t, demo.Request{Query: "q", Mode: "mixed", Fail: "git.blame:path_not_found"})
	evs := e.h.WaitRun(t, resp.Header.Get(pipeline.HeaderRunID))
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Kind+"@"+ev.Signal)
	}
	want := []string{"run.start@log", "embed.vllm@span", "ann.faiss.search@log", "hydrate.duckdb@span",
		"git.blame.error@log", "retrieval.error@log", "run.end@span"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mixed = %v\nwant %v", got, want)
	}
	for _, ev := range evs {
		if ev.Signal == "log" && ev.Name != "step."+ev.Kind {
			t.Errorf("log event name %q", ev.Name)
		}
	}

	resp, _ = e.search(t, demo.Request{Query: "q", Mode: "span-events"})
	for _, ev := range e.h.WaitRun(t, resp.Header.Get(pipeline.HeaderRunID))[1:] {
		if ev.Signal != "span" {
			t.Errorf("span-events request: %s as %s", ev.Kind, ev.Signal)
		}
	}

	spanOnly := newEnv(t, pipeline.ModeSpanEvents, demo.Config{})
	resp, out := spanOnly.search(t, demo.Request{Query: "q", Mode: "log-events"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(out.Error, "log-events") {
		t.Errorf("log-events on a span-events worker: %d %+v", resp.StatusCode, out)
	}
}

func TestSearchBadRequests(t *testing.T) {
	for _, mode := range []pipeline.Mode{pipeline.ModeSpanEvents, pipeline.ModeLogEvents} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, mode, demo.Config{FailRate: 0.5})
			bodies := []string{
				`{`, `not json`, `{"query":"q"} {"query":"r"}`, `{"query":"q","fial":"ann:oom"}`,
				`{"query":""}`, `{"query":"  "}`,
				`{"query":"q","fail":"ann:oom"}`, `{"query":"q","fail":"nope"}`, `{"query":"q","fail":"client:stall"}`,
				`{"query":"q","mode":"x"}`,
			}
			if mode == pipeline.ModeSpanEvents {
				bodies = append(bodies, `{"query":"q","mode":"log-events"}`, `{"query":"q","mode":"mixed","fail":"ann:oom"}`)
			}
			for _, body := range bodies {
				resp, err := http.Post(e.srv.URL+"/search", "application/json", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				var out map[string]string
				_ = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest || out["error"] == "" || resp.Header.Get(pipeline.HeaderRunID) != "" {
					t.Errorf("%s: %d run %q %v", body, resp.StatusCode, resp.Header.Get(pipeline.HeaderRunID), out)
				}
			}
			for _, r := range []struct{ method, path string }{{"GET", "/search"}, {"POST", "/nope"}} {
				req, _ := http.NewRequest(r.method, e.srv.URL+r.path, strings.NewReader(`{"query":"q"}`))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode < 400 || resp.StatusCode >= 500 || resp.Header.Get(pipeline.HeaderRunID) != "" {
					t.Errorf("%s %s: %d run %q", r.method, r.path, resp.StatusCode, resp.Header.Get(pipeline.HeaderRunID))
				}
			}
			// A good request still makes its run; once it has ended, the
			// rejected requests' spans would have been exported too.
			resp, out := e.search(t, demo.Request{Query: "q", Fail: "ann:index_not_found"})
			id := resp.Header.Get(pipeline.HeaderRunID)
			if resp.StatusCode != http.StatusInternalServerError || out.RunID != id {
				t.Fatalf("good request: %d %+v", resp.StatusCode, out)
			}
			trace := e.h.WaitRun(t, id)[0].TraceID
			for _, ev := range e.h.Events() {
				if ev.RunID() != id {
					t.Errorf("step %s of run %q from a rejected request", ev.Kind, ev.RunID())
				}
			}
			spans := e.h.Spans.GetSpans()
			for _, sp := range spans {
				if sp.SpanContext.TraceID() != trace {
					t.Errorf("span %q from a rejected request", sp.Name)
				}
			}
			if len(spans) != 3 { // POST /search, embed.vllm, ann.faiss.search
				t.Errorf("%d spans, want the good run's 3", len(spans))
			}
		})
	}
	e := newEnv(t, pipeline.ModeSpanEvents, demo.Config{})
	resp, err := http.Get(e.srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(pipeline.HeaderRunID) != "" {
		t.Errorf("healthz: %d run %q", resp.StatusCode, resp.Header.Get(pipeline.HeaderRunID))
	}
}

func TestFailRate(t *testing.T) {
	e := newEnv(t, pipeline.ModeSpanEvents, demo.Config{FailRate: 1})
	codes := map[string]bool{}
	for i := 0; i < 20; i++ {
		resp, out := e.search(t, demo.Request{Query: "q"})
		if resp.StatusCode == 200 || out.ErrorCode == "" {
			t.Fatalf("fail rate 1 succeeded: %+v", out)
		}
		codes[out.ErrorCode] = true
	}
	if len(codes) < 3 {
		t.Errorf("injected codes not varied: %v", codes)
	}
	if _, err := demo.New(demo.Config{Telemetry: e.h.Telemetry, FailRate: 1.5}); err == nil {
		t.Error("fail rate 1.5 accepted")
	}
}

func TestClientGoesAway(t *testing.T) {
	e := newEnv(t, pipeline.ModeSpanEvents, demo.Config{Latency: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/search", strings.NewReader(`{"query":"q"}`))
	req.Header.Set(pipeline.HeaderRunID, "gone-2")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("request finished before the client went away")
	}
	evs := e.h.WaitRun(t, "gone-2")
	got := pipelinetest.Kinds(evs)
	if !reflect.DeepEqual(got, []string{"run.start", "embed.vllm.error", "retrieval.error", "run.end"}) {
		t.Fatalf("kinds = %v", got)
	}
	for _, ev := range evs[1:] {
		if ev.Status() != "cancelled" || ev.ErrorCode() != "cancelled" {
			t.Errorf("%s: %s %s", ev.Kind, ev.Status(), ev.ErrorCode())
		}
	}
}
