package steproute

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/runledger/runledger/internal/stepschema"
)

// checkNormalised returns an error describing how the attributes of an
// event (as pcommon.Map.AsRaw) break the normalised step event rules.
func checkNormalised(m map[string]any, cfg *Config) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if k, ok := m[stepschema.AttrKind].(string); !ok || k == "" {
		bad("step.kind %#v is not a non-empty string", m[stepschema.AttrKind])
	}
	if s, ok := m[stepschema.AttrStatus].(string); !ok || !stepschema.ValidStatus(s) {
		bad("step.status %#v is not a contract status", m[stepschema.AttrStatus])
	}
	if v, ok := m[stepschema.AttrDetail]; ok {
		s, isStr := v.(string)
		if !isStr {
			bad("step.detail %#v is not a string", v)
		} else if cfg.MaxDetailBytes > 0 && len(s) > cfg.MaxDetailBytes {
			bad("step.detail has %d bytes, limit %d", len(s), cfg.MaxDetailBytes)
		}
	}
	if v, ok := m[stepschema.AttrDurationMS]; ok {
		if f, isF := v.(float64); !isF || math.IsNaN(f) || math.IsInf(f, 0) {
			bad("step.duration_ms %#v is not a finite double", v)
		}
	}
	if v, ok := m[stepschema.AttrErrorCode]; ok {
		if _, isStr := v.(string); !isStr {
			bad("step.error.code %#v is not a string", v)
		}
	}
	if id, ok := m[stepschema.AttrRunID].(string); !ok || id == "" {
		bad("run.id %#v is not a non-empty string", m[stepschema.AttrRunID])
	}
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, stepschema.PrefixSize):
			if len(k) == len(stepschema.PrefixSize) {
				bad("size without a name")
			}
			switch x := v.(type) {
			case int64:
			case float64:
				if math.IsNaN(x) || math.IsInf(x, 0) {
					bad("%s %v is not finite", k, x)
				}
			default:
				bad("%s %#v is not a number", k, v)
			}
		case strings.HasPrefix(k, stepschema.PrefixResource):
			if len(k) == len(stepschema.PrefixResource) {
				bad("resource without a name")
			}
			if _, isStr := v.(string); !isStr {
				bad("%s %#v is not a string", k, v)
			}
		}
	}
	if err := checkUTF8(m); err != nil {
		bad("%v", err)
	}
	if cfg.MaxAttributes > 0 && len(m) > cfg.MaxAttributes {
		bad("%d attributes, limit %d", len(m), cfg.MaxAttributes)
	}
	return errors.Join(errs...)
}

func checkUTF8(v any) error {
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) {
			return fmt.Errorf("invalid UTF-8 string %q", x)
		}
	case map[string]any:
		for k, e := range x {
			if !utf8.ValidString(k) {
				return fmt.Errorf("invalid UTF-8 key %q", k)
			}
			if err := checkUTF8(e); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range x {
			if err := checkUTF8(e); err != nil {
				return err
			}
		}
	}
	return nil
}
