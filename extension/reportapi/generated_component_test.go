// Component tests in the shape mdatagen generates for an extension, written
// by hand because mdatagen is not available here.

package reportapi

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/runledger/runledger/extension/reportapi/internal/metadata"
)

func TestComponentFactoryType(t *testing.T) {
	require.Equal(t, "reportapi", NewFactory().Type().String())
}

func TestComponentConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}

// TestComponentConfigRoundTrip marshals the default config and reads it back.
func TestComponentConfigRoundTrip(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig()
	conf := confmap.New()
	require.NoError(t, conf.Marshal(cfg))
	back := NewFactory().CreateDefaultConfig()
	require.NoError(t, conf.Unmarshal(back))
	// A secret (configopaque) is marshalled masked, never as itself.
	require.Equal(t, configopaque.String("[REDACTED]"), back.(*Config).PeerBearerToken)
	back.(*Config).PeerBearerToken = cfg.(*Config).PeerBearerToken
	require.Equal(t, cfg, back)
}

func TestComponentLifecycle(t *testing.T) {
	factory := NewFactory()
	newCfg := func(t *testing.T) *Config {
		cfg := factory.CreateDefaultConfig().(*Config)
		cfg.ServerConfig.NetAddr.Endpoint = "127.0.0.1:0"
		cfg.Directory = filepath.Join(t.TempDir(), "runs")
		cfg.ReportsDir = filepath.Join(t.TempDir(), "reports")
		return cfg
	}
	t.Run("shutdown", func(t *testing.T) {
		e, err := factory.Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), newCfg(t))
		require.NoError(t, err)
		require.NoError(t, e.Shutdown(context.Background()))
	})
	t.Run("lifecycle", func(t *testing.T) {
		cfg := newCfg(t)
		first, err := factory.Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
		require.NoError(t, err)
		require.NoError(t, first.Start(context.Background(), componenttest.NewNopHost()))
		require.NoError(t, first.Shutdown(context.Background()))
		// Restarting on the same config works: the port and the directory
		// were released.
		second, err := factory.Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
		require.NoError(t, err)
		require.NoError(t, second.Start(context.Background(), componenttest.NewNopHost()))
		require.NoError(t, second.Shutdown(context.Background()))
	})
}
