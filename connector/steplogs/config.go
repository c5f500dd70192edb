package steplogs

import (
	"fmt"

	"go.opentelemetry.io/collector/component"
)

// Config is the configuration of the steplogs connector.
type Config struct {
	// SpanRecords carries the span records of the single-node ledger
	// (design.md §2: the spans that hold step events and the ancestor
	// spans steproute passes on) as log records too, so that a gateway's
	// ledger has them; false carries step events only.
	SpanRecords bool `mapstructure:"span_records"`
	// MaxEventBytes bounds one step event's attributes (and log body),
	// keys and values counted. A larger event is dropped and counted
	// (otelcol_connector_steplogs_events_dropped): a Kafka message over
	// the broker's limit fails its whole batch, every run in it. Keep it
	// well below the kafka exporter's producer::max_message_bytes.
	MaxEventBytes int `mapstructure:"max_event_bytes"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{SpanRecords: true, MaxEventBytes: 256 << 10}
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	if cfg.MaxEventBytes <= 0 {
		return fmt.Errorf("max_event_bytes must be positive (got %d): it keeps one event from failing a Kafka message", cfg.MaxEventBytes)
	}
	return nil
}
