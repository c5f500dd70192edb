package steproute

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/component"

	"github.com/runledger/runledger/internal/stepschema"
)

// Fallback modes for step events whose run id cannot be resolved.
const (
	// FallbackTrace names the run after the trace: "trace-<trace id hex>".
	FallbackTrace = "trace"
	// FallbackFixed uses the configured FallbackRunID for every such event.
	FallbackFixed = "fixed"
)

// What hold_on_shutdown does with held step events.
const (
	HoldOnShutdownKeep     = "keep"
	HoldOnShutdownFallback = "fallback"
)

// minMaxAttributes is the smallest usable attribute cap: the attributes the
// processor itself may write must always fit.
const minMaxAttributes = 16

// Config is the configuration of the steproute processor.
type Config struct {
	// KeepNonStep passes spans, span events and log records that are not
	// step events through unchanged instead of dropping them. Step events
	// are still normalised and get their run id.
	KeepNonStep bool `mapstructure:"keep_non_step"`
	// MaxDetailBytes truncates step.detail to this many bytes at a UTF-8
	// boundary and sets detail_truncated=true. 0 means no limit.
	MaxDetailBytes int `mapstructure:"max_detail_bytes"`
	// MaxAttributes caps the attributes of a step event; step.* and run.id
	// are kept first, other attributes in their order until the cap, and the
	// number dropped is written as attributes_dropped. 0 means no cap,
	// otherwise at least 16.
	MaxAttributes int `mapstructure:"max_attributes"`
	// TraceCacheSize bounds the per-trace run id memory (traces remembered).
	TraceCacheSize int `mapstructure:"trace_cache_size"`
	// TraceCacheTTL forgets a trace's run id when the trace was not seen for
	// this long.
	TraceCacheTTL time.Duration `mapstructure:"trace_cache_ttl"`
	// AncestorSpanMemory bounds how many wanted ancestor spans are
	// remembered: the parents of spans that carried step events, kept (without
	// events) when they arrive so that the run's ledger records its trace
	// up to the root. 0 keeps no ancestors.
	AncestorSpanMemory int `mapstructure:"ancestor_span_memory"`
	// ResolveWait is how long step events of a trace without a known run id
	// are held waiting for one; 0 disables waiting.
	ResolveWait time.Duration `mapstructure:"resolve_wait"`
	// ResolveWaitMaxEvents bounds the number of held step events; past it
	// the oldest held events are sent with the fallback run id.
	ResolveWaitMaxEvents int `mapstructure:"resolve_wait_max_events"`
	// HoldDirectory is where held step events are kept (the hold log)
	// until their run id arrives, so that nothing acknowledged is lost to
	// a crash or a restart.
	HoldDirectory string `mapstructure:"hold_directory"`
	// HoldFsync is the hold log's sync policy, as the ledgers' fsync:
	// always (before the request is acknowledged), interval or never.
	HoldFsync string `mapstructure:"hold_fsync"`
	// HoldFsyncInterval is the sync period with hold_fsync: interval.
	HoldFsyncInterval time.Duration `mapstructure:"hold_fsync_interval"`
	// HoldOnShutdown is keep (held events wait in the hold log for the next
	// start) or fallback (they are written with the fallback run id).
	HoldOnShutdown string `mapstructure:"hold_on_shutdown"`
	// Fallback is "trace" (run id "trace-<trace id hex>") or "fixed" (use
	// FallbackRunID).
	Fallback string `mapstructure:"fallback"`
	// FallbackRunID is the run id used when Fallback is "fixed".
	FallbackRunID string `mapstructure:"fallback_run_id"`
	// RunIDKeys are the attributes read, in order, on events, spans, log
	// records and resources to find the run id: on each level the first key
	// holding a valid id wins, and the event beats its span, which beats
	// its resource. The resolved id is always written as "run.id"; the key
	// it came from as "run_key" when that is not run.id.
	RunIDKeys []string `mapstructure:"run_id_keys"`
	// RunIDAttribute, when set, replaces RunIDKeys with this one key (the
	// setting of earlier releases).
	RunIDAttribute string `mapstructure:"run_id_attribute"`
	// CaptureExceptions makes recorded exceptions (span events named
	// "exception", error spans with exception.* attributes) on spans of a
	// known run failed steps of kind exception.
	CaptureExceptions bool `mapstructure:"capture_exceptions"`
	// KindAttribute is the attribute that marks a step event and names its
	// kind. The kind is always written as "step.kind".
	KindAttribute string `mapstructure:"kind_attribute"`
	// LogEventNamePrefix makes a log record whose event name (the record's
	// event_name field or its "event.name" attribute) starts with it a step
	// event, the kind being the rest of the name. Empty disables this route.
	LogEventNamePrefix string `mapstructure:"log_event_name_prefix"`
	// StatusAliases maps producer status values to contract statuses, e.g.
	// {error: failed, success: ok}. The original value is kept as status_raw.
	StatusAliases map[string]string `mapstructure:"status_aliases"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

// runIDKeys returns the keys read for a run id: run_id_attribute alone when
// set, else run_id_keys.
func (cfg *Config) runIDKeys() []string {
	if cfg.RunIDAttribute != "" {
		return []string{cfg.RunIDAttribute}
	}
	if len(cfg.RunIDKeys) == 0 {
		return []string{stepschema.AttrRunID}
	}
	return cfg.RunIDKeys
}

func createDefaultConfig() component.Config {
	return &Config{
		KeepNonStep:          false,
		MaxDetailBytes:       8192,
		MaxAttributes:        128,
		TraceCacheSize:       100000,
		TraceCacheTTL:        10 * time.Minute,
		AncestorSpanMemory:   100000,
		ResolveWait:          10 * time.Second,
		ResolveWaitMaxEvents: 500000,
		HoldDirectory:        "data/telemetry/hold",
		HoldFsync:            "interval",
		HoldFsyncInterval:    time.Second,
		HoldOnShutdown:       HoldOnShutdownKeep,
		Fallback:             FallbackTrace,
		RunIDKeys:            stepschema.DefaultRunIDKeys(),
		CaptureExceptions:    true,
		KindAttribute:        stepschema.AttrKind,
		LogEventNamePrefix:   "step.",
	}
}

// Validate checks the configuration and reports every problem found.
func (cfg *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if cfg.MaxDetailBytes < 0 {
		add("max_detail_bytes must not be negative (got %d); use 0 for no limit", cfg.MaxDetailBytes)
	}
	if cfg.MaxAttributes < 0 {
		add("max_attributes must not be negative (got %d); use 0 for no limit", cfg.MaxAttributes)
	} else if cfg.MaxAttributes > 0 && cfg.MaxAttributes < minMaxAttributes {
		add("max_attributes must be 0 (no limit) or at least %d so the step attributes fit (got %d)", minMaxAttributes, cfg.MaxAttributes)
	}
	if cfg.TraceCacheSize <= 0 {
		add("trace_cache_size must be positive (got %d)", cfg.TraceCacheSize)
	}
	if cfg.TraceCacheTTL <= 0 {
		add("trace_cache_ttl must be a positive duration (got %s)", cfg.TraceCacheTTL)
	}
	if cfg.AncestorSpanMemory < 0 {
		add("ancestor_span_memory must not be negative (got %d); use 0 to keep no ancestor spans", cfg.AncestorSpanMemory)
	}
	if cfg.ResolveWait < 0 {
		add("resolve_wait must not be negative (got %s); use 0 to disable waiting", cfg.ResolveWait)
	}
	if cfg.ResolveWaitMaxEvents < 0 {
		add("resolve_wait_max_events must not be negative (got %d)", cfg.ResolveWaitMaxEvents)
	} else if cfg.ResolveWait > 0 && cfg.ResolveWaitMaxEvents == 0 {
		add("resolve_wait_max_events must be positive when resolve_wait is set (got 0); set resolve_wait: 0 to disable waiting")
	}
	if cfg.ResolveWait > 0 {
		if strings.TrimSpace(cfg.HoldDirectory) == "" {
			add("hold_directory must be set when resolve_wait is set: held step events are stored there")
		}
		switch cfg.HoldFsync {
		case "always", "interval", "never":
		default:
			add("hold_fsync must be always, interval or never (got %q)", cfg.HoldFsync)
		}
		if cfg.HoldFsync == "interval" && cfg.HoldFsyncInterval <= 0 {
			add("hold_fsync_interval must be positive with hold_fsync: interval (got %s)", cfg.HoldFsyncInterval)
		}
		switch cfg.HoldOnShutdown {
		case HoldOnShutdownKeep, HoldOnShutdownFallback:
		default:
			add("hold_on_shutdown must be %q or %q (got %q)", HoldOnShutdownKeep, HoldOnShutdownFallback, cfg.HoldOnShutdown)
		}
	}
	switch cfg.Fallback {
	case FallbackTrace:
		if cfg.FallbackRunID != "" {
			add("fallback_run_id %q is only used with fallback: %s (fallback is %q)", cfg.FallbackRunID, FallbackFixed, cfg.Fallback)
		}
	case FallbackFixed:
		if strings.TrimSpace(cfg.FallbackRunID) == "" {
			add("fallback: %s needs a non-empty fallback_run_id", FallbackFixed)
		} else if !utf8.ValidString(cfg.FallbackRunID) {
			add("fallback_run_id must be valid UTF-8")
		}
	default:
		add("fallback must be %q or %q (got %q)", FallbackTrace, FallbackFixed, cfg.Fallback)
	}
	if cfg.RunIDAttribute == "" && len(cfg.RunIDKeys) == 0 {
		add("run_id_keys must list at least one attribute")
	}
	for i, k := range cfg.RunIDKeys {
		if strings.TrimSpace(k) == "" {
			add("run_id_keys[%d] must not be empty", i)
		}
	}
	if cfg.RunIDAttribute != "" && strings.TrimSpace(cfg.RunIDAttribute) == "" {
		add("run_id_attribute must not be blank")
	}
	if strings.TrimSpace(cfg.KindAttribute) == "" {
		add("kind_attribute must not be empty")
	}
	aliases := make([]string, 0, len(cfg.StatusAliases))
	for k := range cfg.StatusAliases {
		aliases = append(aliases, k)
	}
	sort.Strings(aliases)
	for _, k := range aliases {
		v := cfg.StatusAliases[k]
		if k == "" {
			add("status_aliases: empty status value cannot be aliased (absent or empty status is already ok)")
			continue
		}
		if stepschema.ValidStatus(k) {
			add("status_aliases: %q is already a valid status and cannot be aliased", k)
			continue
		}
		if !stepschema.ValidStatus(v) {
			add("status_aliases: %q maps to unknown status %q; use one of ok, failed, skipped, started, cancelled", k, v)
		}
	}
	return errors.Join(errs...)
}
