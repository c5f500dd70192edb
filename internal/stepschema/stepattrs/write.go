package stepattrs

import (
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/runledger/runledger/internal/stepschema"
)

// This file is Normalize's writing half: it changes the map to what read
// decided, and holds no rule of its own.

// write makes m hold what read found, in place; m is valid UTF-8 by now.
func (s *Step) write(m pcommon.Map, kind string) {
	if v, ok := m.Get(stepschema.AttrKind); !ok || v.Type() != pcommon.ValueTypeStr || v.Str() != kind {
		m.PutStr(stepschema.AttrKind, kind)
	}
	if v, ok := m.Get(stepschema.AttrStatus); !ok || v.Type() != pcommon.ValueTypeStr || v.Str() != s.Status {
		m.PutStr(stepschema.AttrStatus, s.Status)
	}
	if s.statusRaw {
		m.PutStr(stepschema.AttrStatusRaw, s.StatusRaw)
	}
	if s.detail {
		if v, ok := m.Get(stepschema.AttrDetail); !ok || v.Type() != pcommon.ValueTypeStr || v.Str() != s.Detail {
			m.PutStr(stepschema.AttrDetail, s.Detail)
		}
	}
	if s.cut {
		m.PutBool(stepschema.AttrDetailTruncated, true)
	}
	if v, ok := m.Get(stepschema.AttrDurationMS); ok {
		switch {
		case !s.HasDuration:
			m.Remove(stepschema.AttrDurationMS)
		case v.Type() != pcommon.ValueTypeDouble:
			v.SetDouble(s.DurationMS)
		}
	}
	if v, ok := m.Get(stepschema.AttrErrorCode); ok && v.Type() != pcommon.ValueTypeStr {
		v.SetStr(s.ErrorCode)
	}
	if s.errFromType {
		m.PutStr(stepschema.AttrErrorCode, s.ErrorCode)
	}
	if !s.namedFixes {
		return
	}
	// Sizes and Resources hold the kept attributes in map order, so one
	// walk pairs each attribute with its value or drops it.
	si, ri := 0, 0
	m.RemoveIf(func(k string, v pcommon.Value) bool {
		r := stepschema.Lookup(k)
		switch r.Field {
		case stepschema.FieldSize:
			if si >= len(s.Sizes) || r.Name == "" || s.Sizes[si].Name != r.Name {
				return true
			}
			sz := s.Sizes[si]
			si++
			switch {
			case sz.IsInt && v.Type() != pcommon.ValueTypeInt:
				v.SetInt(sz.Int)
			case !sz.IsInt && v.Type() != pcommon.ValueTypeDouble:
				v.SetDouble(sz.Float)
			}
		case stepschema.FieldResource:
			if ri >= len(s.Resources) || r.Name == "" || s.Resources[ri].Name != r.Name {
				return true
			}
			if v.Type() != pcommon.ValueTypeStr {
				v.SetStr(s.Resources[ri].Value)
			}
			ri++
		}
		return false
	})
}

// capAttributes removes the attributes of m beyond maxAttrs (keeping a slot
// for run.id when it is not there yet, and one for attributes_dropped),
// lowest rank first, and reports whether it did.
func capAttributes(m pcommon.Map, maxAttrs int) bool {
	if maxAttrs <= 0 {
		return false
	}
	reserve := 0
	if _, ok := m.Get(stepschema.AttrRunID); !ok {
		reserve = 1
	}
	if m.Len()+reserve <= maxAttrs {
		return false
	}
	var perRank [stepschema.NumRanks]int
	for k := range m.All() {
		if k != stepschema.AttrAttributesDropped {
			perRank[stepschema.Lookup(k).Rank()]++
		}
	}
	allow := stepschema.CapAllowance(perRank, maxAttrs-reserve-1)
	dropped := 0
	m.RemoveIf(func(k string, _ pcommon.Value) bool {
		if k == stepschema.AttrAttributesDropped {
			return true
		}
		r := stepschema.Lookup(k).Rank()
		if allow[r] > 0 {
			allow[r]--
			return false
		}
		dropped++
		return true
	})
	m.PutInt(stepschema.AttrAttributesDropped, int64(dropped))
	return true
}

// sanitizeValue replaces invalid UTF-8 in every string of v.
func sanitizeValue(v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if s := v.Str(); !utf8.ValidString(s) {
			v.SetStr(strings.ToValidUTF8(s, stepschema.ReplacementChar))
		}
	case pcommon.ValueTypeMap:
		sanitizeMap(v.Map())
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		for i := 0; i < s.Len(); i++ {
			sanitizeValue(s.At(i))
		}
	}
}

// sanitizeMap replaces invalid UTF-8 in the keys and values of m. A key
// that becomes equal to another one replaces it.
func sanitizeMap(m pcommon.Map) {
	var badKeys []string
	for k, v := range m.All() {
		if !utf8.ValidString(k) {
			badKeys = append(badKeys, k)
		}
		sanitizeValue(v)
	}
	for _, k := range badKeys {
		v, _ := m.Get(k)
		tmp := pcommon.NewValueEmpty()
		v.MoveTo(tmp)
		m.Remove(k)
		tmp.MoveTo(m.PutEmpty(strings.ToValidUTF8(k, stepschema.ReplacementChar)))
	}
}
