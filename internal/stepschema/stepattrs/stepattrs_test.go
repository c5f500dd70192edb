package stepattrs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/runledger/runledger/internal/stepschema"
)

func event(t *testing.T, raw map[string]any) pcommon.Map {
	t.Helper()
	m := pcommon.NewMap()
	require.NoError(t, m.FromRaw(raw))
	return m
}

// Parse gives the exporter the step as the processor writes it, and the
// fixes it would count; on the processor's output it finds nothing to fix.
func TestParseMatchesNormalize(t *testing.T) {
	lim := Limits{MaxDetailBytes: 5, StatusAliases: map[string]string{"error": "failed"}}
	raw := map[string]any{
		"step.kind": "stage", "step.status": "error", "step.detail": "abcdef",
		"step.duration_ms": "12", "step.size.hits": "7", "step.size.ratio": 0.5, "step.size.bad": "x",
		"step.resource.model": 3, "step.error.code": "timeout", "run.id": "r\xff", "note": "kept",
	}
	orig := event(t, raw)
	s, fx := Parse(orig, pcommon.NewValueEmpty(), lim)
	assert.Equal(t, "stage", s.Kind)
	assert.Equal(t, "failed", s.Status)
	assert.Equal(t, "error", s.StatusRaw)
	assert.True(t, s.HasStatusRaw)
	assert.Equal(t, "abcde", s.Detail)
	assert.True(t, s.DetailTruncated)
	assert.True(t, s.HasDuration)
	assert.Equal(t, 12.0, s.DurationMS)
	assert.ElementsMatch(t, []Size{{Name: "hits", Int: 7, IsInt: true}, {Name: "ratio", Float: 0.5}}, s.Sizes)
	assert.Equal(t, []Resource{{Name: "model", Value: "3"}}, s.Resources)
	assert.Equal(t, "timeout", s.ErrorCode)
	assert.Equal(t, "r\uFFFD", s.RunID)

	m := pcommon.NewMap()
	orig.CopyTo(m)
	var got Fixes
	Normalize(m, "stage", pcommon.NewValueEmpty(), lim, new(Step), &got)
	assert.Equal(t, fx, got, "Parse and Normalize count the same fixes")
	for _, f := range []stepschema.Fix{stepschema.FixStatusAlias, stepschema.FixDetailTruncated, stepschema.FixDurationType,
		stepschema.FixSizeType, stepschema.FixSizeDropped, stepschema.FixResourceType, stepschema.FixInvalidUTF8} {
		assert.Equal(t, int64(1), got[f], f.String())
	}

	again, fx2 := Parse(m, pcommon.NewValueEmpty(), lim)
	assert.Equal(t, Fixes{}, fx2, "a normalised event needs no fix")
	assert.Equal(t, public(s), public(again))
}

// public drops what only Normalize reads.
func public(s Step) Step {
	s.dirty, s.statusRaw, s.detail, s.cut, s.namedFixes = false, false, false, false, false
	return s
}

// A log record's body is the detail when the attributes have none.
func TestParseBodyDetail(t *testing.T) {
	body := pcommon.NewValueStr("from the body")
	s, fx := Parse(event(t, map[string]any{"step.kind": "k"}), body, Limits{})
	assert.Equal(t, "from the body", s.Detail)
	assert.Equal(t, "ok", s.Status)
	assert.Equal(t, int64(1), fx[stepschema.FixStatusDefault])
}

// Attributes without a non-empty string step.kind are not a step.
func TestParseNotAStep(t *testing.T) {
	s, fx := Parse(event(t, map[string]any{"step.kind": 3, "step.status": "ok"}), pcommon.NewValueEmpty(), Limits{})
	assert.Equal(t, "", s.Kind)
	assert.Equal(t, Fixes{}, fx)
}

// error.type (semantic conventions) is the error code when step.error.code
// is absent; step.error.code wins when both are there; the normalised event
// carries step.error.code so downstream readers need no second rule.
func TestErrorTypeIsTheFallbackErrorCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  map[string]any
		want string
	}{
		{"error.type alone", map[string]any{"step.kind": "a", "error.type": "http_503"}, "http_503"},
		{"step.error.code wins", map[string]any{"step.kind": "a", "step.error.code": "oom", "error.type": "http_503"}, "oom"},
		{"non-string error.type ignored", map[string]any{"step.kind": "a", "error.type": 503}, ""},
		{"empty error.type ignored", map[string]any{"step.kind": "a", "error.type": ""}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := event(t, tc.raw)
			s, _ := Parse(m, pcommon.NewValueEmpty(), Limits{})
			assert.Equal(t, tc.want, s.ErrorCode)
			Normalize(m, "a", pcommon.NewValueEmpty(), Limits{}, new(Step), new(Fixes))
			v, ok := m.Get(stepschema.AttrErrorCode)
			if tc.want == "" {
				assert.False(t, ok && v.Str() != "", "no error code written")
				return
			}
			require.True(t, ok)
			assert.Equal(t, tc.want, v.Str())
			et, ok := m.Get(stepschema.AttrErrorType)
			require.True(t, ok, "error.type is kept")
			assert.Equal(t, tc.raw["error.type"], et.AsRaw())
		})
	}
}
