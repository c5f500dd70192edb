package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	logglobal "go.opentelemetry.io/otel/log/global"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/runledger/runledger/internal/stepschema"
)

// OTLP protocols accepted in Options.Protocol and OTEL_EXPORTER_OTLP_*PROTOCOL.
const (
	ProtocolGRPC         = "grpc"
	ProtocolHTTPProtobuf = "http/protobuf"
	ProtocolHTTPJSON     = "http/json"
)

// Options configures Setup. The zero value exports span events over
// OTLP/HTTP to localhost:4318 unless the environment says otherwise.
type Options struct {
	// ServiceName is service.name when neither OTEL_SERVICE_NAME nor
	// OTEL_RESOURCE_ATTRIBUTES sets it (the environment wins so operators
	// can rename a deployment); empty means the executable's name.
	ServiceName string
	// Mode is the emission mode; empty means ModeSpanEvents. ModeLogEvents
	// also sets up a LoggerProvider and an OTLP log exporter.
	Mode Mode
	// Protocol overrides OTEL_EXPORTER_OTLP_{TRACES,LOGS}_PROTOCOL and
	// OTEL_EXPORTER_OTLP_PROTOCOL: grpc, http/protobuf (the default, as in
	// the OpenTelemetry specification) or http/json (traces only).
	Protocol string
	// Endpoint overrides OTEL_EXPORTER_OTLP_*ENDPOINT: a base URL such as
	// "http://127.0.0.1:4317" (scheme http means no TLS); the exporters
	// add their default paths. When neither Endpoint nor an endpoint
	// variable is set, the exporters' localhost default is used without TLS.
	Endpoint string
	// ResourceAttributes are added to the resource (the environment wins).
	ResourceAttributes []attribute.KeyValue
	// SpanExporter, when set, replaces the OTLP trace exporter (tests,
	// stdout exporters).
	SpanExporter sdktrace.SpanExporter
	// LogExporter, when set, replaces the OTLP log exporter.
	LogExporter sdklog.Exporter
	// SyncExport exports each span and record as it ends instead of in
	// batches: for tests and short-lived tools, not for services.
	SyncExport bool
	// SkipGlobal keeps Setup from installing the providers and the W3C
	// trace-context + baggage propagator as the OpenTelemetry globals.
	SkipGlobal bool
}

// Telemetry is what Setup built: the providers, the Emitter for the chosen
// mode, and Shutdown.
type Telemetry struct {
	tp      *sdktrace.TracerProvider
	lp      *sdklog.LoggerProvider
	emitter *Emitter
}

// Setup configures OpenTelemetry for a runledger producer: a resource with
// service.name, a TracerProvider with the run-id span processor and an OTLP
// trace exporter (gRPC or HTTP per the protocol settings, which the
// exporters complete from the standard OTEL_EXPORTER_OTLP_* variables:
// endpoint, headers, TLS, timeout, compression), and in log-events mode a
// LoggerProvider with an OTLP log exporter. Unless opts.SkipGlobal it
// installs them as the OpenTelemetry globals. Call Shutdown to flush.
func Setup(ctx context.Context, opts Options) (*Telemetry, error) {
	mode, err := ParseMode(string(opts.Mode))
	if err != nil {
		return nil, err
	}
	name := opts.ServiceName
	if name == "" {
		name = filepath.Base(os.Args[0])
	}
	attrs := append([]attribute.KeyValue{attribute.String(stepschema.AttrServiceName, name)}, opts.ResourceAttributes...)
	res, err := resource.New(ctx,
		resource.WithAttributes(attrs...),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("pipeline: resource: %w", err)
	}

	spanExp := opts.SpanExporter
	if spanExp == nil {
		if spanExp, err = newSpanExporter(ctx, opts); err != nil {
			return nil, err
		}
	}
	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSpanProcessor(NewRunIDProcessor()),
	}
	if opts.SyncExport {
		tpOpts = append(tpOpts, sdktrace.WithSyncer(spanExp))
	} else {
		tpOpts = append(tpOpts, sdktrace.WithBatcher(spanExp))
	}
	t := &Telemetry{tp: sdktrace.NewTracerProvider(tpOpts...)}

	if mode == ModeLogEvents {
		logExp := opts.LogExporter
		if logExp == nil {
			if logExp, err = newLogExporter(ctx, opts); err != nil {
				_ = t.tp.Shutdown(ctx)
				return nil, err
			}
		}
		var proc sdklog.Processor
		if opts.SyncExport {
			proc = sdklog.NewSimpleProcessor(logExp)
		} else {
			proc = sdklog.NewBatchProcessor(logExp)
		}
		t.lp = sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(proc))
		t.emitter, _ = NewEmitter(mode, t.tp, t.lp)
	} else {
		t.emitter, _ = NewEmitter(mode, t.tp, nil)
	}

	if !opts.SkipGlobal {
		otel.SetTracerProvider(t.tp)
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
		if t.lp != nil {
			logglobal.SetLoggerProvider(t.lp)
		}
	}
	return t, nil
}

