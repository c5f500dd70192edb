package reportapi

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"

	"github.com/runledger/runledger/internal/ledgerstore"
	"github.com/runledger/runledger/internal/report"
)

// Config is the configuration of the reportapi extension.
type Config struct {
	// ServerConfig is the HTTP server: endpoint (default localhost:4320),
	// tls, cors, auth (a collector auth extension such as bearertokenauth),
	// timeouts... as for any collector HTTP server.
	ServerConfig confighttp.ServerConfig `mapstructure:",squash"`
	// Settings are the ledger directory this extension owns: directory
	// (default data/telemetry/runs), fsync, fsync_interval,
	// max_open_files, retention, dedupe_window. The jsonlledger exporter
	// writes it through this extension (`store: reportapi`).
	ledgerstore.Settings `mapstructure:",squash"`
	// ReportsDir is where POST /reports/runs/{run_id}/save writes
	// <run>.json and <run>.md (default out/run_reports).
	ReportsDir string `mapstructure:"reports_dir"`
	// StallAfter is how long a run without run.end may be silent before it
	// is reported as stalled (default 5m).
	StallAfter time.Duration `mapstructure:"stall_after"`
	// TraceURL links reports to the user's trace backend: a URL template
	// with a {trace_id} placeholder, e.g.
	// http://jaeger:16686/trace/{trace_id}; rendered as the report's
	// trace_urls. Empty for none.
	TraceURL string `mapstructure:"trace_url"`
	// IndexRefresh is the poll period of the run index (default 500ms).
	IndexRefresh time.Duration `mapstructure:"index_refresh"`
	// TimelineLimit is the default timeline page size of a report
	// (default 100; a request may ask for up to MaxTimelineLimit).
	TimelineLimit int `mapstructure:"timeline_limit"`
	// AllowedHosts lists extra Host header values the server answers
	// ("name" for any port, "name:port", or "*" for any Host), on top of
	// the endpoint's own host (and, for a loopback endpoint, every loopback
	// name). With an endpoint on all interfaces (empty host, 0.0.0.0, ::)
	// and no allowed_hosts, any Host is accepted; with allowed_hosts set,
	// only the loopback names and the listed hosts are. Other Hosts get
	// 403, which defeats DNS rebinding.
	AllowedHosts []string `mapstructure:"allowed_hosts"`
	// MaxConcurrentReports bounds the reports built at the same time
	// (report and save routes); past it the server answers 503 with
	// Retry-After: 1 (default 4).
	MaxConcurrentReports int `mapstructure:"max_concurrent_reports"`
	// Remediation extends or overrides the built-in remediation table.
	Remediation report.RemediationConfig `mapstructure:"remediation"`
	// Federation are the peers (other gateways' reportapi) asked about runs
	// this node does not hold, or holds only part of (federation.go).
	Federation `mapstructure:",squash"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// MaxTimelineLimit bounds the timeline page size (timeline_limit and the
// limit query parameter; a larger limit is rejected with 400).
const MaxTimelineLimit = 10000

// MaxTimelineOffset bounds the offset query parameter of a report.
const MaxTimelineOffset = 10_000_000

// MaxConcurrentReportsLimit bounds max_concurrent_reports.
const MaxConcurrentReportsLimit = 1024

var _ component.Config = (*Config)(nil)

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.ServerConfig.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint must not be empty"))
	}
	if cfg.ReportsDir == "" {
		errs = append(errs, errors.New("reports_dir must not be empty"))
	}
	if err := report.ValidateTraceURL(cfg.TraceURL); err != nil {
		errs = append(errs, err)
	}
	if cfg.StallAfter <= 0 {
		errs = append(errs, fmt.Errorf("stall_after must be positive, got %s", cfg.StallAfter))
	}
	if cfg.IndexRefresh < 10*time.Millisecond || cfg.IndexRefresh > time.Hour {
		errs = append(errs, fmt.Errorf("index_refresh must be between 10ms and 1h, got %s", cfg.IndexRefresh))
	}
	if cfg.TimelineLimit < 1 || cfg.TimelineLimit > MaxTimelineLimit {
		errs = append(errs, fmt.Errorf("timeline_limit must be between 1 and %d, got %d", MaxTimelineLimit, cfg.TimelineLimit))
	}
	if cfg.MaxConcurrentReports < 1 || cfg.MaxConcurrentReports > MaxConcurrentReportsLimit {
		errs = append(errs, fmt.Errorf("max_concurrent_reports must be between 1 and %d, got %d", MaxConcurrentReportsLimit, cfg.MaxConcurrentReports))
	}
	for i, h := range cfg.AllowedHosts {
		if _, err := parseAllowedHost(h); err != nil {
			errs = append(errs, fmt.Errorf("allowed_hosts[%d]: %w", i, err))
		}
	}
	if err := cfg.Remediation.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Federation.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
