package steproute

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/runledger/runledger/internal/stepschema"
)

// attrAttributesDropped is written on a step event whose attributes were
// capped at max_attributes: the number of attributes removed.
const attrAttributesDropped = "attributes_dropped"

const replacementChar = "\uFFFD"

// fix names one kind of change made while normalising; each is counted in
// the normalization_fixes metric under attribute "fix" once per event.
type fix int

const (
	fixStatusDefault fix = iota
	fixStatusUnknown
	fixStatusAlias
	fixDetailTruncated
	fixDetailType
	fixInvalidUTF8
	fixDurationType
	fixDurationDropped
	fixSizeType
	fixSizeDropped
	fixResourceType
	fixResourceDropped
	fixErrorCodeType
	fixAttributesCapped
	numFixes
)

var fixNames = [numFixes]string{
	fixStatusDefault:    "status_default",
	fixStatusUnknown:    "status_unknown",
	fixStatusAlias:      "status_alias",
	fixDetailTruncated:  "detail_truncated",
	fixDetailType:       "detail_type",
	fixInvalidUTF8:      "invalid_utf8",
	fixDurationType:     "duration_type",
	fixDurationDropped:  "duration_dropped",
	fixSizeType:         "size_type",
	fixSizeDropped:      "size_dropped",
	fixResourceType:     "resource_type",
	fixResourceDropped:  "resource_dropped",
	fixErrorCodeType:    "error_code_type",
	fixAttributesCapped: "attributes_capped",
}

// normalizer applies the rules of the "normalised step event" to the
// attribute map of a span event or a log record. It is the single
// implementation of the rules for both signals and is safe for concurrent
// use (it holds only configuration).
type normalizer struct {
	maxDetail     int
	maxAttrs      int
	kindAttr      string
	runIDAttr     string
	logNamePrefix string
	aliases       map[string]string
}

func newNormalizer(cfg *Config) normalizer {
	return normalizer{
		maxDetail:     cfg.MaxDetailBytes,
		maxAttrs:      cfg.MaxAttributes,
		kindAttr:      cfg.KindAttribute,
		runIDAttr:     cfg.RunIDAttribute,
		logNamePrefix: cfg.LogEventNamePrefix,
		aliases:       cfg.StatusAliases,
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

// runID returns the configured run id attribute of m when it is a non-empty
// string (with invalid UTF-8 replaced), else "".
func (n *normalizer) runID(m pcommon.Map) string {
	v, ok := m.Get(n.runIDAttr)
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return ""
	}
	s := v.Str()
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, replacementChar)
	}
	return s
}

// setRunID writes the resolved run id under run.id, unless it is already
// there.
func setRunID(m pcommon.Map, id string) {
	if v, ok := m.Get(stepschema.AttrRunID); ok && v.Type() == pcommon.ValueTypeStr && v.Str() == id {
		return
	}
	m.PutStr(stepschema.AttrRunID, id)
}

// normalize makes m (the attributes of a step event of the given kind) a
// normalised step event, except for run.id which the caller writes once it
// is resolved (a slot is kept free for it under max_attributes). body is the
// log record body (a zero Value for span events). Fixes are counted in fx.
func (n *normalizer) normalize(m pcommon.Map, kind string, body pcommon.Value, fx *[numFixes]int64) {
	if n.clean(m, kind, body) {
		return
	}
	n.repair(m, kind, body, fx)
}

// clean reports whether m is already normalised, reading only. This is the
// hot path for well-behaved producers; it must never report true for an
// event that repair would change.
func (n *normalizer) clean(m pcommon.Map, kind string, body pcommon.Value) bool {
	if !utf8.ValidString(kind) {
		return false
	}
	if body.Type() != pcommon.ValueTypeEmpty && !validValue(body) {
		return false
	}
	var hasKind, hasStatus, hasDetail, hasRunID bool
	count := 0
	for k, v := range m.All() {
		count++
		if !utf8.ValidString(k) {
			return false
		}
		if len(k) < 5 || k[:5] != "step." {
			if k == stepschema.AttrRunID {
				hasRunID = true
			}
			if !validValue(v) {
				return false
			}
			continue
		}
		switch k {
		case stepschema.AttrKind:
			if v.Type() != pcommon.ValueTypeStr || v.Str() != kind {
				return false
			}
			hasKind = true
		case stepschema.AttrStatus:
			if v.Type() != pcommon.ValueTypeStr || !stepschema.ValidStatus(v.Str()) {
				return false
			}
			hasStatus = true
		case stepschema.AttrDetail:
			if v.Type() != pcommon.ValueTypeStr {
				return false
			}
			s := v.Str()
			if n.maxDetail > 0 && len(s) > n.maxDetail || !utf8.ValidString(s) {
				return false
			}
			hasDetail = true
		case stepschema.AttrDurationMS:
			if v.Type() != pcommon.ValueTypeDouble || !finite(v.Double()) {
				return false
			}
		case stepschema.AttrErrorCode:
			if v.Type() != pcommon.ValueTypeStr || !utf8.ValidString(v.Str()) {
				return false
			}
		default:
			switch {
			case strings.HasPrefix(k, stepschema.PrefixSize):
				if len(k) == len(stepschema.PrefixSize) {
					return false
				}
				switch v.Type() {
				case pcommon.ValueTypeInt:
				case pcommon.ValueTypeDouble:
					if !finite(v.Double()) {
						return false
					}
				default:
					return false
				}
			case strings.HasPrefix(k, stepschema.PrefixResource):
				if len(k) == len(stepschema.PrefixResource) || v.Type() != pcommon.ValueTypeStr || !utf8.ValidString(v.Str()) {
					return false
				}
			default:
				if !validValue(v) {
					return false
				}
			}
		}
	}
	if !hasKind || !hasStatus {
		return false
	}
	if !hasDetail && body.Type() == pcommon.ValueTypeStr && body.Str() != "" {
		return false
	}
	if !hasRunID {
		count++
	}
	return n.maxAttrs <= 0 || count <= n.maxAttrs
}

