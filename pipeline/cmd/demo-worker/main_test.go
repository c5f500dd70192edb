package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/pipeline"
	"github.com/runledger/runledger/pipeline/pipelinetest"
)

func TestServeAndFlush(t *testing.T) {
	for _, mode := range []string{"span-events", "log-events"} {
		t.Run(mode, func(t *testing.T) {
			rcv := pipelinetest.NewReceiver(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.HTTPURL)
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
			t.Setenv("OTEL_SERVICE_NAME", "")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			addrc := make(chan string, 1)
			errc := make(chan error, 1)
			go func() {
				errc <- run(ctx, []string{"--listen", "127.0.0.1:0", "--mode", mode, "--latency", "1ms"}, func(a string) { addrc <- a })
			}()
			var addr string
			select {
			case addr = <-addrc:
			case err := <-errc:
				t.Fatal(err)
			}
			resp, err := http.Post("http://"+addr+"/search", "application/json",
				strings.NewReader(`{"query":"faiss","fail":"ann.faiss.search:index_not_found"}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			id := resp.Header.Get(pipeline.HeaderRunID)
			if resp.StatusCode != http.StatusInternalServerError || !pipeline.ValidRunID(id) {
				t.Fatalf("status %d run %q", resp.StatusCode, id)
			}
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("demo-worker did not stop")
			}
			// Shutdown flushed the run's steps to the receiver.
			var kinds []string
			for _, td := range rcv.Traces() {
				for _, rs := range td.ResourceSpans().All() {
					if v, _ := rs.Resource().Attributes().Get(stepschema.AttrServiceName); v.Str() != "demo-worker" {
						t.Errorf("service.name = %q", v.Str())
					}
					for _, ss := range rs.ScopeSpans().All() {
						for _, sp := range ss.Spans().All() {
							for _, ev := range sp.Events().All() {
								kinds = append(kinds, ev.Name())
							}
						}
					}
				}
			}
			for _, ld := range rcv.Logs() {
				for _, rl := range ld.ResourceLogs().All() {
					for _, sl := range rl.ScopeLogs().All() {
						for _, lr := range sl.LogRecords().All() {
							k, _ := lr.Attributes().Get(stepschema.AttrKind)
							kinds = append(kinds, k.Str())
						}
					}
				}
			}
			want := []string{"run.start", "embed.vllm", "ann.faiss.search.error", "retrieval.error", "run.end"}
			for _, k := range want {
				if !strings.Contains(" "+strings.Join(kinds, " ")+" ", " "+k+" ") {
					t.Errorf("%s not exported; got %v", k, kinds)
				}
			}
		})
	}
}

func TestBadFlags(t *testing.T) {
	if err := run(context.Background(), []string{"--mode", "metrics"}, nil); err == nil {
		t.Error("bad mode accepted")
	}
	if err := run(context.Background(), []string{"--fail-rate", "2", "--listen", "127.0.0.1:0"}, nil); err == nil {
		t.Error("fail rate 2 accepted")
	}
}
