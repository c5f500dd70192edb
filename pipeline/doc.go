// Package pipeline is the producer side of runledger: it lets an instrumented
// Go service emit step events (StepEvent contract v1, DESIGN.md §1) through
// the OpenTelemetry Go SDK, either as span events on the active span (the
// default) or as log records correlated with the active span (the
// forward-compatible "log-events" mode, OTEP 4430).
//
// A typical service:
//
//	tel, err := pipeline.Setup(ctx, pipeline.Options{ServiceName: "retriever"})
//	if err != nil { ... }
//	defer tel.Shutdown(context.Background())
//	http.ListenAndServe(addr, tel.Middleware(mux))
//
// and inside a handler:
//
//	err := pipeline.Stage(ctx, "ann.faiss.search", func(ctx context.Context) (pipeline.Step, error) {
//		hits, err := index.Search(ctx, vec, k)
//		return pipeline.Step{Sizes: map[string]float64{"hits": float64(len(hits))}}, err
//	})
//
// The middleware binds a run (X-Run-Id), starts the root span with run.id,
// emits run.start and run.end, and echoes X-Run-Id in the response.
package pipeline
