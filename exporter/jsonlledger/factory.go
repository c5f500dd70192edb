package jsonlledger

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/runledger/runledger/exporter/jsonlledger/internal/metadata"
	"github.com/runledger/runledger/internal/ledgerstore"
	"github.com/runledger/runledger/internal/sharedcomponent"
)

// NewFactory returns the factory of the jsonlledger exporter. The traces and
// logs exporters created for one config share one instance (one set of open
// files, one seq per run).
func NewFactory() exporter.Factory {
	return newFactory(nil)
}

// factory holds the registry of shared instances; it is created per
// NewFactory call, so there is no package-level state.
type factory struct {
	registry *sharedcomponent.Registry[component.Config, *ledgerExporter]
	fs       ledgerstore.FS // test seam; nil means the OS
}

func newFactory(fs ledgerstore.FS) exporter.Factory {
	f := &factory{registry: sharedcomponent.NewRegistry[component.Config, *ledgerExporter](), fs: fs}
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithTraces(f.createTraces, metadata.TracesStability),
		exporter.WithLogs(f.createLogs, metadata.LogsStability),
	)
}

func (f *factory) shared(set exporter.Settings, cfg component.Config) (*sharedcomponent.Component[*ledgerExporter], error) {
	return f.registry.LoadOrStore(cfg, func() (*ledgerExporter, error) {
		return newLedgerExporter(cfg.(*Config), set, f.fs)
	})
}

func (f *factory) createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	c, err := f.shared(set, cfg)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewTraces(ctx, set, cfg, c.Unwrap.consumeTraces, options(c, cfg.(*Config))...)
}

func (f *factory) createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c, err := f.shared(set, cfg)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewLogs(ctx, set, cfg, c.Unwrap.consumeLogs, options(c, cfg.(*Config))...)
}

// options wires one pipeline's handle on the shared instance: the files are
// opened by the first pipeline to start and closed by the last to stop, so a
// queue still draining at shutdown finds them open.
func options(c *sharedcomponent.Component[*ledgerExporter], cfg *Config) []exporterhelper.Option {
	return []exporterhelper.Option{
		exporterhelper.WithStart(c.Start),
		exporterhelper.WithShutdown(c.Shutdown),
		exporterhelper.WithTimeout(cfg.TimeoutConfig),
		exporterhelper.WithRetry(cfg.RetryConfig),
		exporterhelper.WithQueue(cfg.QueueConfig),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
	}
}
