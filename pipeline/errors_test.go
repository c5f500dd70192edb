package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/runledger/runledger/pipeline"
)

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func TestErrorCode(t *testing.T) {
	coded := pipeline.Errorf("index_not_found", "open %s: %w", "/idx", errors.New("no such file"))
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("boom"), "unknown"},
		{coded, "index_not_found"},
		{fmt.Errorf("search: %w", coded), "index_not_found"},
		{pipeline.WithCode("http_503", fmt.Errorf("post: %w", context.DeadlineExceeded)), "http_503"},
		{fmt.Errorf("embed: %w", context.DeadlineExceeded), "timeout"},
		{fmt.Errorf("embed: %w", context.Canceled), "cancelled"},
		{&net.OpError{Op: "read", Err: timeoutErr{}}, "timeout"},
		{pipeline.WithCode("", errors.New("empty code")), "unknown"},
	}
	for _, c := range cases {
		if got := pipeline.ErrorCode(c.err); got != c.want {
			t.Errorf("ErrorCode(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	if pipeline.WithCode("x", nil) != nil {
		t.Error("WithCode(nil) != nil")
	}
	if !errors.Is(coded, coded) || errors.Unwrap(coded) == nil || coded.Error() != "open /idx: no such file" {
		t.Errorf("coded error = %v", coded)
	}
}
