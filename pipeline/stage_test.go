package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/pipeline"
	"github.com/runledger/runledger/pipeline/pipelinetest"
)

func TestStage(t *testing.T) {
	for _, mode := range []pipeline.Mode{pipeline.ModeSpanEvents, pipeline.ModeLogEvents} {
		t.Run(string(mode), func(t *testing.T) {
			h := pipelinetest.New(t, mode)
			ctx := pipeline.WithRun(h.Context(context.Background()), "r-1")
			ctx, root := h.Telemetry.TracerProvider().Tracer("t").Start(ctx, "root")

			err := pipeline.Stage(ctx, "embed.vllm", func(ctx context.Context) (pipeline.Step, error) {
				time.Sleep(2 * time.Millisecond)
				return pipeline.Step{Sizes: map[string]float64{"vectors": 4}, Resources: map[string]string{"model": "bge-m3"}}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			errIdx := pipeline.Errorf("index_not_found", "open /idx/v3.faiss: no such file")
			err = pipeline.Stage(ctx, "ann.faiss.search", func(ctx context.Context) (pipeline.Step, error) {
				return pipeline.Step{Detail: "loading index", Resources: map[string]string{"index_version": "v3"}}, errIdx
			})
			if !errors.Is(err, errIdx) {
				t.Fatalf("Stage returned %v", err)
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_ = pipeline.Stage(cctx, "git.blame", func(ctx context.Context) (pipeline.Step, error) {
				return pipeline.Step{}, fmt.Errorf("blame: %w", ctx.Err())
			})
			tctx, cancel2 := context.WithTimeout(ctx, time.Nanosecond)
			defer cancel2()
			<-tctx.Done()
			_ = pipeline.Stage(tctx, "hydrate.duckdb", func(ctx context.Context) (pipeline.Step, error) {
				return pipeline.Step{}, ctx.Err()
			})
			root.End()

			evs := h.Events()
			if got, want := pipelinetest.Kinds(evs), []string{"embed.vllm", "ann.faiss.search.error", "git.blame.error", "hydrate.duckdb.error"}; !reflect.DeepEqual(got, want) {
				t.Fatalf("kinds = %v, want %v", got, want)
			}
			ok := evs[0]
			if ok.Status() != "ok" || ok.RunID() != "r-1" {
				t.Errorf("ok step = %v", ok.Attrs)
			}
			if d, _ := ok.Attr(stepschema.AttrDurationMS); d.Type() != attribute.FLOAT64 || d.AsFloat64() < 2 {
				t.Errorf("duration = %v", d)
			}
			failed := evs[1]
			detail := failed.Body
			if mode == pipeline.ModeSpanEvents {
				v, _ := failed.Attr(stepschema.AttrDetail)
				detail = v.AsString()
			}
			if failed.Status() != "failed" || failed.ErrorCode() != "index_not_found" ||
				detail != "loading index: open /idx/v3.faiss: no such file" {
				t.Errorf("failed step = %v body %q", failed.Attrs, failed.Body)
			}
			if v, _ := failed.Attr(stepschema.PrefixResource + "index_version"); v.AsString() != "v3" {
				t.Errorf("resources lost on failure: %v", failed.Attrs)
			}
			if evs[2].Status() != "cancelled" || evs[2].ErrorCode() != "cancelled" {
				t.Errorf("cancelled step = %v", evs[2].Attrs)
			}
			if evs[3].Status() != "failed" || evs[3].ErrorCode() != "timeout" {
				t.Errorf("timeout step = %v", evs[3].Attrs)
			}

			// Each stage ran in its own child span of root, named after the kind,
			// stamped with run.id; failures set the span status.
			spans := h.Spans.GetSpans()
			rootID := spans[len(spans)-1].SpanContext.SpanID()
			for i, name := range []string{"embed.vllm", "ann.faiss.search", "git.blame", "hydrate.duckdb"} {
				s := spans[i]
				if s.Name != name || s.Parent.SpanID() != rootID {
					t.Errorf("span %d = %q parent %v", i, s.Name, s.Parent.SpanID())
				}
				if evs[i].SpanID != s.SpanContext.SpanID() {
					t.Errorf("step %d not on its stage span", i)
				}
				wantCode := codes.Error
				if i == 0 {
					wantCode = codes.Unset
				}
				if s.Status.Code != wantCode {
					t.Errorf("span %s status = %v", name, s.Status)
				}
			}
		})
	}
}

func TestTrackEndOnce(t *testing.T) {
	h := pipelinetest.New(t, pipeline.ModeSpanEvents)
	ctx, root := h.Telemetry.TracerProvider().Tracer("t").Start(h.Context(context.Background()), "root")
	_, end := pipeline.Track(ctx, "git.blame")
	end(nil, nil)
	end(&pipeline.Step{Kind: "again"}, errors.New("late"))
	root.End()
	if got := pipelinetest.Kinds(h.Events()); !reflect.DeepEqual(got, []string{"git.blame"}) {
		t.Errorf("kinds = %v", got)
	}
	if n := len(h.Spans.GetSpans()); n != 2 {
		t.Errorf("spans = %d", n)
	}
}
