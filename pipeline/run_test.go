package pipeline_test

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/pipeline"
	"github.com/runledger/runledger/pipeline/pipelinetest"
)

func TestNewRunID(t *testing.T) {
	re := regexp.MustCompile(`^[0-7][0-9A-HJKMNP-TV-Z]{25}$`)
	seen := map[string]bool{}
	var ids []string
	for i := 0; i < 200; i++ {
		id := pipeline.NewRunID()
		if !re.MatchString(id) || !pipeline.ValidRunID(id) {
			t.Fatalf("bad id %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		ids = append(ids, id)
		if i%50 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	// Ids from different milliseconds sort by time.
	if ids[0] >= ids[199] || ids[0][:10] == ids[199][:10] {
		t.Errorf("ids not time-ordered: %s .. %s", ids[0], ids[199])
	}
	a := pipeline.NewRunID()
	time.Sleep(2 * time.Millisecond)
	b := pipeline.NewRunID()
	if !sort.StringsAreSorted([]string{a, b}) {
		t.Errorf("%s !< %s", a, b)
	}
}

func TestValidRunID(t *testing.T) {
	long := make([]byte, 129)
	for i := range long {
		long[i] = 'a'
	}
	for id, want := range map[string]bool{
		"r-42": true, "01JD3X.run_1-a": true, "A": true, string(long[:128]): true,
		"": false, string(long): false, "-x": false, ".hidden": false, "..": false, "a/b": false,
		"a b": false, "ü": false, "run\n": false,
	} {
		if got := pipeline.ValidRunID(id); got != want {
			t.Errorf("ValidRunID(%q) = %v", id, got)
		}
	}
}

func TestWithRunAndRunID(t *testing.T) {
	ctx := context.Background()
	if pipeline.RunID(ctx) != "" {
		t.Fatal("run id without a run")
	}
	if got := pipeline.RunID(pipeline.WithRun(ctx, "job-1")); got != "job-1" {
		t.Errorf("RunID = %q", got)
	}
	if got := pipeline.RunID(pipeline.WithRun(ctx, "")); !pipeline.ValidRunID(got) || len(got) != 26 {
		t.Errorf("generated RunID = %q", got)
	}
}

func TestStartEndRunJob(t *testing.T) {
	h := pipelinetest.New(t, pipeline.ModeSpanEvents)
	tr := h.Telemetry.TracerProvider().Tracer("job")
	// A non-HTTP job: root span first, then StartRun binds and stamps it.
	ctx, root := tr.Start(h.Context(context.Background()), "nightly-reindex")
	ctx = pipeline.StartRun(ctx, "job-7")
	_, child := tr.Start(ctx, "child")
	child.End()
	if !pipeline.EndRun(ctx, "", errors.New("disk full")) {
		t.Error("first EndRun did not emit")
	}
	if pipeline.EndRun(ctx, "ok", nil) {
		t.Error("second EndRun emitted")
	}
	root.End()

	evs := h.Events()
	if got := pipelinetest.Kinds(evs); !reflect.DeepEqual(got, []string{stepschema.KindRunStart, stepschema.KindRunEnd}) {
		t.Fatalf("kinds = %v", got)
	}
	end := evs[1]
	if end.Status() != "failed" || end.ErrorCode() != "unknown" || end.RunID() != "job-7" {
		t.Errorf("run.end = %v", end.Attrs)
	}
	if _, ok := end.Attr(stepschema.AttrDurationMS); !ok {
		t.Errorf("run.end without duration: %v", end.Attrs)
	}
	for _, s := range h.Spans.GetSpans() {
		found := false
		for _, kv := range s.Attributes {
			if string(kv.Key) == stepschema.AttrRunID && kv.Value.AsString() == "job-7" {
				found = true
			}
		}
		if !found {
			t.Errorf("span %q without run.id: %v", s.Name, s.Attributes)
		}
	}
}

func TestEndRunStatusFromError(t *testing.T) {
	h := pipelinetest.New(t, pipeline.ModeLogEvents)
	for _, c := range []struct {
		status, wantStatus, wantCode string
		err                          error
	}{
		{"", "ok", "", nil},
		{"", "cancelled", "cancelled", context.Canceled},
		{"", "failed", "timeout", context.DeadlineExceeded},
		{"cancelled", "cancelled", "", nil},
	} {
		h.Logs.Reset()
		ctx := pipeline.StartRun(h.Context(context.Background()), "")
		pipeline.EndRun(ctx, c.status, c.err)
		evs := pipelinetest.Find(h.Events(), stepschema.KindRunEnd)
		if len(evs) != 1 || evs[0].Status() != c.wantStatus || evs[0].ErrorCode() != c.wantCode {
			t.Errorf("EndRun(%q, %v) = %v", c.status, c.err, evs)
		}
	}
}
