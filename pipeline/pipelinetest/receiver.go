package pipelinetest

import (
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
)

// Receiver is an in-process OTLP receiver (gRPC and HTTP/protobuf) on
// 127.0.0.1 that keeps what it receives, for tests of exporters and load
// generators.
type Receiver struct {
	// GRPCAddr is the host:port of the gRPC endpoint.
	GRPCAddr string
	// HTTPURL is the base URL of the HTTP endpoint (/v1/traces, /v1/logs).
	HTTPURL string

	mu       sync.Mutex
	traces   []ptrace.Traces
	logs     []plog.Logs
	paths    []string
	rejectFn func() error
}

type traceSrv struct {
	ptraceotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *traceSrv) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	if err := s.r.reject(); err != nil {
		return ptraceotlp.NewExportResponse(), err
	}
	s.r.addTraces(req.Traces(), "grpc:traces")
	return ptraceotlp.NewExportResponse(), nil
}

type logSrv struct {
	plogotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *logSrv) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	if err := s.r.reject(); err != nil {
		return plogotlp.NewExportResponse(), err
	}
	s.r.addLogs(req.Logs(), "grpc:logs")
	return plogotlp.NewExportResponse(), nil
}

// NewReceiver starts a Receiver; it stops when t ends.
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pipelinetest: listen: %v", err)
	}
	gs := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(gs, &traceSrv{r: r})
	plogotlp.RegisterGRPCServer(gs, &logSrv{r: r})
	go func() { _ = gs.Serve(gl) }()
	r.GRPCAddr = gl.Addr().String()

	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pipelinetest: listen: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, req *http.Request) {
		body, ok := readBody(w, req)
		if !ok {
			return
		}
		er := ptraceotlp.NewExportRequest()
		if err := er.UnmarshalProto(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.addTraces(er.Traces(), "http:traces")
		out, _ := ptraceotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})
	mux.HandleFunc("POST /v1/logs", func(w http.ResponseWriter, req *http.Request) {
		body, ok := readBody(w, req)
		if !ok {
			return
		}
		er := plogotlp.NewExportRequest()
		if err := er.UnmarshalProto(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.addLogs(er.Logs(), "http:logs")
		out, _ := plogotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})
	hs := &http.Server{Handler: mux}
	go func() { _ = hs.Serve(hl) }()
	r.HTTPURL = "http://" + hl.Addr().String()

	t.Cleanup(func() {
		gs.Stop()
		_ = hs.Close()
	})
	return r
}

func readBody(w http.ResponseWriter, req *http.Request) ([]byte, bool) {
	var rd io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return nil, false
		}
		rd = zr
	}
	body, err := io.ReadAll(rd)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

// RejectWith makes the gRPC endpoints answer each request with fn's error
// when it is not nil (nil fn accepts everything).
func (r *Receiver) RejectWith(fn func() error) {
	r.mu.Lock()
	r.rejectFn = fn
	r.mu.Unlock()
}

func (r *Receiver) reject() error {
	r.mu.Lock()
	fn := r.rejectFn
	r.mu.Unlock()
	if fn == nil {
		return nil
	}
	return fn()
}

func (r *Receiver) addTraces(td ptrace.Traces, path string) {
	c := ptrace.NewTraces()
	td.CopyTo(c)
	r.mu.Lock()
	r.traces = append(r.traces, c)
	r.paths = append(r.paths, path)
	r.mu.Unlock()
}

func (r *Receiver) addLogs(ld plog.Logs, path string) {
	c := plog.NewLogs()
	ld.CopyTo(c)
	r.mu.Lock()
	r.logs = append(r.logs, c)
	r.paths = append(r.paths, path)
	r.mu.Unlock()
}

// Traces returns the trace requests received, in arrival order.
func (r *Receiver) Traces() []ptrace.Traces {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ptrace.Traces(nil), r.traces...)
}

// Logs returns the log requests received, in arrival order.
func (r *Receiver) Logs() []plog.Logs {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]plog.Logs(nil), r.logs...)
}

// Requests returns "<transport>:<signal>" for every accepted request, in
// arrival order, e.g. "grpc:traces" or "http:logs".
func (r *Receiver) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.paths...)
}
