package stepschema

import (
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is the rule book of a step event: which attribute means what
// (Lookup), how each value is coerced, cut and capped, and the names of the
// fixes counted when a value had to change. The pdata walk that applies it
// is stepattrs; it holds no rule of its own.

// Field says what an attribute key means to a step.
type Field uint8

// Step fields, one per row of Lookup.
const (
	// FieldOther is any key the contract does not name: kept as is.
	FieldOther Field = iota
	// FieldUndefined is a "step." key the contract does not define: the
	// processor keeps it, the ledger does not write it.
	FieldUndefined
	FieldKind
	FieldStatus
	FieldDetail
	FieldDurationMS
	FieldErrorCode
	// FieldSize is a step.size.<name> key; its value must be a finite number.
	FieldSize
	// FieldResource is a step.resource.<name> key; its value is a string.
	FieldResource
	FieldRunID
	FieldDetailTruncated
	FieldStatusRaw
	FieldAttributesDropped
)

// Ranks order attributes under the attribute cap: lower ranks are kept first.
const (
	// RankContract keys always survive the cap.
	RankContract = iota
	// RankNamed are sizes and resources, kept before other attributes.
	RankNamed
	// RankOther is everything else, kept in its order until the cap.
	RankOther
	// NumRanks is the number of ranks.
	NumRanks
)

// AttrAttributesDropped is written on a step event whose attributes were
// capped: the number of attributes removed.
const AttrAttributesDropped = "attributes_dropped"

// Rule is what the contract says about one attribute key.
type Rule struct {
	Field Field
	// Name is the part of the key after its prefix (sizes and resources).
	Name string
}

// Rank is the key's priority under the attribute cap.
func (r Rule) Rank() int {
	switch r.Field {
	case FieldKind, FieldStatus, FieldDetail, FieldDurationMS, FieldErrorCode,
		FieldRunID, FieldDetailTruncated, FieldStatusRaw:
		return RankContract
	case FieldSize, FieldResource:
		return RankNamed
	}
	return RankOther
}

const stepPrefix = "step."

// Lookup returns the rule of attribute key k. It is the one table of step
// keys: every key or prefix the contract names has its row here.
func Lookup(k string) Rule {
	if len(k) < len(stepPrefix) || k[:len(stepPrefix)] != stepPrefix {
		switch k {
		case AttrRunID:
			return Rule{Field: FieldRunID}
		case AttrDetailTruncated:
			return Rule{Field: FieldDetailTruncated}
		case AttrStatusRaw:
			return Rule{Field: FieldStatusRaw}
		case AttrAttributesDropped:
			// Rewritten by the cap, so it never counts against it.
			return Rule{Field: FieldAttributesDropped}
		}
		return Rule{Field: FieldOther}
	}
	switch k {
	case AttrKind:
		return Rule{Field: FieldKind}
	case AttrStatus:
		return Rule{Field: FieldStatus}
	case AttrDetail:
		return Rule{Field: FieldDetail}
	case AttrDurationMS:
		return Rule{Field: FieldDurationMS}
	case AttrErrorCode:
		return Rule{Field: FieldErrorCode}
	}
	if strings.HasPrefix(k, PrefixSize) {
		return Rule{Field: FieldSize, Name: k[len(PrefixSize):]}
	}
	if strings.HasPrefix(k, PrefixResource) {
		return Rule{Field: FieldResource, Name: k[len(PrefixResource):]}
	}
	return Rule{Field: FieldUndefined}
}

// Fix names one kind of change made to a step event to make it follow the
// contract; the processor counts each kind once per event.
type Fix uint8

// Fix kinds.
const (
	FixStatusDefault    Fix = iota // no or empty status: ok
	FixStatusUnknown               // unknown status: ok, original in status_raw
	FixStatusAlias                 // configured alias mapped to a status
	FixDetailTruncated             // detail cut to the byte limit
	FixDetailType                  // non-string detail written as a string
	FixInvalidUTF8                 // invalid UTF-8 replaced in a key or string
	FixDurationType                // duration coerced to a double
	FixDurationDropped             // duration not a finite number: removed
	FixSizeType                    // size given as a numeric string
	FixSizeDropped                 // size not a finite number (or unnamed): removed
	FixResourceType                // non-string resource written as a string
	FixResourceDropped             // unnamed resource removed
	FixErrorCodeType               // non-string error code written as a string
	FixAttributesCapped            // attributes beyond the cap removed
	// NumFixes is the number of fix kinds.
	NumFixes
)

var fixNames = [NumFixes]string{
	FixStatusDefault:    "status_default",
	FixStatusUnknown:    "status_unknown",
	FixStatusAlias:      "status_alias",
	FixDetailTruncated:  "detail_truncated",
	FixDetailType:       "detail_type",
	FixInvalidUTF8:      "invalid_utf8",
	FixDurationType:     "duration_type",
	FixDurationDropped:  "duration_dropped",
	FixSizeType:         "size_type",
	FixSizeDropped:      "size_dropped",
	FixResourceType:     "resource_type",
	FixResourceDropped:  "resource_dropped",
	FixErrorCodeType:    "error_code_type",
	FixAttributesCapped: "attributes_capped",
}

// String returns the fix's name as the normalization_fixes metric shows it.
func (f Fix) String() string {
	if f < NumFixes {
		return fixNames[f]
	}
	return "fix(" + strconv.Itoa(int(f)) + ")"
}

// ResolveStatus maps a producer status to a contract status. raw is the
// status as a string; missing says the event had none (no attribute, an
// empty value or an empty string), which is ok. fix is
// FixStatusDefault, FixStatusAlias or FixStatusUnknown when the status had
// to change, with keepRaw set when the original must be kept as status_raw.
func ResolveStatus(raw string, missing bool, aliases map[string]string) (status string, fix Fix, changed, keepRaw bool) {
	switch {
	case missing:
		return StatusOK, FixStatusDefault, true, false
	case ValidStatus(raw):
		return raw, 0, false, false
	}
	if alias, ok := aliases[raw]; ok {
		return alias, FixStatusAlias, true, true
	}
	return StatusOK, FixStatusUnknown, true, true
}

// TruncateUTF8 cuts s to at most limit bytes at a rune boundary; limit <= 0
// means no limit.
func TruncateUTF8(s string, limit int) (string, bool) {
	if limit <= 0 || len(s) <= limit {
		return s, false
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], true
}

// ReplacementChar replaces invalid UTF-8.
const ReplacementChar = "\uFFFD"

// ValidUTF8 returns s with invalid UTF-8 replaced, and whether it was valid.
func ValidUTF8(s string) (string, bool) {
	if utf8.ValidString(s) {
		return s, true
	}
	return strings.ToValidUTF8(s, ReplacementChar), false
}

// Finite reports whether f is neither NaN nor an infinity: JSON has no
// spelling for those.
func Finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// ParseDuration reads a duration given as a string: a finite number of
// milliseconds, surrounding spaces allowed.
func ParseDuration(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, err == nil && Finite(f)
}

// ParseSize reads a size given as a string: an integer when it is one,
// else a finite number, surrounding spaces allowed.
func ParseSize(s string) (i int64, f float64, isInt, ok bool) {
	s = strings.TrimSpace(s)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, 0, true, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && Finite(f) {
		return 0, f, false, true
	}
	return 0, 0, false, false
}

// UnknownRunID is the run of step events that name no run and have no trace
// to fall back on (a log record without trace context). An event's run is,
// in this order: its own run.id, its span's, its resource's, its trace's
// FallbackRunID, UnknownRunID.
const UnknownRunID = "unknown"

// fallbackPrefix starts the fallback run id of a trace.
const fallbackPrefix = "trace-"

// FallbackRunID is the run id of the step events of trace traceID whose run
// id could not be resolved: "trace-" and the trace id in hex, so that the
// events of one trace still share a run. The processor and the ledger
// exporter both name such runs with it, so a run reads the same whichever
// of them had to fall back.
func FallbackRunID(traceID [16]byte) string {
	var buf [len(fallbackPrefix) + 2*len(traceID)]byte
	copy(buf[:], fallbackPrefix)
	hex.Encode(buf[len(fallbackPrefix):], traceID[:])
	return string(buf[:])
}

// CapAllowance splits budget attribute slots among the ranks given how many
// attributes each rank has: every contract key (the configuration keeps the
// cap above them), then sizes and resources, then the rest.
func CapAllowance(perRank [NumRanks]int, budget int) [NumRanks]int {
	allow := [NumRanks]int{RankContract: perRank[RankContract]}
	allow[RankNamed] = max(0, min(perRank[RankNamed], budget-allow[RankContract]))
	allow[RankOther] = max(0, budget-allow[RankContract]-allow[RankNamed])
	return allow
}

// MaxRunIDBytes bounds a run id. Ingest and lookup share the bound (and
// ValidRunID), so every run the collector stores can be asked for.
const MaxRunIDBytes = 1024

// ValidRunID reports whether s can name a run: non-empty, at most
// MaxRunIDBytes, valid UTF-8, without control characters (a NUL or an ESC
// cannot travel in a URL path or a terminal). Step events whose run id is
// not valid go to the fallback run.
func ValidRunID(s string) bool {
	if s == "" || len(s) > MaxRunIDBytes || !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
