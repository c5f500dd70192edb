package runmetrics

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/runledger/runledger/connector/runmetrics/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	load := func(t *testing.T, name string) (*Config, error) {
		t.Helper()
		id := component.NewID(metadata.Type)
		if name != "" {
			id = component.NewIDWithName(metadata.Type, name)
		}
		sub, err := cm.Sub(id.String())
		require.NoError(t, err)
		cfg := createDefaultConfig()
		if err := sub.Unmarshal(cfg); err != nil {
			return nil, err
		}
		return cfg.(*Config), confmap.Validate(cfg)
	}

	t.Run("defaults", func(t *testing.T) {
		cfg, err := load(t, "")
		require.NoError(t, err)
		assert.Equal(t, createDefaultConfig(), cfg)
		assert.Equal(t, 1000, cfg.AggregationCardinalityLimit)
		assert.Equal(t, 15*time.Second, cfg.MetricsFlushInterval)
		assert.Equal(t, 20000, cfg.RunCacheSize)
		assert.Equal(t, 30*time.Minute, cfg.RunCacheTTL)
		assert.Equal(t, 2*time.Millisecond, cfg.Histogram.Explicit.Buckets[0])
	})

	t.Run("custom", func(t *testing.T) {
		cfg, err := load(t, "custom")
		require.NoError(t, err)
		want := &Config{
			Histogram: HistogramConfig{Explicit: ExplicitHistogramConfig{Buckets: []time.Duration{
				time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond, time.Second,
			}}},
			AggregationCardinalityLimit: 50,
			MetricsFlushInterval:        5 * time.Second,
			RunCacheSize:                200,
			RunCacheTTL:                 2 * time.Minute,
		}
		assert.Equal(t, want, cfg)
	})

	for _, tc := range []struct {
		name string
		errs []string
	}{
		{"bad_buckets", []string{
			"histogram::explicit::buckets must increase: 5ms after 10ms",
			"histogram::explicit::buckets[2] must be positive (got 0s)",
		}},
		{"no_buckets", []string{"histogram::explicit::buckets must name at least one bound"}},
		{"bad_limits", []string{
			"aggregation_cardinality_limit must be positive (got 0)",
			"metrics_flush_interval must be a positive duration (got 0s)",
			"run_cache_size must be positive (got -1)",
			"run_cache_ttl must be a positive duration (got -1s)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.name)
			require.Error(t, err)
			for _, e := range tc.errs {
				assert.Contains(t, err.Error(), e)
			}
		})
	}

	t.Run("unknown_key", func(t *testing.T) {
		_, err := load(t, "unknown_key")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "cardinality")
	})
}
