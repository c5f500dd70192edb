// Component tests in the shape mdatagen generates for a connector
// (metadata.yaml's tests section), written by hand because mdatagen is not
// available here.

package runmetrics

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/connector/runmetrics/internal/metadata"
)

func TestComponentFactoryType(t *testing.T) {
	require.Equal(t, "runmetrics", NewFactory().Type().String())
}

func TestComponentConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}

// TestComponentConfigRoundTrip marshals the default config and reads it back:
// every field has a mapstructure name that survives the trip.
func TestComponentConfigRoundTrip(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig()
	conf := confmap.New()
	require.NoError(t, conf.Marshal(cfg))
	back := NewFactory().CreateDefaultConfig()
	require.NoError(t, conf.Unmarshal(back))
	require.Equal(t, cfg, back)
}

func TestComponentLifecycle(t *testing.T) {
	factory := NewFactory()
	tests := []struct {
		name     string
		createFn func(ctx context.Context, set connector.Settings, cfg component.Config) (component.Component, error)
	}{
		{
			name: "logs_to_metrics",
			createFn: func(ctx context.Context, set connector.Settings, cfg component.Config) (component.Component, error) {
				return factory.CreateLogsToMetrics(ctx, set, cfg, consumertest.NewNop())
			},
		},
		{
			name: "traces_to_metrics",
			createFn: func(ctx context.Context, set connector.Settings, cfg component.Config) (component.Component, error) {
				return factory.CreateTracesToMetrics(ctx, set, cfg, consumertest.NewNop())
			},
		},
	}
	cm, err := confmaptest.LoadConf("metadata.yaml")
	require.NoError(t, err)
	sub, err := cm.Sub("tests::config")
	require.NoError(t, err)
	for _, tt := range tests {
		newCfg := func(t *testing.T) component.Config {
			cfg := factory.CreateDefaultConfig()
			require.NoError(t, sub.Unmarshal(&cfg))
			return cfg
		}
		t.Run(tt.name+"-shutdown", func(t *testing.T) {
			c, err := tt.createFn(context.Background(), connectortest.NewNopSettings(metadata.Type), newCfg(t))
			require.NoError(t, err)
			require.NoError(t, c.Shutdown(context.Background()))
		})
		t.Run(tt.name+"-lifecycle", func(t *testing.T) {
			cfg := newCfg(t)
			c, err := tt.createFn(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg)
			require.NoError(t, err)
			host := componenttest.NewNopHost()
			require.NoError(t, c.Start(context.Background(), host))
			require.NotPanics(t, func() {
				switch tt.name {
				case "logs_to_metrics":
					e, ok := c.(connector.Logs)
					require.True(t, ok)
					logs := plog.NewLogs()
					logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
					require.NoError(t, e.ConsumeLogs(context.Background(), logs))
				case "traces_to_metrics":
					e, ok := c.(connector.Traces)
					require.True(t, ok)
					traces := ptrace.NewTraces()
					traces.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
					require.NoError(t, e.ConsumeTraces(context.Background(), traces))
				}
			})
			require.NoError(t, c.Shutdown(context.Background()))
			// A second instance of the same config starts again.
			c2, err := tt.createFn(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg)
			require.NoError(t, err)
			require.NoError(t, c2.Start(context.Background(), host))
			require.NoError(t, c2.Shutdown(context.Background()))
		})
	}
}
