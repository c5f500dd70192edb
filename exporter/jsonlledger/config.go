package jsonlledger

import (
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// defaultStore is the extension that owns the ledger directory unless the
// config names another: reportapi keeps the directory's settings and its
// run index.
var defaultStore = component.MustNewType("reportapi")

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

	// Store names the extension that owns the ledger directory (its
	// directory, fsync, max_open_files, retention and dedupe_window) and
	// the run index the writes update, the way exporterhelper's `storage`
	// names a storage extension. Default reportapi.
	Store component.ID `mapstructure:"store"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{
		TimeoutConfig: exporterhelper.NewDefaultTimeoutConfig(),
		QueueConfig:   configoptional.Default(exporterhelper.NewDefaultQueueConfig()),
		RetryConfig:   configretry.NewDefaultBackOffConfig(),
		Store:         component.NewID(defaultStore),
	}
}

// Validate checks the exporter's own settings (the collector validates the
// embedded exporterhelper settings; the store is checked at start, when the
// extensions exist).
func (c *Config) Validate() error {
	if c.Store.Type().String() == "" {
		return errors.New(`"store" must name the extension that owns the ledger directory, e.g. store: reportapi`)
	}
	return nil
}
