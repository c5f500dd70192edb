// Package runmetrics implements the runmetrics connector of runledger: from
// the step events of a traces or logs pipeline (after steproute, so run ids
// are resolved) it produces cumulative metrics for dashboards and alerts:
// runledger.steps, runledger.step.duration and, on each run.end,
// runledger.runs with the run's final status and its stop reason as the run
// report names it.
package runmetrics

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/connector/runmetrics/internal/metadata"
	"github.com/runledger/runledger/internal/sharedcomponent"
)

// NewFactory returns the factory of the runmetrics connector. The traces
// and logs pipelines of one component ID share one instance, so a run
// whose steps travel as span events and log records has one per-run state
// and its metrics are counted once.
func NewFactory() connector.Factory {
	f := &factory{registry: sharedcomponent.NewRegistry[*Config, *core]()}
	return connector.NewFactory(
		metadata.Type,
		createDefaultConfig,
		connector.WithTracesToMetrics(f.createTracesToMetrics, metadata.TracesToMetricsStability),
		connector.WithLogsToMetrics(f.createLogsToMetrics, metadata.LogsToMetricsStability),
	)
}

type factory struct {
	registry *sharedcomponent.Registry[*Config, *core]
}

func (f *factory) shared(set connector.Settings, cfg component.Config, next consumer.Metrics) (*sharedcomponent.Component[*core], error) {
	ccfg, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("runmetrics: unexpected config type %T", cfg)
	}
	// Both pipelines feed the same metrics pipelines: the first one's
	// consumer is the instance's.
	return f.registry.LoadOrStore(ccfg, func() (*core, error) { return newCore(set, ccfg, next) })
}

func (f *factory) createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	comp, err := f.shared(set, cfg, next)
	if err != nil {
		return nil, err
	}
	return &tracesConnector{handle: handle{comp}}, nil
}

func (f *factory) createLogsToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Logs, error) {
	comp, err := f.shared(set, cfg, next)
	if err != nil {
		return nil, err
	}
	return &logsConnector{handle: handle{comp}}, nil
}

// handle is one pipeline's hold on the shared instance.
type handle struct {
	comp *sharedcomponent.Component[*core]
}

// Start starts the shared instance with its first pipeline.
func (h handle) Start(ctx context.Context, host component.Host) error { return h.comp.Start(ctx, host) }

// Shutdown stops the shared instance with its last pipeline.
func (h handle) Shutdown(ctx context.Context) error { return h.comp.Shutdown(ctx) }

// Capabilities says the connector only reads the data it is given.
func (handle) Capabilities() consumer.Capabilities { return consumer.Capabilities{MutatesData: false} }

type tracesConnector struct{ handle }

// ConsumeTraces aggregates the step events of td; it never fails.
func (c *tracesConnector) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return c.comp.Unwrap.consumeTraces(ctx, td)
}

type logsConnector struct{ handle }

// ConsumeLogs aggregates the step events of ld; it never fails.
func (c *logsConnector) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	return c.comp.Unwrap.consumeLogs(ctx, ld)
}
