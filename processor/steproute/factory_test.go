package steproute

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pipeline"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/runledger/runledger/processor/steproute/internal/metadata"
)

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, metadata.Type, f.Type())
	assert.Equal(t, "steproute", f.Type().String())
	assert.Equal(t, metadata.TracesStability, f.TracesStability())
	assert.Equal(t, metadata.LogsStability, f.LogsStability())
	cfg := f.CreateDefaultConfig()
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	require.NoError(t, cfg.(*Config).Validate())

	_, err := f.CreateMetrics(context.Background(), nopSettings(), cfg, consumertest.NewNop())
	assert.ErrorIs(t, err, pipeline.ErrSignalNotSupported)

	tp, err := f.CreateTraces(context.Background(), nopSettings(), cfg, consumertest.NewNop())
	require.NoError(t, err)
	assert.True(t, tp.Capabilities().MutatesData)
}

func TestSharedInstancePerConfig(t *testing.T) {
	// One factory, two component configs: two instances with separate
	// memories.
	fac := NewFactory()
	cfgA, cfgB := createDefaultConfig(), createDefaultConfig()
	cfgA.(*Config).HoldDirectory = t.TempDir()
	cfgB.(*Config).HoldDirectory = t.TempDir()
	cfgB.(*Config).HoldOnShutdown = HoldOnShutdownFallback
	ctx := context.Background()
	tA, err := fac.CreateTraces(ctx, nopSettings(), cfgA, consumertest.NewNop())
	require.NoError(t, err)
	lA, err := fac.CreateLogs(ctx, nopSettings(), cfgA, consumertest.NewNop())
	require.NoError(t, err)
	lsinkB := new(consumertest.LogsSink)
	lB, err := fac.CreateLogs(ctx, nopSettings(), cfgB, lsinkB)
	require.NoError(t, err)
	host := componenttest.NewNopHost()
	require.NoError(t, tA.Start(ctx, host))
	require.NoError(t, lA.Start(ctx, host))
	require.NoError(t, lB.Start(ctx, host))

	// A run id seen by component A does not leak into component B.
	require.NoError(t, tA.ConsumeTraces(ctx, buildTraces(t, nil, spanSpec{trace: traceID(1), id: 1, attrs: map[string]any{"run.id": "r-a"}})))
	require.NoError(t, lB.ConsumeLogs(ctx, buildLogs(t, nil, recordSpec{trace: traceID(1), attrs: step("x")})))
	require.NoError(t, lB.Shutdown(ctx)) // flushes the held record with the fallback id
	got := logRecords(lsinkB)
	require.Len(t, got, 1)
	assert.Equal(t, fallbackT1, got[0]["run.id"])
	require.NoError(t, tA.Shutdown(ctx))
	require.NoError(t, lA.Shutdown(ctx))
}

func TestVerifyShutdown(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.HoldDirectory = t.TempDir()
	cfg.KeepNonStep = true // the generic test data has no step events
	processortest.VerifyShutdown(t, NewFactory(), cfg)
}
