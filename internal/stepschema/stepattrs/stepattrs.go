// Package stepattrs reads and normalises the attributes of a step event in
// pdata form: Parse turns a span event's or log record's attributes into a
// typed Step, and Normalize rewrites the attribute map in place to the
// normalised step event the steproute processor passes on; ResourceRun
// and SpanRun name the run of an event that names none. All apply the
// rules of package stepschema; nothing here decides a rule.
//
// It is a package of its own so that stepschema stays free of pdata: the
// CLI imports stepschema and must not link the collector.
package stepattrs

import (
	"math/bits"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/runledger/runledger/internal/stepschema"
)

// Limits are the configurable bounds of a step event.
type Limits struct {
	// MaxDetailBytes cuts step.detail (and status_raw) to this many bytes
	// at a UTF-8 boundary; 0 means no limit.
	MaxDetailBytes int
	// MaxAttributes caps the attributes of a step event, run.id included;
	// 0 means no cap.
	MaxAttributes int
	// StatusAliases maps producer statuses to contract statuses.
	StatusAliases map[string]string
	// RunIDKey is the attribute read as the run id; "" means run.id.
	RunIDKey string
}

// Size is one step.size.<Name> attribute.
type Size struct {
	Name  string
	Int   int64
	Float float64
	// IsInt says which of Int and Float holds the size.
	IsInt bool
}

// Resource is one step.resource.<Name> attribute.
type Resource struct {
	Name, Value string
}

// Step is a step event as the contract reads it: every value already
// coerced, cut and sanitised as Normalize would write it.
type Step struct {
	Kind      string
	Status    string
	ErrorCode string
	Detail    string
	// DetailTruncated is true when Detail was cut to the limit, now or by
	// the processor before (its detail_truncated attribute).
	DetailTruncated bool
	// StatusRaw is an unknown or aliased status as the producer sent it;
	// HasStatusRaw tells an empty one from none.
	StatusRaw    string
	HasStatusRaw bool
	// DurationMS is step.duration_ms when HasDuration.
	DurationMS  float64
	HasDuration bool
	// Sizes and Resources are in attribute order.
	Sizes     []Size
	Resources []Resource
	// RunID is the run id attribute (Limits.RunIDKey), "" when it is not a
	// string.
	RunID string

	// What Normalize has to write; set by read.
	dirty      bool
	statusRaw  bool // the status rule produced StatusRaw
	detail     bool // the normalised event has a step.detail
	cut        bool // the detail rule cut Detail
	namedFixes bool // some size or resource must change
	// errFromType: ErrorCode comes from error.type, step.error.code is
	// written.
	errFromType bool
}

// Fixes counts the changes Normalize makes, per kind, each kind once per
// event (what the processor's normalization_fixes metric counts).
type Fixes [stepschema.NumFixes]int64

// Add adds the counts of o to f.
func (f *Fixes) Add(o *Fixes) {
	for i, n := range o {
		f[i] += n
	}
}

// Parse reads the step event in attrs (a span event's or log record's
// attributes; body is a log record's body, a zero Value otherwise) and the
// fixes Normalize would make to it. It changes nothing. A Kind of "" means
// attrs is not a step event (no non-empty string step.kind).
func Parse(attrs pcommon.Map, body pcommon.Value, limits Limits) (Step, Fixes) {
	var s Step
	fx := ParseInto(&s, attrs, body, limits)
	return s, fx
}

// ParseInto is Parse writing the step into s. It reuses the arrays behind
// s.Sizes and s.Resources, so that a caller parsing event after event into
// one Step (the ledger exporter, per line) allocates nothing once they
// have grown.
func ParseInto(s *Step, attrs pcommon.Map, body pcommon.Value, limits Limits) Fixes {
	var fx Fixes
	v, ok := attrs.Get(stepschema.AttrKind)
	if !ok || v.Type() != pcommon.ValueTypeStr || v.Str() == "" {
		*s = Step{Sizes: s.Sizes[:0], Resources: s.Resources[:0]}
		return fx
	}
	kind, _ := stepschema.ValidUTF8(v.Str())
	_, fixed := read(attrs, kind, body, limits, s)
	fixed.addTo(&fx)
	return fx
}

