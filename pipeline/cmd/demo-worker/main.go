// Command demo-worker is a simulated code-retrieval service instrumented
// with package pipeline. It serves POST /search, runs the retrieval stages
// (embed.vllm, ann.faiss.search, hydrate.duckdb, git.blame,
// retrieval.hybrid) as one run per request, injects failures on request or
// by rate, answers with X-Run-Id, and exports the step events over OTLP as
// configured by the standard OTEL_EXPORTER_OTLP_* variables (default
// OTLP/HTTP to localhost:4318).
//
//	go run ./pipeline/cmd/demo-worker
//	curl -si -XPOST localhost:8090/search -d '{"query":"faiss","fail":"ann.faiss.search:index_not_found"}'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/runledger/runledger/pipeline"
	"github.com/runledger/runledger/pipeline/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], nil)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo-worker:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// run serves until ctx ends; ready, when not nil, gets the listen address.
func run(ctx context.Context, args []string, ready func(addr string)) error {
	fs := flag.NewFlagSet("demo-worker", flag.ContinueOnError)
	listen := fs.String("listen", envOr("DEMO_WORKER_LISTEN", "127.0.0.1:8090"), "listen address (env DEMO_WORKER_LISTEN)")
	mode := fs.String("mode", envOr("DEMO_WORKER_MODE", string(pipeline.ModeSpanEvents)), "step emission mode: span-events or log-events (env DEMO_WORKER_MODE)")
	service := fs.String("service-name", "demo-worker", "service.name when OTEL_SERVICE_NAME is not set")
	latency := fs.Duration("latency", 3*time.Millisecond, "simulated work time of a typical stage")
	failRate := fs.Float64("fail-rate", 0, "fraction of requests (without an explicit fail) that fail at a random stage")
	seed := fs.Uint64("seed", 0, "seed for simulated sizes and injected failures (0 = random)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	m, err := pipeline.ParseMode(*mode)
	if err != nil {
		return err
	}
	log, err := zap.NewProduction()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	tel, err := pipeline.Setup(ctx, pipeline.Options{ServiceName: *service, Mode: m})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			log.Warn("telemetry shutdown", zap.Error(err))
		}
	}()
	svc, err := demo.New(demo.Config{Telemetry: tel, Latency: *latency, FailRate: *failRate, Seed: *seed})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *listen, err)
	}
	srv := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("demo-worker listening",
		zap.String("addr", ln.Addr().String()),
		zap.String("mode", string(m)),
		zap.String("otlp_endpoint", envOr("OTEL_EXPORTER_OTLP_ENDPOINT", "(exporter default, localhost)")),
		zap.String("otlp_protocol", envOr("OTEL_EXPORTER_OTLP_PROTOCOL", pipeline.ProtocolHTTPProtobuf)),
		zap.Duration("latency", *latency),
		zap.String("fail_rate", strconv.FormatFloat(*failRate, 'f', -1, 64)))

	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}
