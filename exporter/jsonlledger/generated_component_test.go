// Component tests in the shape mdatagen generates for an exporter, written
// by hand because mdatagen is not available here.

package jsonlledger

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/exporter/jsonlledger/internal/metadata"
)

func TestComponentFactoryType(t *testing.T) {
	require.Equal(t, "jsonlledger", NewFactory().Type().String())
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
	// configoptional marshals a Default sending_queue as its value, which
	// reads back as set: a collector quirk, not a field of ours.
	back.(*Config).QueueConfig = cfg.(*Config).QueueConfig
	require.Equal(t, cfg, back)
}

func TestComponentLifecycle(t *testing.T) {
	factory := NewFactory()
	tests := []struct {
		name     string
		createFn func(ctx context.Context, set exporter.Settings, cfg component.Config) (component.Component, error)
	}{
		{
			name: "logs",
			createFn: func(ctx context.Context, set exporter.Settings, cfg component.Config) (component.Component, error) {
				return factory.CreateLogs(ctx, set, cfg)
			},
		},
		{
			name: "traces",
			createFn: func(ctx context.Context, set exporter.Settings, cfg component.Config) (component.Component, error) {
				return factory.CreateTraces(ctx, set, cfg)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name+"-shutdown", func(t *testing.T) {
			cfg := newTestCfg(t)
			c, err := tt.createFn(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg.Config)
			require.NoError(t, err)
			require.NoError(t, c.Shutdown(context.Background()))
		})
		t.Run(tt.name+"-lifecycle", func(t *testing.T) {
			cfg := newTestCfg(t)
			c, err := tt.createFn(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg.Config)
			require.NoError(t, err)
			require.NoError(t, c.Start(context.Background(), cfg.host(t)))
			require.NotPanics(t, func() {
				switch tt.name {
				case "logs":
					e, ok := c.(exporter.Logs)
					require.True(t, ok)
					logs := plog.NewLogs()
					logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
					require.NoError(t, e.ConsumeLogs(context.Background(), logs))
				case "traces":
					e, ok := c.(exporter.Traces)
					require.True(t, ok)
					traces := ptrace.NewTraces()
					traces.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
					require.NoError(t, e.ConsumeTraces(context.Background(), traces))
				}
			})
			require.NoError(t, c.Shutdown(context.Background()))
		})
	}
}