// repair applies every rule, writing only what needs to change.
func (n *normalizer) repair(m pcommon.Map, kind string, body pcommon.Value, fx *[numFixes]int64) {
	// Invalid UTF-8 anywhere: keys and string values, nested ones too, and
	// the log body.
	utf8Fixed := sanitizeMap(m)
	if body.Type() != pcommon.ValueTypeEmpty && sanitizeValue(body) {
		utf8Fixed = true
	}
	if !utf8.ValidString(kind) {
		kind = strings.ToValidUTF8(kind, replacementChar)
		utf8Fixed = true
	}
	if utf8Fixed {
		fx[fixInvalidUTF8]++
	}

	// step.kind, always under its contract key.
	if v, ok := m.Get(stepschema.AttrKind); !ok || v.Type() != pcommon.ValueTypeStr || v.Str() != kind {
		m.PutStr(stepschema.AttrKind, kind)
	}

	n.repairStatus(m, fx)
	n.repairDetail(m, body, fx)

	if v, ok := m.Get(stepschema.AttrDurationMS); ok {
		switch f, kept, changed := toDouble(v); {
		case !kept:
			m.Remove(stepschema.AttrDurationMS)
			fx[fixDurationDropped]++
		case changed:
			v.SetDouble(f)
			fx[fixDurationType]++
		}
	}
	if v, ok := m.Get(stepschema.AttrErrorCode); ok && v.Type() != pcommon.ValueTypeStr {
		v.SetStr(v.AsString())
		fx[fixErrorCodeType]++
	}

	var sizeType, sizeDropped, resType, resDropped bool
	m.RemoveIf(func(k string, v pcommon.Value) bool {
		switch {
		case strings.HasPrefix(k, stepschema.PrefixSize):
			if len(k) == len(stepschema.PrefixSize) {
				sizeDropped = true
				return true
			}
			switch v.Type() {
			case pcommon.ValueTypeInt:
				return false
			case pcommon.ValueTypeDouble:
				if finite(v.Double()) {
					return false
				}
				sizeDropped = true
				return true
			case pcommon.ValueTypeStr:
				s := strings.TrimSpace(v.Str())
				if i, err := strconv.ParseInt(s, 10, 64); err == nil {
					v.SetInt(i)
					sizeType = true
					return false
				}
				if f, err := strconv.ParseFloat(s, 64); err == nil && finite(f) {
					v.SetDouble(f)
					sizeType = true
					return false
				}
			}
			sizeDropped = true
			return true
		case strings.HasPrefix(k, stepschema.PrefixResource):
			if len(k) == len(stepschema.PrefixResource) {
				resDropped = true
				return true
			}
			if v.Type() != pcommon.ValueTypeStr {
				v.SetStr(v.AsString())
				resType = true
			}
		}
		return false
	})
	if sizeType {
		fx[fixSizeType]++
	}
	if sizeDropped {
		fx[fixSizeDropped]++
	}
	if resType {
		fx[fixResourceType]++
	}
	if resDropped {
		fx[fixResourceDropped]++
	}

	n.capAttributes(m, fx)
}

func (n *normalizer) repairStatus(m pcommon.Map, fx *[numFixes]int64) {
	v, ok := m.Get(stepschema.AttrStatus)
	if !ok || v.Type() == pcommon.ValueTypeStr && v.Str() == "" || v.Type() == pcommon.ValueTypeEmpty {
		m.PutStr(stepschema.AttrStatus, stepschema.StatusOK)
		fx[fixStatusDefault]++
		return
	}
	if v.Type() == pcommon.ValueTypeStr && stepschema.ValidStatus(v.Str()) {
		return
	}
	raw := v.AsString()
	status := stepschema.StatusOK
	if alias, ok := n.aliases[raw]; ok {
		status = alias
		fx[fixStatusAlias]++
	} else {
		fx[fixStatusUnknown]++
	}
	v.SetStr(status)
	raw, _ = truncateUTF8(raw, n.maxDetail)
	m.PutStr(stepschema.AttrStatusRaw, raw)
}

