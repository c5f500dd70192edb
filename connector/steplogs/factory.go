// Package steplogs implements the steplogs connector of runledger: it turns
// the step events of a traces or logs pipeline (after steproute, so run ids
// are resolved) into log records grouped one resource per run, the
// resource holding only run.id, in the format of internal/stepcarry. A
// Kafka exporter with partition_logs_by_resource_attributes then keys every
// event of one run alike, so that the run lands in one partition and is
// written by one gateway, whose jsonlledger exporter writes the same
// ledger lines a single node would (docs/scale-out.md).
package steplogs

import (
	"context"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/runledger/runledger/connector/steplogs/internal/metadata"
)

// NewFactory returns the factory of the steplogs connector.
func NewFactory() connector.Factory {
	return connector.NewFactory(
		metadata.Type,
		createDefaultConfig,
		connector.WithTracesToLogs(createTracesToLogs, metadata.TracesToLogsStability),
		connector.WithLogsToLogs(createLogsToLogs, metadata.LogsToLogsStability),
	)
}

func configOf(cfg component.Config) (*Config, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("steplogs: unexpected config type %T", cfg)
	}
	return c, nil
}

func newCarrier(set connector.Settings, cfg component.Config, next consumer.Logs) (carrier, error) {
	c, err := configOf(cfg)
	if err != nil {
		return carrier{}, err
	}
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return carrier{}, fmt.Errorf("steplogs telemetry: %w", err)
	}
	return carrier{next: next, spanRecords: c.SpanRecords, maxEventBytes: c.MaxEventBytes,
		tel: tel, logger: set.Logger, warned: new(atomic.Bool)}, nil
}

func createTracesToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Traces, error) {
	cr, err := newCarrier(set, cfg, next)
	if err != nil {
		return nil, err
	}
	return &tracesConnector{carrier: cr}, nil
}

func createLogsToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Logs, error) {
	cr, err := newCarrier(set, cfg, next)
	if err != nil {
		return nil, err
	}
	return &logsConnector{carrier: cr}, nil
}
