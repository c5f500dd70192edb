package jsonlledger

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/runledger/runledger/internal/ledgerstore"
)

// Defaults of Config.
const (
	defaultDirectory     = "data/telemetry/runs"
	defaultMaxOpenFiles  = 256
	defaultFsync         = "interval"
	defaultFsyncInterval = time.Second
	defaultRetention     = 720 * time.Hour
	defaultDedupeWindow  = 1024
	maxDedupeWindow      = 1 << 20
)

// Config is the configuration of the jsonlledger exporter.
type Config struct {
	// TimeoutConfig bounds one export (timeout, default 5s).
	TimeoutConfig exporterhelper.TimeoutConfig `mapstructure:",squash"`
	// QueueConfig is the standard sending_queue; off by default so that an
	// export is acknowledged only after its lines are written.
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// RetryConfig is the standard retry_on_failure (on by default): disk
	// errors are retried with back-off.
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	// Directory is the ledger root: <directory>/<YYYY-MM-DD>/<run>.jsonl.
	Directory string `mapstructure:"directory"`
	// MaxOpenFiles bounds open ledger files; idle ones are closed least
	// recently used first.
	MaxOpenFiles int `mapstructure:"max_open_files"`
	// Fsync is never, interval or always.
	Fsync string `mapstructure:"fsync"`
	// FsyncInterval is the period of fsync: interval.
	FsyncInterval time.Duration `mapstructure:"fsync_interval"`
	// Retention removes date folders older than this; 0 keeps everything.
	Retention time.Duration `mapstructure:"retention"`
	// DedupeWindow is how many most recent event ids per run are remembered
	// to drop redelivered events; 0 disables deduplication.
	DedupeWindow int `mapstructure:"dedupe_window"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{
		TimeoutConfig: exporterhelper.NewDefaultTimeoutConfig(),
		QueueConfig:   configoptional.Default(exporterhelper.NewDefaultQueueConfig()),
		RetryConfig:   configretry.NewDefaultBackOffConfig(),
		Directory:     defaultDirectory,
		MaxOpenFiles:  defaultMaxOpenFiles,
		Fsync:         defaultFsync,
		FsyncInterval: defaultFsyncInterval,
		Retention:     defaultRetention,
		DedupeWindow:  defaultDedupeWindow,
	}
}

// Validate checks the exporter's own settings (the collector validates the
// embedded exporterhelper settings).
func (c *Config) Validate() error {
	var errs []error
	if c.Directory == "" {
		errs = append(errs, errors.New(`"directory" must not be empty`))
	}
	if c.MaxOpenFiles < 1 {
		errs = append(errs, fmt.Errorf(`"max_open_files" must be at least 1, got %d`, c.MaxOpenFiles))
	}
	mode, err := ledgerstore.ParseFsyncMode(c.Fsync)
	if err != nil {
		errs = append(errs, fmt.Errorf(`"fsync" must be one of never, interval, always; got %q`, c.Fsync))
	}
	if err == nil && mode == ledgerstore.FsyncInterval && c.FsyncInterval <= 0 {
		errs = append(errs, fmt.Errorf(`"fsync_interval" must be positive with fsync: interval, got %s`, c.FsyncInterval))
	}
	if c.Retention < 0 {
		errs = append(errs, fmt.Errorf(`"retention" must be 0 (keep everything) or positive, got %s`, c.Retention))
	}
	if c.DedupeWindow < 0 || c.DedupeWindow > maxDedupeWindow {
		errs = append(errs, fmt.Errorf(`"dedupe_window" must be between 0 (off) and %d, got %d`, maxDedupeWindow, c.DedupeWindow))
	}
	return errors.Join(errs...)
}