// TracerProvider returns the tracer provider.
func (t *Telemetry) TracerProvider() *sdktrace.TracerProvider { return t.tp }

// LoggerProvider returns the logger provider, nil in span-events mode.
func (t *Telemetry) LoggerProvider() *sdklog.LoggerProvider { return t.lp }

// Emitter returns the Emitter of the configured mode.
func (t *Telemetry) Emitter() *Emitter { return t.emitter }

// Context returns a copy of ctx whose steps are sent by t's Emitter; bind a
// run with WithRun or StartRun for jobs that do not come in over HTTP.
func (t *Telemetry) Context(ctx context.Context) context.Context {
	return ContextWithEmitter(ctx, t.emitter)
}

// Shutdown flushes and stops the providers; the spans and records still
// buffered are exported within ctx's deadline.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	if err := t.tp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("pipeline: tracer provider shutdown: %w", err))
	}
	if t.lp != nil {
		if err := t.lp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("pipeline: logger provider shutdown: %w", err))
		}
	}
	return errors.Join(errs...)
}

// protocol returns the OTLP protocol for signal ("TRACES" or "LOGS").
func protocol(opts Options, signal string) (string, error) {
	p := opts.Protocol
	if p == "" {
		p = os.Getenv("OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL")
	}
	if p == "" {
		p = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	p = strings.ToLower(strings.TrimSpace(p))
	switch p {
	case "":
		return ProtocolHTTPProtobuf, nil
	case ProtocolGRPC, ProtocolHTTPProtobuf:
		return p, nil
	case ProtocolHTTPJSON:
		if signal == "TRACES" {
			return p, nil
		}
	}
	return "", fmt.Errorf("pipeline: unsupported OTLP protocol %q for %s", p, strings.ToLower(signal))
}

// endpoint resolves Options.Endpoint to host:port and whether TLS is off.
// ok is false when the exporter should use its own settings; insecure is
// true when neither Options nor the environment names an endpoint (the
// exporters' default is localhost).
func endpoint(opts Options, signal string) (host string, insecure, ok bool, err error) {
	if opts.Endpoint != "" {
		u, err := url.Parse(opts.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return "", false, false, fmt.Errorf("pipeline: endpoint %q: want http://host:port or https://host:port", opts.Endpoint)
		}
		return u.Host, u.Scheme == "http", true, nil
	}
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") == "" {
		return "", true, false, nil
	}
	return "", false, false, nil
}

func newSpanExporter(ctx context.Context, opts Options) (sdktrace.SpanExporter, error) {
	proto, err := protocol(opts, "TRACES")
	if err != nil {
		return nil, err
	}
	host, insecure, ok, err := endpoint(opts, "TRACES")
	if err != nil {
		return nil, err
	}
	var exp sdktrace.SpanExporter
	if proto == ProtocolGRPC {
		var o []otlptracegrpc.Option
		if ok {
			o = append(o, otlptracegrpc.WithEndpoint(host))
		}
		if insecure {
			o = append(o, otlptracegrpc.WithInsecure())
		}
		exp, err = otlptracegrpc.New(ctx, o...)
	} else {
		var o []otlptracehttp.Option
		if ok {
			o = append(o, otlptracehttp.WithEndpoint(host))
		}
		if insecure {
			o = append(o, otlptracehttp.WithInsecure())
		}
		if proto == ProtocolHTTPJSON {
			o = append(o, otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON))
		}
		exp, err = otlptracehttp.New(ctx, o...)
	}
	if err != nil {
		return nil, fmt.Errorf("pipeline: OTLP trace exporter (%s): %w", proto, err)
	}
	return exp, nil
}

func newLogExporter(ctx context.Context, opts Options) (sdklog.Exporter, error) {
	proto, err := protocol(opts, "LOGS")
	if err != nil {
		return nil, err
	}
	host, insecure, ok, err := endpoint(opts, "LOGS")
	if err != nil {
		return nil, err
	}
	var exp sdklog.Exporter
	if proto == ProtocolGRPC {
		var o []otlploggrpc.Option
		if ok {
			o = append(o, otlploggrpc.WithEndpoint(host))
		}
		if insecure {
			o = append(o, otlploggrpc.WithInsecure())
		}
		exp, err = otlploggrpc.New(ctx, o...)
	} else {
		var o []otlploghttp.Option
		if ok {
			o = append(o, otlploghttp.WithEndpoint(host))
		}
		if insecure {
			o = append(o, otlploghttp.WithInsecure())
		}
		exp, err = otlploghttp.New(ctx, o...)
	}
	if err != nil {
		return nil, fmt.Errorf("pipeline: OTLP log exporter (%s): %w", proto, err)
	}
	return exp, nil
}
