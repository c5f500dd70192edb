package steproute

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/runledger/runledger/processor/steproute/internal/metadata"
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
		assert.False(t, cfg.KeepNonStep)
		assert.Equal(t, 8192, cfg.MaxDetailBytes)
		assert.Equal(t, 128, cfg.MaxAttributes)
		assert.Equal(t, 100000, cfg.TraceCacheSize)
		assert.Equal(t, 10*time.Minute, cfg.TraceCacheTTL)
		assert.Equal(t, 10*time.Second, cfg.ResolveWait)
		assert.Equal(t, 500000, cfg.ResolveWaitMaxEvents)
		assert.Equal(t, FallbackTrace, cfg.Fallback)
		assert.Equal(t, []string{"run.id", "session.id", "gen_ai.conversation.id", "langfuse.session.id"}, cfg.RunIDKeys)
		assert.Equal(t, cfg.RunIDKeys, cfg.runIDKeys())
		assert.True(t, cfg.CaptureExceptions)
		assert.Equal(t, "step.kind", cfg.KindAttribute)
		assert.Equal(t, "step.", cfg.LogEventNamePrefix)
	})

	t.Run("custom", func(t *testing.T) {
		cfg, err := load(t, "custom")
		require.NoError(t, err)
		want := &Config{
			KeepNonStep:          true,
			MaxDetailBytes:       1024,
			MaxAttributes:        64,
			TraceCacheSize:       5000,
			TraceCacheTTL:        time.Minute,
			AncestorSpanMemory:   2000,
			ResolveWait:          500 * time.Millisecond,
			ResolveWaitMaxEvents: 2000,
			HoldDirectory:        "data/telemetry/hold",
			HoldFsync:            "interval",
			HoldFsyncInterval:    time.Second,
			HoldOnShutdown:       HoldOnShutdownKeep,
			Fallback:             FallbackFixed,
			FallbackRunID:        "unassigned",
			RunIDKeys:            []string{"run.id", "session.id", "gen_ai.conversation.id", "langfuse.session.id"},
			RunIDAttribute:       "session.id",
			CaptureExceptions:    false,
			KindAttribute:        "stage",
			LogEventNamePrefix:   "rl.",
			StatusAliases:        map[string]string{"error": "failed", "success": "ok"},
		}
		assert.Equal(t, want, cfg)
	})

	t.Run("nowait", func(t *testing.T) {
		cfg, err := load(t, "nowait")
		require.NoError(t, err)
		assert.Zero(t, cfg.ResolveWait)
	})

	invalid := []struct {
		name string
		errs []string
	}{
		{"negative_sizes", []string{
			"max_detail_bytes must not be negative (got -1)",
			"max_attributes must not be negative (got -5)",
			"trace_cache_size must be positive (got -1)",
			"resolve_wait_max_events must not be negative (got -1)",
		}},
		{"small_max_attributes", []string{"max_attributes must be 0 (no limit) or at least 16"}},
		{"empty_attribute_names", []string{"run_id_keys[1] must not be empty", "kind_attribute must not be empty"}},
		{"no_run_keys", []string{"run_id_keys must list at least one attribute"}},
		{"unknown_status", []string{
			`status_aliases: "error" maps to unknown status "broken"`,
			`status_aliases: "ok" is already a valid status`,
		}},
		{"bad_durations", []string{
			"trace_cache_ttl must be a positive duration (got 0s)",
			"resolve_wait must not be negative (got -1s)",
		}},
		{"wait_without_buffer", []string{"resolve_wait_max_events must be positive when resolve_wait is set"}},
		{"bad_fallback", []string{`fallback must be "trace" or "fixed" (got "random")`}},
		{"fixed_without_id", []string{"fallback: fixed needs a non-empty fallback_run_id"}},
		{"id_without_fixed", []string{`fallback_run_id "orphans" is only used with fallback: fixed`}},
		{"unparsable_duration", []string{"resolve_wait"}},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.name)
			require.Error(t, err)
			for _, want := range tc.errs {
				assert.ErrorContains(t, err, want)
			}
		})
	}
}

func TestConfigUnknownKey(t *testing.T) {
	cfg := createDefaultConfig()
	err := confmap.NewFromStringMap(map[string]any{"max_detail": 3}).Unmarshal(cfg)
	assert.ErrorContains(t, err, "max_detail")
}
