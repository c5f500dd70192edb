package runmetrics

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
)

// Config is the configuration of the runmetrics connector.
type Config struct {
	// Histogram configures runledger.step.duration.
	Histogram HistogramConfig `mapstructure:"histogram"`
	// AggregationCardinalityLimit bounds the distinct attribute sets of
	// each metric; observations of further sets go to one data point with
	// only the attribute otel.metric.overflow=true.
	AggregationCardinalityLimit int `mapstructure:"aggregation_cardinality_limit"`
	// MetricsFlushInterval is how often the cumulative metrics are sent to
	// the next consumer.
	MetricsFlushInterval time.Duration `mapstructure:"metrics_flush_interval"`
	// RunCacheSize bounds the runs with failures whose run.end has not come
	// yet (their per-run state, ~0.7 KiB each); the least recently seen is
	// dropped past it.
	RunCacheSize int `mapstructure:"run_cache_size"`
	// RunCacheTTL drops the per-run state of a run not seen for this long.
	RunCacheTTL time.Duration `mapstructure:"run_cache_ttl"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// HistogramConfig configures the step duration histogram.
type HistogramConfig struct {
	// Explicit sets the bucket bounds.
	Explicit ExplicitHistogramConfig `mapstructure:"explicit"`
}

// ExplicitHistogramConfig holds explicit bucket bounds, as the contrib
// spanmetrics connector spells them.
type ExplicitHistogramConfig struct {
	// Buckets are the upper bounds of the buckets, increasing; the
	// histogram is in milliseconds.
	Buckets []time.Duration `mapstructure:"buckets"`
}

var _ component.Config = (*Config)(nil)

// defaultBuckets suit retrieval stages: milliseconds for a cache hit to
// tens of seconds for a slow model call.
var defaultBuckets = []time.Duration{
	2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second, 30 * time.Second,
}

func createDefaultConfig() component.Config {
	return &Config{
		Histogram:                   HistogramConfig{Explicit: ExplicitHistogramConfig{Buckets: append([]time.Duration(nil), defaultBuckets...)}},
		AggregationCardinalityLimit: 1000,
		MetricsFlushInterval:        15 * time.Second,
		RunCacheSize:                20000,
		RunCacheTTL:                 30 * time.Minute,
	}
}

// Validate checks the configuration and reports every problem found.
func (cfg *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	b := cfg.Histogram.Explicit.Buckets
	if len(b) == 0 {
		add("histogram::explicit::buckets must name at least one bound")
	}
	for i, d := range b {
		switch {
		case d <= 0:
			add("histogram::explicit::buckets[%d] must be positive (got %s)", i, d)
		case i > 0 && d <= b[i-1]:
			add("histogram::explicit::buckets must increase: %s after %s", d, b[i-1])
		}
	}
	if cfg.AggregationCardinalityLimit <= 0 {
		add("aggregation_cardinality_limit must be positive (got %d): it bounds the connector's memory", cfg.AggregationCardinalityLimit)
	}
	if cfg.MetricsFlushInterval <= 0 {
		add("metrics_flush_interval must be a positive duration (got %s)", cfg.MetricsFlushInterval)
	}
	if cfg.RunCacheSize <= 0 {
		add("run_cache_size must be positive (got %d)", cfg.RunCacheSize)
	}
	if cfg.RunCacheTTL <= 0 {
		add("run_cache_ttl must be a positive duration (got %s)", cfg.RunCacheTTL)
	}
	return errors.Join(errs...)
}
