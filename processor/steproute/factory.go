// Package steproute implements the steproute processor of runledger: it
// keeps the step events (span events and log records) of OTLP traffic,
// normalises them to the StepEvent contract and resolves the run each one
// belongs to, writing it as the event attribute run.id.
package steproute

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/runledger/runledger/internal/sharedcomponent"
	"github.com/runledger/runledger/processor/steproute/internal/metadata"
)

// NewFactory returns the factory of the steproute processor. The traces and
// logs pipelines of one component ID share one instance: its per-trace run
// id memory and its hold buffer.
func NewFactory() processor.Factory {
	f := &factory{registry: sharedcomponent.NewRegistry[*Config, *core]()}
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithTraces(f.createTraces, metadata.TracesStability),
		processor.WithLogs(f.createLogs, metadata.LogsStability),
	)
}

type factory struct {
	registry *sharedcomponent.Registry[*Config, *core]
}

func (f *factory) shared(set processor.Settings, cfg component.Config) (*sharedcomponent.Component[*core], *telemetry, error) {
	pcfg, ok := cfg.(*Config)
	if !ok {
		return nil, nil, fmt.Errorf("steproute: unexpected config type %T", cfg)
	}
	comp, err := f.registry.LoadOrStore(pcfg, func() (*core, error) { return newCore(set, pcfg) })
	if err != nil {
		return nil, nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, nil, fmt.Errorf("steproute: create telemetry: %w", err)
	}
	return comp, newTelemetry(tb), nil
}

func (f *factory) createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	comp, tel, err := f.shared(set, cfg)
	if err != nil {
		return nil, err
	}
	p := &tracesProcessor{core: comp.Unwrap, next: next.ConsumeTraces, tel: tel, a: tracesSignal{}}
	comp.Unwrap.traces = p
	return processorhelper.NewTraces(ctx, set, cfg, next, func(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
		return tracesSignal{}.consume(ctx, p, td)
	},
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(comp.Start),
		processorhelper.WithShutdown(func(ctx context.Context) error {
			defer tel.tb.Shutdown()
			return comp.Shutdown(ctx)
		}),
	)
}

func (f *factory) createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	comp, tel, err := f.shared(set, cfg)
	if err != nil {
		return nil, err
	}
	p := &logsProcessor{core: comp.Unwrap, next: next.ConsumeLogs, tel: tel, a: logsSignal{}}
	comp.Unwrap.logs = p
	return processorhelper.NewLogs(ctx, set, cfg, next, func(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
		return logsSignal{}.consume(ctx, p, ld)
	},
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(comp.Start),
		processorhelper.WithShutdown(func(ctx context.Context) error {
			defer tel.tb.Shutdown()
			return comp.Shutdown(ctx)
		}),
	)
}
