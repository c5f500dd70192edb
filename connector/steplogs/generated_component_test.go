// Component tests in the shape mdatagen generates for a connector
// (metadata.yaml's tests section), written by hand because mdatagen is not
// available here.

package steplogs

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/connector/steplogs/internal/metadata"
)

func TestComponentFactoryType(t *testing.T) {
	require.Equal(t, "steplogs", NewFactory().Type().String())
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
	require.Equal(t, cfg, back)
}

func TestComponentLifecycle(t *testing.T) {
	factory := NewFactory()
	tests := []struct {
		name     string
		createFn func(ctx context.Context, set connector.Settings, cfg component.Config) (component.Component, error)
	}{
		{
			name: "logs_to_logs",
			createFn: func(ctx context.Context, set connector.Settings, cfg component.Config) (component.Component, error) {
				return factory.CreateLogsToLogs(ctx, set, cfg, consumertest.NewNop())
			},
		},
		{
			name: "traces_to_logs",
			createFn: func(ctx context.Context, set connector.Settings, cfg component.Config) (component.Component, error) {
				return factory.CreateTracesToLogs(ctx, set, cfg, consumertest.NewNop())
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name+"-lifecycle", func(t *testing.T) {
			cfg := factory.CreateDefaultConfig()
			c, err := tt.createFn(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg)
			require.NoError(t, err)
			host := componenttest.NewNopHost()
			require.NoError(t, c.Start(context.Background(), host))
			switch c := c.(type) {
			case connector.Traces:
				require.NoError(t, c.ConsumeTraces(context.Background(), ptrace.NewTraces()))
			case connector.Logs:
				require.NoError(t, c.ConsumeLogs(context.Background(), plog.NewLogs()))
			}
			require.NoError(t, c.Shutdown(context.Background()))
		})
	}
}