// Normalize makes attrs a normalised step event of the given kind, except
// for run.id which the caller writes once it is resolved (a slot is kept
// free for it under MaxAttributes), and adds its fixes to fx. It writes
// only what must change, keeping the order of the attributes; invalid
// UTF-8 in a log record's body is replaced in place. scratch is reused so
// that events needing a change cost no allocation of their own.
func Normalize(attrs pcommon.Map, kind string, body pcommon.Value, limits Limits, scratch *Step, fx *Fixes) {
	// Most events need nothing: check without collecting the step.
	dirty, fixed := read(attrs, kind, body, limits, nil)
	if !dirty {
		return
	}
	utf8Fixed := fixed & (1 << stepschema.FixInvalidUTF8)
	if utf8Fixed != 0 {
		// Sanitise first and read again: the other rules see the
		// sanitised keys and values, as the written event will.
		sanitizeMap(attrs)
		if body.Type() != pcommon.ValueTypeEmpty {
			sanitizeValue(body)
		}
		kind, _ = stepschema.ValidUTF8(kind)
	}
	_, fixed = read(attrs, kind, body, limits, scratch)
	fixed = fixed&^(1<<stepschema.FixAttributesCapped) | utf8Fixed
	scratch.write(attrs, kind)
	if capAttributes(attrs, limits.MaxAttributes) {
		fixed |= 1 << stepschema.FixAttributesCapped
	}
	fixed.addTo(fx)
}

// fixSet has bit f set when fix f was made; each counts once per event.
type fixSet uint32

func (fs fixSet) addTo(fx *Fixes) {
	for ; fs != 0; fs &= fs - 1 {
		fx[bits.TrailingZeros32(uint32(fs))]++
	}
}

// RunID returns attribute key of m when it is a string, with invalid UTF-8
// replaced, else "".
func RunID(m pcommon.Map, key string) string {
	v, ok := m.Get(key)
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return ""
	}
	// An id the API could not look up (control characters, invalid
	// UTF-8, too long) names no run: the event goes to the fallback run.
	// Invalid UTF-8 is repaired as in any attribute.
	if s, _ := stepschema.ValidUTF8(v.Str()); stepschema.ValidRunID(s) {
		return s
	}
	return ""
}

// RunIDValue is RunID on a value already looked up: the string with
// invalid UTF-8 replaced when it can name a run, else "".
func RunIDValue(v pcommon.Value) string {
	if v.Type() != pcommon.ValueTypeStr {
		return ""
	}
	if s, _ := stepschema.ValidUTF8(v.Str()); stepschema.ValidRunID(s) {
		return s
	}
	return ""
}

// SetRunID writes the resolved run id under run.id, unless it is already
// there.
func SetRunID(m pcommon.Map, id string) {
	if v, ok := m.Get(stepschema.AttrRunID); ok && v.Type() == pcommon.ValueTypeStr && v.Str() == id {
		return
	}
	m.PutStr(stepschema.AttrRunID, id)
}

