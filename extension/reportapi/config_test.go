package reportapi

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/runledger/runledger/internal/report"
)

func loadConfig(t *testing.T, id string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := cm.Sub(component.MustNewIDWithName("reportapi", id).String())
	if id == "" {
		sub, err = cm.Sub("reportapi")
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewFactory().CreateDefaultConfig()
	if err := sub.Unmarshal(&cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.(*Config)
}

func TestDefaultConfig(t *testing.T) {
	if err := componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, "")
	if cfg.ServerConfig.NetAddr.Endpoint != "localhost:4320" || cfg.Directory != "data/telemetry/runs" ||
		cfg.ReportsDir != "out/run_reports" || cfg.StallAfter != 5*time.Minute || cfg.IndexRefresh != 500*time.Millisecond ||
		cfg.TimelineLimit != 100 || len(cfg.Remediation.Rules) != 0 || len(cfg.AllowedHosts) != 0 ||
		cfg.MaxConcurrentReports != 4 || len(cfg.Peers) != 0 || cfg.PeerTimeout != 2*time.Second || cfg.PeerBearerToken != "" {
		t.Fatalf("defaults: %+v", cfg)
	}
	if err := confmap.Validate(cfg); err != nil {
		t.Fatal(err)
	}
	// An empty map keeps every default.
	def := NewFactory().CreateDefaultConfig()
	if err := confmap.New().Unmarshal(&def); err != nil {
		t.Fatal(err)
	}
}

func TestCustomConfig(t *testing.T) {
	cfg := loadConfig(t, "custom")
	if err := confmap.Validate(cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.ServerConfig.NetAddr.Endpoint != "127.0.0.1:9432" || cfg.Directory != "/var/lib/runledger/runs" ||
		cfg.ReportsDir != "/var/lib/runledger/reports" || cfg.StallAfter != 2*time.Minute || cfg.IndexRefresh != time.Second ||
		cfg.TimelineLimit != 500 || !cfg.ServerConfig.Auth.HasValue() || !cfg.ServerConfig.CORS.HasValue() ||
		strings.Join(cfg.AllowedHosts, ",") != "reports.example.com,ops.example.com:8443" || cfg.MaxConcurrentReports != 8 ||
		cfg.MaxOpenFiles != 1024 || cfg.Fsync != "always" || cfg.Retention != 168*time.Hour || cfg.DedupeWindow != 4096 ||
		cfg.FsyncInterval != time.Second || cfg.TraceURL != "http://jaeger:16686/trace/{trace_id}" ||
		strings.Join(cfg.Peers, ",") != "http://gateway-2:4320,https://gateway-3.example.com/runledger" ||
		cfg.PeerTimeout != 3*time.Second || string(cfg.PeerBearerToken) != "peer-secret" {
		t.Fatalf("custom: %+v", cfg)
	}
	want := []report.RemediationRule{
		{Stage: "embed", Code: "timeout", Text: "Page the GPU on-call; the vLLM pool is saturated."},
		{Stage: "ann.faiss.*", Code: "index_not_found|not_found", Text: "Run `make reindex` for the corpus."},
	}
	no := false
	want[1].Category, want[1].Retryable, want[1].Owner = "config", &no, "search-platform"
	if len(cfg.Remediation.Rules) != 2 || !reflect.DeepEqual(cfg.Remediation.Rules, want) {
		t.Fatalf("rules: %+v", cfg.Remediation.Rules)
	}
}

func TestInvalidConfig(t *testing.T) {
	err := confmap.Validate(loadConfig(t, "bad"))
	if err == nil {
		t.Fatal("bad config validated")
	}
	for _, want := range []string{`"directory" must not be empty`, `"max_open_files" must be at least 1`,
		`"fsync" must be one of never, interval, always; got "sometimes"`, `"retention" must be 0`, `"dedupe_window" must be between 0`, "stall_after", "index_refresh", "bad pattern",
		"allowed_hosts[0]", "allowed_hosts[1]", "max_concurrent_reports", "trace_url",
		`peers[0] "gateway-2:4320"`, `peers[1] "http://gateway-3:4320?x=1": must not have a query`, "peer_timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = ""
	cfg.ReportsDir = ""
	cfg.TimelineLimit = 0
	cfg.MaxConcurrentReports = MaxConcurrentReportsLimit + 1
	cfg.AllowedHosts = []string{"", "a b", "[::1", "host:99999", "::1", "[::1]:4320", "*", "localhost:4320"}
	err = cfg.Validate()
	for _, want := range []string{"allowed_hosts[0]", "allowed_hosts[1]", "allowed_hosts[2]", "allowed_hosts[3]", "max_concurrent_reports"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validate: %v does not mention %q", err, want)
		}
	}
	for _, ok := range []string{"allowed_hosts[4]", "allowed_hosts[5]", "allowed_hosts[6]", "allowed_hosts[7]"} {
		if err != nil && strings.Contains(err.Error(), ok) {
			t.Errorf("validate rejected a valid entry: %v", err)
		}
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "endpoint") ||
		!strings.Contains(err.Error(), "reports_dir") || !strings.Contains(err.Error(), "timeline_limit") {
		t.Fatalf("validate: %v", err)
	}
}
