package steproute

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/internal/stepschema/stepattrs"
)

// normalizer applies the rules of the "normalised step event" to the
// attribute map of a span event or a log record. It is the single
// implementation of the rules for both signals and is safe for concurrent
// use (it holds only configuration).
type normalizer struct {
	limits        stepattrs.Limits
	kindAttr      string
	runKeys       runKeys
	logNamePrefix string
}

func newNormalizer(cfg *Config) normalizer {
	return normalizer{
		limits: stepattrs.Limits{
			MaxDetailBytes: cfg.MaxDetailBytes,
			MaxAttributes:  cfg.MaxAttributes,
			StatusAliases:  cfg.StatusAliases,
			RunIDKey:       cfg.runIDKeys()[0],
		},
		kindAttr:      cfg.KindAttribute,
		runKeys:       newRunKeys(cfg.runIDKeys()),
		logNamePrefix: cfg.LogEventNamePrefix,
	}
}

// eventKind returns the step kind of a span event or log record attribute
// map, "" when it is not a step event.
func (n *normalizer) eventKind(m pcommon.Map) string {
	v, ok := m.Get(n.kindAttr)
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return ""
	}
	return v.Str()
}

// logKind returns the step kind of a log record: the kind attribute, or
// the event name (event_name field, then "event.name" attribute) stripped
// of the configured prefix.
func (n *normalizer) logKind(attrs pcommon.Map, eventName string) string {
	if k := n.eventKind(attrs); k != "" {
		return k
	}
	if n.logNamePrefix == "" {
		return ""
	}
	name := eventName
	if name == "" {
		if v, ok := attrs.Get(stepschema.AttrEventName); ok && v.Type() == pcommon.ValueTypeStr {
			name = v.Str()
		}
	}
	if len(name) > len(n.logNamePrefix) && strings.HasPrefix(name, n.logNamePrefix) {
		return name[len(n.logNamePrefix):]
	}
	return ""
}

// runID returns the run id that m names through the configured keys (a
// string, invalid UTF-8 replaced), else "".
func (n *normalizer) runID(m pcommon.Map) string { return n.runKeys.lookup(m).id }

// runHit is runID with the key that gave the id and the previous run.
func (n *normalizer) runHit(m pcommon.Map) runHit { return n.runKeys.lookup(m) }

// normalize makes m (the attributes of a step event of the given kind) a
// normalised step event, except for run.id which the caller writes once it
// is resolved. body is the log record body (a zero Value for span events).
// scratch is reused between events; fixes are counted in fx.
func (n *normalizer) normalize(m pcommon.Map, kind string, body pcommon.Value, scratch *stepattrs.Step, fx *stepattrs.Fixes) {
	stepattrs.Normalize(m, kind, body, n.limits, scratch, fx)
}