// read reads the step in m in one pass into out (reusing its slices) and
// returns whether m must change at all and the fixes the rules call for.
// With a nil out it only checks.
func read(m pcommon.Map, kind string, body pcommon.Value, lim Limits, out *Step) (dirty bool, fixed fixSet) {
	// Work on the stack: filling it costs no write barriers.
	sc := scan{kind: kind, runKey: lim.RunIDKey, collect: out != nil}
	s := &sc.Step
	s.Kind = kind
	if sc.collect {
		s.Sizes, s.Resources = out.Sizes[:0], out.Resources[:0]
		defer func() { *out = *s }()
	}
	if sc.runKey == "" {
		sc.runKey = stepschema.AttrRunID
	}
	bodyType := body.Type()
	// badUTF8: some key or string anywhere is not valid UTF-8. Strings
	// are sanitised for s only then (Normalize reads again once the map
	// is sanitised).
	sc.badUTF8 = !utf8.ValidString(kind) || bodyType != pcommon.ValueTypeEmpty && !validValue(body)
	for k, v := range m.All() {
		sc.attr(k, v)
	}
	bad := sc.badUTF8
	if bad {
		s.RunID, _ = stepschema.ValidUTF8(s.RunID)
		s.StatusRaw, _ = stepschema.ValidUTF8(s.StatusRaw)
		for i := range s.Resources {
			s.Resources[i].Value, _ = stepschema.ValidUTF8(s.Resources[i].Value)
		}
	}
	added := 0
	if !sc.has(stepschema.FieldKind) {
		added++
		s.dirty = true
	}

	// step.status: absent or empty is ok; unknown is ok with the original
	// kept as status_raw.
	missing := !sc.has(stepschema.FieldStatus) || sc.statusT == pcommon.ValueTypeEmpty ||
		sc.statusT == pcommon.ValueTypeStr && sc.status.Str() == ""
	var raw string
	if !missing {
		raw = stringOf(sc.status, bad)
	}
	st, fix, changed, keepRaw := stepschema.ResolveStatus(raw, missing, lim.StatusAliases)
	s.Status = st
	if changed {
		sc.fixed |= 1 << fix
		s.dirty = true
	}
	if !sc.has(stepschema.FieldStatus) {
		added++
	}
	if keepRaw {
		s.StatusRaw, _ = stepschema.TruncateUTF8(raw, lim.MaxDetailBytes)
		s.HasStatusRaw, s.statusRaw = true, true
		if !sc.has(stepschema.FieldStatusRaw) {
			added++
		}
	}

	// step.detail: a string, else the log body; cut to the limit.
	switch {
	case sc.has(stepschema.FieldDetail):
		if sc.detailT != pcommon.ValueTypeStr {
			sc.fixed |= 1 << stepschema.FixDetailType
			s.dirty = true
		}
		s.Detail = stringOf(sc.detail, bad)
		s.detail = true
	case bodyType == pcommon.ValueTypeStr && body.Str() != "":
		s.Detail = stringOf(body, bad)
		s.detail = true
		added++
		s.dirty = true
	}
	if s.detail {
		if s.Detail, s.cut = stepschema.TruncateUTF8(s.Detail, lim.MaxDetailBytes); s.cut {
			sc.fixed |= 1 << stepschema.FixDetailTruncated
			s.DetailTruncated = true
			s.dirty = true
			if !sc.has(stepschema.FieldDetailTruncated) {
				added++
			}
		}
	}

	// step.duration_ms: a finite double; ints and numeric strings are
	// converted, anything else is dropped.
	if sc.has(stepschema.FieldDurationMS) {
		switch sc.durT {
		case pcommon.ValueTypeDouble:
			s.DurationMS = sc.dur.Double()
			s.HasDuration = stepschema.Finite(s.DurationMS)
		case pcommon.ValueTypeInt:
			s.DurationMS, s.HasDuration = float64(sc.dur.Int()), true
			sc.fixed |= 1 << stepschema.FixDurationType
		case pcommon.ValueTypeStr:
			if s.DurationMS, s.HasDuration = stepschema.ParseDuration(sc.dur.Str()); s.HasDuration {
				sc.fixed |= 1 << stepschema.FixDurationType
			}
		}
		if !s.HasDuration {
			s.DurationMS = 0
			sc.fixed |= 1 << stepschema.FixDurationDropped
			sc.removed++
		}
		if !s.HasDuration || sc.durT != pcommon.ValueTypeDouble {
			s.dirty = true
		}
	}

	// step.error.code: a string.
	if sc.has(stepschema.FieldErrorCode) {
		if sc.errCodeT != pcommon.ValueTypeStr {
			sc.fixed |= 1 << stepschema.FixErrorCodeType
			s.dirty = true
		}
		s.ErrorCode = stringOf(sc.errCode, bad)
	} else if sc.errTypeT == pcommon.ValueTypeStr && sc.errType.Str() != "" {
		// The semantic conventions' error.type stands in for an absent
		// step.error.code; the normalised event carries both.
		s.ErrorCode = stringOf(sc.errType, bad)
		s.errFromType = true
		s.dirty = true
		added++
	}
	if s.namedFixes {
		s.dirty = true
	}

	if bad {
		sc.fixed |= 1 << stepschema.FixInvalidUTF8
		s.dirty = true
	}
	if !sc.has(stepschema.FieldRunID) {
		added++ // run.id is written after normalising
	}
	if lim.MaxAttributes > 0 && sc.count-sc.removed+added > lim.MaxAttributes {
		sc.fixed |= 1 << stepschema.FixAttributesCapped
		s.dirty = true
	}
	return s.dirty, sc.fixed
}