func (n *normalizer) repairDetail(m pcommon.Map, body pcommon.Value, fx *[numFixes]int64) {
	v, ok := m.Get(stepschema.AttrDetail)
	if !ok {
		if body.Type() != pcommon.ValueTypeStr || body.Str() == "" {
			return
		}
		m.PutStr(stepschema.AttrDetail, body.Str())
		v, _ = m.Get(stepschema.AttrDetail)
	}
	if v.Type() != pcommon.ValueTypeStr {
		v.SetStr(v.AsString())
		fx[fixDetailType]++
	}
	if s, cut := truncateUTF8(v.Str(), n.maxDetail); cut {
		v.SetStr(s)
		m.PutBool(stepschema.AttrDetailTruncated, true)
		fx[fixDetailTruncated]++
	}
}

// attribute priority under max_attributes: the contract keys first, then
// sizes and resources, then everything else.
func attrRank(k string) int {
	switch k {
	case stepschema.AttrKind, stepschema.AttrStatus, stepschema.AttrDetail, stepschema.AttrDurationMS,
		stepschema.AttrErrorCode, stepschema.AttrRunID, stepschema.AttrDetailTruncated, stepschema.AttrStatusRaw:
		return 0
	}
	if strings.HasPrefix(k, stepschema.PrefixSize) || strings.HasPrefix(k, stepschema.PrefixResource) {
		return 1
	}
	return 2
}

func (n *normalizer) capAttributes(m pcommon.Map, fx *[numFixes]int64) {
	if n.maxAttrs <= 0 {
		return
	}
	reserve := 0
	if _, ok := m.Get(stepschema.AttrRunID); !ok {
		reserve = 1 // run.id is written after normalising
	}
	total := m.Len()
	if total+reserve <= n.maxAttrs {
		return
	}
	// One slot for attributes_dropped; Validate guarantees the rank 0 keys
	// fit in what is left.
	budget := n.maxAttrs - reserve - 1
	var perRank [3]int
	for k := range m.All() {
		if k != attrAttributesDropped {
			perRank[attrRank(k)]++
		}
	}
	allow := [3]int{perRank[0], 0, 0}
	allow[1] = max(0, min(perRank[1], budget-allow[0]))
	allow[2] = max(0, budget-allow[0]-allow[1])
	dropped := 0
	m.RemoveIf(func(k string, _ pcommon.Value) bool {
		if k == attrAttributesDropped {
			return true
		}
		r := attrRank(k)
		if allow[r] > 0 {
			allow[r]--
			return false
		}
		dropped++
		return true
	})
	m.PutInt(attrAttributesDropped, int64(dropped))
	fx[fixAttributesCapped]++
}

// truncateUTF8 cuts s to at most limit bytes at a rune boundary; limit <= 0
// means no limit.
func truncateUTF8(s string, limit int) (string, bool) {
	if limit <= 0 || len(s) <= limit {
		return s, false
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], true
}

// toDouble coerces a duration value: doubles stay, ints and numeric strings
// become doubles; anything else (and non-finite numbers) is not kept.
func toDouble(v pcommon.Value) (f float64, kept, changed bool) {
	switch v.Type() {
	case pcommon.ValueTypeDouble:
		f = v.Double()
		return f, finite(f), false
	case pcommon.ValueTypeInt:
		return float64(v.Int()), true, true
	case pcommon.ValueTypeStr:
		f, err := strconv.ParseFloat(strings.TrimSpace(v.Str()), 64)
		if err == nil && finite(f) {
			return f, true, true
		}
	}
	return 0, false, false
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// validValue reports whether every string in v (nested ones and map keys
// included) is valid UTF-8.
func validValue(v pcommon.Value) bool {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return utf8.ValidString(v.Str())
	case pcommon.ValueTypeMap:
		for k, e := range v.Map().All() {
			if !utf8.ValidString(k) || !validValue(e) {
				return false
			}
		}
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		for i := 0; i < s.Len(); i++ {
			if !validValue(s.At(i)) {
				return false
			}
		}
	}
	return true
}

// sanitizeValue replaces invalid UTF-8 in every string of v and reports
// whether it changed anything.
func sanitizeValue(v pcommon.Value) bool {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if s := v.Str(); !utf8.ValidString(s) {
			v.SetStr(strings.ToValidUTF8(s, replacementChar))
			return true
		}
	case pcommon.ValueTypeMap:
		return sanitizeMap(v.Map())
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		changed := false
		for i := 0; i < s.Len(); i++ {
			if sanitizeValue(s.At(i)) {
				changed = true
			}
		}
		return changed
	}
	return false
}

// sanitizeMap replaces invalid UTF-8 in the keys and values of m. A key
// that becomes equal to another one replaces it.
func sanitizeMap(m pcommon.Map) bool {
	changed := false
	var badKeys []string
	for k, v := range m.All() {
		if !utf8.ValidString(k) {
			badKeys = append(badKeys, k)
		}
		if sanitizeValue(v) {
			changed = true
		}
	}
	for _, k := range badKeys {
		v, _ := m.Get(k)
		tmp := pcommon.NewValueEmpty()
		v.MoveTo(tmp)
		m.Remove(k)
		tmp.MoveTo(m.PutEmpty(strings.ToValidUTF8(k, replacementChar)))
		changed = true
	}
	return changed
}
