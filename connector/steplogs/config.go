package steplogs

import (
	"go.opentelemetry.io/collector/component"
)

// Config is the configuration of the steplogs connector.
type Config struct {
	// SpanRecords carries the span records of the single-node ledger
	// (design.md §2: the spans that hold step events and the ancestor
	// spans steproute passes on) as log records too, so that a gateway's
	// ledger has them; false carries step events only.
	SpanRecords bool `mapstructure:"span_records"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{SpanRecords: true}
}

// Validate checks the configuration. Every value of SpanRecords is valid;
// it exists so that the collector's config validation has one to call, as
// for every component of this repository.
func (cfg *Config) Validate() error { return nil }
