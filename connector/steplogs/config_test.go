package steplogs

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/runledger/runledger/connector/steplogs/internal/metadata"
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

	cfg, err := load(t, "")
	require.NoError(t, err)
	assert.Equal(t, createDefaultConfig(), cfg)
	assert.True(t, cfg.SpanRecords, "span records are carried by default")
	assert.Equal(t, 256<<10, cfg.MaxEventBytes)

	cfg, err = load(t, "custom")
	require.NoError(t, err)
	assert.False(t, cfg.SpanRecords)
	assert.Equal(t, 65536, cfg.MaxEventBytes)

	_, err = load(t, "bad_limit")
	require.ErrorContains(t, err, "max_event_bytes must be positive")

	_, err = load(t, "unknown_key")
	require.ErrorContains(t, err, "partitions")
}
