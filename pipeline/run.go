package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/runledger/runledger/internal/stepschema"
)

// HeaderRunID is the HTTP header that carries a run id in requests and
// responses.
const HeaderRunID = "X-Run-Id"

// maxRunIDLen is the longest run id ValidRunID accepts.
const maxRunIDLen = 128

// run is the run bound to a context.
type run struct {
	id    string
	start time.Time
	ended atomic.Bool
}

type runKey struct{}

func runFrom(ctx context.Context) *run {
	r, _ := ctx.Value(runKey{}).(*run)
	return r
}

// WithRun returns a copy of ctx bound to the run id (a new id from NewRunID
// when id is empty): Emit stamps the id on every step, and the span
// processor from NewRunIDProcessor stamps it on every span started under
// the returned context. Use it for jobs that do not come in over HTTP; the
// id is not validated (see ValidRunID).
func WithRun(ctx context.Context, id string) context.Context {
	if id == "" {
		id = NewRunID()
	}
	return context.WithValue(ctx, runKey{}, &run{id: id, start: time.Now()})
}

// RunID returns the run id bound to ctx, or "".
func RunID(ctx context.Context) string {
	if r := runFrom(ctx); r != nil {
		return r.id
	}
	return ""
}

// StartRun binds ctx to the run id (keeping the run already bound when id is
// empty or equal to it, else binding a new run; a new id when there is none),
// sets run.id on the span in ctx and emits a run.start step. It returns the
// bound context, which EndRun needs.
func StartRun(ctx context.Context, id string) context.Context {
	if r := runFrom(ctx); r == nil || (id != "" && id != r.id) {
		ctx = WithRun(ctx, id)
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String(stepschema.AttrRunID, RunID(ctx)))
	Emit(ctx, Step{Kind: stepschema.KindRunStart})
	return ctx
}

// EndRun emits the run.end step of the run bound to ctx, with its duration
// since the run was bound. The status is the run's final status; when it is
// empty it comes from err: ok for nil, cancelled for context.Canceled,
// failed otherwise. A non-nil err also gives the error code and detail.
// Only the first EndRun of a run emits; it reports whether it did.
func EndRun(ctx context.Context, status string, err error) bool {
	s := Step{Kind: stepschema.KindRunEnd, Status: status}
	if r := runFrom(ctx); r != nil {
		if !r.ended.CompareAndSwap(false, true) {
			return false
		}
		s.Duration = time.Since(r.start)
	}
	if err != nil {
		s.ErrorCode = ErrorCode(err)
		s.Detail = err.Error()
		if s.Status == "" {
			s.Status = errorStatus(err)
		}
	}
	Emit(ctx, s)
	return true
}

func runEnded(ctx context.Context) bool {
	r := runFrom(ctx)
	return r != nil && r.ended.Load()
}

// crockford is the base32 alphabet of NewRunID (Crockford, no I L O U).
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewRunID returns a new 26-character run id that sorts by creation time
// (to the millisecond): like a ULID, 48 bits of Unix milliseconds followed
// by 80 random bits, in Crockford base32.
func NewRunID() string {
	return newRunID(time.Now())
}

func newRunID(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	// 128 bits -> 26 symbols of 5 bits; the first symbol holds 3 bits.
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// ValidRunID reports whether id may be used as a run id in X-Run-Id:
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ (which is also a safe ledger file name).
func ValidRunID(id string) bool {
	if id == "" || len(id) > maxRunIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// RunIDProcessor is an OpenTelemetry SpanProcessor that copies the run id
// bound to the parent context (WithRun, StartRun, the middleware) onto every
// span as it starts, so the collector never has to wait for the root span.
type RunIDProcessor struct{}

var _ sdktrace.SpanProcessor = RunIDProcessor{}

// NewRunIDProcessor returns the span processor that stamps run.id.
func NewRunIDProcessor() RunIDProcessor { return RunIDProcessor{} }

// OnStart sets run.id on s when parent is bound to a run.
func (RunIDProcessor) OnStart(parent context.Context, s sdktrace.ReadWriteSpan) {
	if id := RunID(parent); id != "" {
		s.SetAttributes(attribute.String(stepschema.AttrRunID, id))
	}
}

// OnEnd does nothing.
func (RunIDProcessor) OnEnd(sdktrace.ReadOnlySpan) {}

// Shutdown does nothing.
func (RunIDProcessor) Shutdown(context.Context) error { return nil }

// ForceFlush does nothing.
func (RunIDProcessor) ForceFlush(context.Context) error { return nil }
