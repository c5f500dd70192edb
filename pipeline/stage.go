package pipeline

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/codes"
)

// ErrorKindSuffix is appended to a stage's kind for the step that reports
// its failure: "embed.vllm" fails as "embed.vllm.error".
const ErrorKindSuffix = ".error"

// Track starts a child span named kind under ctx and times the stage. Call
// the returned end function exactly once (later calls do nothing) with the
// stage's step (may be nil) and error:
//
//   - err == nil: the step is emitted as given, Kind defaulting to kind and
//     Duration to the measured time;
//   - err != nil: the step is emitted as "<kind>.error" with status failed
//     (cancelled for context.Canceled), error code ErrorCode(err) unless the
//     step sets one, and detail err.Error() (after the step's own detail);
//     its sizes, resources and attributes are kept. The span records the
//     error and gets status Error.
//
// The step goes to the child span (or, in log-events mode, is correlated
// with it); then the span ends.
func Track(ctx context.Context, kind string) (context.Context, func(step *Step, err error)) {
	e := EmitterFromContext(ctx)
	ctx, span := e.tracer(ctx).Start(ctx, kind)
	start := time.Now()
	var once sync.Once
	return ctx, func(step *Step, err error) {
		once.Do(func() {
			var s Step
			if step != nil {
				s = *step
			}
			if s.Duration == 0 {
				s.Duration = time.Since(start)
			}
			if err == nil {
				if s.Kind == "" {
					s.Kind = kind
				}
			} else {
				s.Kind = kind + ErrorKindSuffix
				s.Status = errorStatus(err)
				if s.ErrorCode == "" {
					s.ErrorCode = ErrorCode(err)
				}
				if s.Detail == "" {
					s.Detail = err.Error()
				} else {
					s.Detail += ": " + err.Error()
				}
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			e.Emit(ctx, s)
			span.End()
		})
	}
}

// Stage runs fn as the stage kind: a child span, timing, and an ok step or a
// "<kind>.error" step as described for Track. It returns fn's error.
func Stage(ctx context.Context, kind string, fn func(ctx context.Context) (Step, error)) error {
	ctx, end := Track(ctx, kind)
	s, err := fn(ctx)
	end(&s, err)
	return err
}
