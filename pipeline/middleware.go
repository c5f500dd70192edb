package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/runledger/runledger/internal/stepschema"
)

// Middleware binds every request to a run and returns next wrapped:
//
//   - the run id is the request's X-Run-Id when present; an X-Run-Id that
//     is not a valid run id (ValidRunID) is rejected with 400 and a JSON
//     error body, so a caller never looks for a run under an id that was
//     silently replaced; without X-Run-Id a new id comes from NewRunID;
//   - X-Run-Id is set on the response before next runs;
//   - the root span (server kind, named "<method> <path>", carrying run.id)
//     is started as a child of the incoming trace context (global
//     propagator), the run and e are put in the request context, and
//     run.start is emitted;
//   - after next returns, run.end is emitted unless the handler already
//     called EndRun: cancelled when the client went away, failed with code
//     http_<status> for a 4xx/5xx response, ok otherwise.
//
// A nil e means span events with the global tracer provider.
func Middleware(next http.Handler, e *Emitter) http.Handler {
	if e == nil {
		e = defaultEmitter
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRunID)
		if id == "" {
			id = NewRunID()
		} else if !ValidRunID(id) {
			writeJSONError(w, http.StatusBadRequest,
				fmt.Sprintf("invalid %s: must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", HeaderRunID))
			return
		}
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx = ContextWithEmitter(ctx, e)
		ctx = WithRun(ctx, id)
		ctx, span := e.tracer(ctx).Start(ctx, r.Method+" "+r.URL.Path,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String(stepschema.AttrRunID, id),
				attribute.String("http.request.method", r.Method),
				attribute.String("url.path", r.URL.Path)))
		w.Header().Set(HeaderRunID, id)
		ctx = StartRun(ctx, id)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				EndRun(ctx, statusFailed, Errorf("panic", "handler panic: %v", p))
				span.SetStatus(codes.Error, "panic")
				span.End()
				panic(p)
			}
			code := sw.status()
			span.SetAttributes(attribute.Int("http.response.status_code", code))
			if code >= 500 {
				span.SetStatus(codes.Error, http.StatusText(code))
			}
			if !runEnded(ctx) {
				switch {
				case errors.Is(r.Context().Err(), context.Canceled):
					EndRun(ctx, "", r.Context().Err())
				case code >= 400:
					EndRun(ctx, statusFailed, Errorf("http_"+strconv.Itoa(code), "HTTP %d %s", code, http.StatusText(code)))
				default:
					EndRun(ctx, statusOK, nil)
				}
			}
			span.End()
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// Middleware wraps next like the package-level Middleware, with t's
// tracer provider and emission mode.
func (t *Telemetry) Middleware(next http.Handler) http.Handler {
	return Middleware(next, t.emitter)
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// statusWriter records the response status code.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
