package pipeline

import (
	"context"
	"errors"
	"fmt"
)

// Error codes that ErrorCode derives from standard errors.
const (
	// CodeTimeout is the code of context.DeadlineExceeded and of errors
	// whose Timeout method reports true (net.Error).
	CodeTimeout = "timeout"
	// CodeCancelled is the code of context.Canceled.
	CodeCancelled = "cancelled"
	// CodeUnknown is the code of an error that carries no code.
	CodeUnknown = "unknown"
)

// Coder is implemented by errors that carry a machine-readable error code,
// such as "index_not_found" or "http_503". ErrorCode finds it anywhere in the
// error chain.
type Coder interface {
	Code() string
}

// CodedError is an error with a machine-readable code. Create one with
// WithCode or Errorf.
type CodedError struct {
	code string
	err  error
}

// WithCode returns err annotated with code; nil stays nil.
func WithCode(code string, err error) error {
	if err == nil {
		return nil
	}
	return &CodedError{code: code, err: err}
}

// Errorf formats an error like fmt.Errorf (including %w wrapping) and
// attaches code to it.
func Errorf(code, format string, args ...any) error {
	return &CodedError{code: code, err: fmt.Errorf(format, args...)}
}

// Error returns the message of the wrapped error.
func (e *CodedError) Error() string { return e.err.Error() }

// Code returns the machine-readable code.
func (e *CodedError) Code() string { return e.code }

// Unwrap returns the wrapped error.
func (e *CodedError) Unwrap() error { return e.err }

// ErrorCode returns the code for err: the outermost non-empty Code() in the
// chain, else "timeout" for context.DeadlineExceeded or a Timeout() error,
// "cancelled" for context.Canceled, else "unknown". A nil error has code "".
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var c Coder
	if errors.As(err, &c) && c.Code() != "" {
		return c.Code()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout
	case errors.Is(err, context.Canceled):
		return CodeCancelled
	}
	var t interface{ Timeout() bool }
	if errors.As(err, &t) && t.Timeout() {
		return CodeTimeout
	}
	return CodeUnknown
}

// errorStatus returns the step status for a non-nil error: cancelled for
// context.Canceled (or an error coded "cancelled"), failed otherwise.
func errorStatus(err error) string {
	if errors.Is(err, context.Canceled) || ErrorCode(err) == CodeCancelled {
		return statusCancelled
	}
	return statusFailed
}
