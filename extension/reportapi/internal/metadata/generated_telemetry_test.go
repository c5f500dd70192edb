package metadata

import (
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
)

func TestNewTelemetryBuilder(t *testing.T) {
	set := componenttest.NewNopTelemetrySettings()
	applied := false
	tb, err := NewTelemetryBuilder(set, telemetryBuilderOptionFunc(func(*TelemetryBuilder) { applied = true }))
	if err != nil || !applied || tb.ReportapiRequests == nil || tb.ReportapiIndexRuns == nil ||
		tb.ReportapiReportBuildDuration == nil || tb.ReportapiIndexRefreshErrors == nil {
		t.Fatalf("builder %+v err %v applied %v", tb, err, applied)
	}
	tb.Shutdown()
	if Type.String() != "reportapi" {
		t.Fatalf("type %s", Type)
	}
}