// scan is the state of read's pass over the attributes.
type scan struct {
	Step
	fixed   fixSet
	kind    string
	runKey  string
	collect bool
	badUTF8 bool
	seen    uint32 // bit f: an attribute of Field f was seen

	status, detail, dur, errCode, errType      pcommon.Value
	statusT, detailT, durT, errCodeT, errTypeT pcommon.ValueType
	count, removed                             int
}

func (sc *scan) has(f stepschema.Field) bool { return sc.seen&(1<<f) != 0 }

// attr reads one attribute.
func (sc *scan) attr(k string, v pcommon.Value) {
	s := &sc.Step
	sc.count++
	r := stepschema.Lookup(k)
	// A key the contract spells in full is valid UTF-8; others are checked
	// and looked up again once sanitised.
	if r.Field <= stepschema.FieldUndefined || r.Field == stepschema.FieldSize || r.Field == stepschema.FieldResource {
		if !utf8.ValidString(k) {
			sc.badUTF8 = true
			k, _ = stepschema.ValidUTF8(k)
			r = stepschema.Lookup(k)
		}
	}
	t := v.Type()
	if sc.collect && k == sc.runKey && t == pcommon.ValueTypeStr {
		s.RunID = v.Str()
	}
	sc.seen |= 1 << r.Field
	switch r.Field {
	case stepschema.FieldKind:
		// Equal to the (valid) kind: nothing more to check.
		if t == pcommon.ValueTypeStr && v.Str() == sc.kind {
			return
		}
		s.dirty = true
	case stepschema.FieldStatus:
		sc.status, sc.statusT = v, t
		if t == pcommon.ValueTypeStr && stepschema.ValidStatus(v.Str()) {
			return // a contract status is ASCII
		}
	case stepschema.FieldDetail:
		sc.detail, sc.detailT = v, t
	case stepschema.FieldDurationMS:
		sc.dur, sc.durT = v, t
		if t == pcommon.ValueTypeDouble {
			return
		}
	case stepschema.FieldErrorCode:
		sc.errCode, sc.errCodeT = v, t
	case stepschema.FieldSize:
		if !sc.size(r.Name, v, t) {
			sc.removed++
		}
	case stepschema.FieldResource:
		if !sc.resource(r.Name, v, t) {
			sc.removed++
		}
	case stepschema.FieldStatusRaw:
		if t == pcommon.ValueTypeStr {
			s.StatusRaw, s.HasStatusRaw = v.Str(), true
		}
	case stepschema.FieldDetailTruncated:
		s.DetailTruncated = t == pcommon.ValueTypeBool && v.Bool()
	case stepschema.FieldOther:
		if k == stepschema.AttrErrorType {
			sc.errType, sc.errTypeT = v, t
		}
	}
	switch t {
	case pcommon.ValueTypeStr:
		sc.badUTF8 = sc.badUTF8 || !utf8.ValidString(v.Str())
	case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
		sc.badUTF8 = sc.badUTF8 || !validValue(v)
	}
}

