// Package reportapi is a collector extension that serves run reports
// (docs/design.md §3, §4) over HTTP: the report of a run as JSON or Markdown,
// the run index with filters and cursor pagination, the raw ledger lines,
// and saving a report to the reports folder.
package reportapi

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/extension"

	"github.com/runledger/runledger/extension/reportapi/internal/metadata"
	"github.com/runledger/runledger/internal/ledgerstore"
	"github.com/runledger/runledger/internal/report"
)

// Defaults of the configuration.
const (
	DefaultEndpoint      = "localhost:4320"
	DefaultReportsDir    = "out/run_reports"
	DefaultIndexRefresh  = 500 * time.Millisecond
	DefaultTimelineLimit = report.DefaultTimelineLimit
	// DefaultMaxConcurrentReports is the default max_concurrent_reports.
	DefaultMaxConcurrentReports = 4
	// DefaultPeerTimeout is the default peer_timeout.
	DefaultPeerTimeout = 2 * time.Second
)

// NewFactory returns the factory of the reportapi extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	sc := confighttp.NewDefaultServerConfig()
	sc.NetAddr.Endpoint = DefaultEndpoint
	return &Config{
		ServerConfig:         sc,
		Settings:             ledgerstore.DefaultSettings(),
		ReportsDir:           DefaultReportsDir,
		StallAfter:           report.DefaultStallAfter,
		IndexRefresh:         DefaultIndexRefresh,
		TimelineLimit:        DefaultTimelineLimit,
		MaxConcurrentReports: DefaultMaxConcurrentReports,
		Federation:           Federation{PeerTimeout: DefaultPeerTimeout},
	}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newReportAPI(cfg.(*Config), set.TelemetrySettings)
}
