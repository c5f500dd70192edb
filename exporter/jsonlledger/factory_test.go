package jsonlledger

import (
	"testing"

	"go.opentelemetry.io/collector/component"

	"github.com/runledger/runledger/exporter/jsonlledger/internal/metadata"
)

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type() != metadata.Type || f.Type().String() != "jsonlledger" {
		t.Fatalf("type %v", f.Type())
	}
	if f.TracesStability() != component.StabilityLevelDevelopment || f.LogsStability() != component.StabilityLevelDevelopment {
		t.Fatal("stability")
	}
	if f.MetricsStability() != component.StabilityLevelUndefined {
		t.Fatal("metrics are not supported")
	}
}