// size applies the size rule to step.size.<name> = v and reports
// whether the attribute is kept.
func (sc *scan) size(name string, v pcommon.Value, t pcommon.ValueType) bool {
	sz := Size{Name: name}
	ok := name != ""
	if ok {
		switch t {
		case pcommon.ValueTypeInt:
			sz.Int, sz.IsInt = v.Int(), true
		case pcommon.ValueTypeDouble:
			sz.Float = v.Double()
			ok = stepschema.Finite(sz.Float)
		case pcommon.ValueTypeStr:
			if sz.Int, sz.Float, sz.IsInt, ok = stepschema.ParseSize(v.Str()); ok {
				sc.fixed |= 1 << stepschema.FixSizeType
				sc.namedFixes = true
			}
		default:
			ok = false
		}
	}
	if !ok {
		sc.fixed |= 1 << stepschema.FixSizeDropped
		sc.namedFixes = true
		return false
	}
	if sc.collect {
		sc.Sizes = append(sc.Sizes, sz)
	}
	return true
}

// resource applies the resource rule to step.resource.<name> = v and
// reports whether the attribute is kept.
func (sc *scan) resource(name string, v pcommon.Value, t pcommon.ValueType) bool {
	if name == "" {
		sc.fixed |= 1 << stepschema.FixResourceDropped
		sc.namedFixes = true
		return false
	}
	if t != pcommon.ValueTypeStr {
		sc.fixed |= 1 << stepschema.FixResourceType
		sc.namedFixes = true
	}
	if sc.collect {
		// Sanitised by read once it knows whether it must.
		sc.Resources = append(sc.Resources, Resource{Name: name, Value: v.AsString()})
	}
	return true
}

// stringOf returns v as a string (non-strings as pcommon.Value.AsString
// spells them), with invalid UTF-8 replaced when sanitize.
func stringOf(v pcommon.Value, sanitize bool) string {
	out := v.AsString()
	if sanitize {
		out, _ = stepschema.ValidUTF8(out)
	}
	return out
}

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

// KindAndRun returns the step.kind and run.id of a span event's or log record's
// attributes; kind is "" when they are not a step event, run "" when they
// name no run.
func KindAndRun(attrs pcommon.Map) (kind, run string) {
	if v, ok := attrs.Get(stepschema.AttrKind); ok && v.Type() == pcommon.ValueTypeStr {
		kind = v.Str()
	}
	if kind == "" {
		return "", ""
	}
	return kind, RunID(attrs, stepschema.AttrRunID)
}

// ResourceRun is the run of a resource's step events that name none and
// have no closer one (their span's): the resource's run.id, read once when
// first needed, else the trace's fallback run, else (no trace context) the
// caller's choice. The exporter writes by this rule, the steplogs
// connector groups by it and the runmetrics connector counts by it.
type ResourceRun struct {
	attrs pcommon.Map
	none  string
	run   string
	read  bool
}

// NewResourceRun returns the ResourceRun of a resource's attributes; none
// is the run of events without a run id or trace context
// (stepschema.UnknownRunID for the ledger, "" for no run).
func NewResourceRun(attrs pcommon.Map, none string) ResourceRun {
	return ResourceRun{attrs: attrs, none: none}
}

// Of returns the run of an event of trace tid (empty: no trace context).
func (r *ResourceRun) Of(tid pcommon.TraceID) string {
	if !r.read {
		r.run, r.read = RunID(r.attrs, stepschema.AttrRunID), true
	}
	switch {
	case r.run != "":
		return r.run
	case tid.IsEmpty():
		return r.none
	}
	return stepschema.FallbackRunID(tid)
}

// SpanRun is the run of a span's step events that name none: the span's
// run.id, read once when first needed, else its resource's.
type SpanRun struct {
	span ptrace.Span
	res  *ResourceRun
	run  string
	read bool
}

// NewSpanRun returns the SpanRun of span in the resource res.
func NewSpanRun(span ptrace.Span, res *ResourceRun) SpanRun { return SpanRun{span: span, res: res} }

// Of returns the run of a step event of the span whose own run.id is run.
func (s *SpanRun) Of(run string) string {
	if run != "" {
		return run
	}
	if !s.read {
		s.run, s.read = RunID(s.span.Attributes(), stepschema.AttrRunID), true
		if s.run == "" {
			s.run = s.res.Of(s.span.TraceID())
		}
	}
	return s.run
}
