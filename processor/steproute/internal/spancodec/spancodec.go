// Package spancodec encodes spans that wait in steproute's hold buffer in a
// form that is cheap to turn back into pdata.
//
// Held spans are encoded once and decoded once, in the same process and
// build, so the format has no compatibility promise. Decoding them with
// pdata's protobuf decoder cost as much as decoding the OTLP requests they
// came in: every attribute key and string value is a separate allocation and
// attribute slices grow one element at a time. Here each string occurs once
// in a table at the front of the payload, the decoder makes all of them with
// a single allocation, and every slice is allocated at its final size.
//
// Resources and scopes travel as their protobuf encoding (an "envelope":
// the payload's ptrace.Traces without spans), so fields that pdata keeps but
// does not expose, such as resource entity refs, survive unchanged.
//
// One difference from protobuf: attribute maps are rebuilt through pdata's
// Map API, which keeps the last value of a key that occurs twice (OTLP
// forbids duplicate keys; protobuf would keep both).
package spancodec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const version = 1

// value type tags
const (
	tagEmpty byte = iota
	tagStr
	tagBool
	tagInt
	tagDouble
	tagBytes
	tagSlice
	tagMap
)

// eventAttrRoom is the spare capacity of a decoded span event's attributes:
// steproute writes run.id on held step events right after decoding them,
// which would otherwise copy every attribute slice to grow it by one.
const eventAttrRoom = 1

// maxDepth bounds nesting of maps and slices in attribute values, as in
// the encoder's input: pdata cannot hold cycles, and no producer nests
// anywhere near this deep.
const maxDepth = 128

// Encoder encodes traces; it keeps its buffers between calls. An Encoder is
// not safe for concurrent use.
type Encoder struct {
	recent [256]recentStr
	strs   []string
	body   []byte
	out    []byte
}

// Encode returns the encoding of td, valid until the next call of Encode.
func (e *Encoder) Encode(td ptrace.Traces) ([]byte, error) {
	e.strs, e.body = e.strs[:0], e.body[:0]
	// Drop the references to td's strings however Encode ends: a pooled
	// Encoder must not keep the last payload alive.
	defer func() {
		clear(e.recent[:])
		clear(e.strs)
	}()

	envTD := ptrace.NewTraces()
	rss := td.ResourceSpans()
	erss := envTD.ResourceSpans()
	erss.EnsureCapacity(rss.Len())
	for i := 0; i < rss.Len(); i++ {
		rs, ers := rss.At(i), erss.AppendEmpty()
		rs.Resource().CopyTo(ers.Resource())
		ers.SetSchemaUrl(rs.SchemaUrl())
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss, ess := sss.At(j), ers.ScopeSpans().AppendEmpty()
			ss.Scope().CopyTo(ess.Scope())
			ess.SetSchemaUrl(ss.SchemaUrl())
			spans := ss.Spans()
			e.uvarint(uint64(spans.Len()))
			for k := 0; k < spans.Len(); k++ {
				if err := e.span(spans.At(k)); err != nil {
					return nil, err
				}
			}
		}
	}
	env, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(envTD)
	if err != nil {
		return nil, fmt.Errorf("encode resources and scopes: %w", err)
	}

	out := append(e.out[:0], version)
	out = binary.AppendUvarint(out, uint64(len(e.strs)))
	for _, s := range e.strs {
		out = binary.AppendUvarint(out, uint64(len(s)))
	}
	for _, s := range e.strs {
		out = append(out, s...)
	}
	out = binary.AppendUvarint(out, uint64(len(env)))
	out = append(out, env...)
	out = append(out, e.body...)
	e.out = out
	return out, nil
}

func (e *Encoder) uvarint(v uint64) { e.body = binary.AppendUvarint(e.body, v) }

func (e *Encoder) fixed64(v uint64) { e.body = binary.LittleEndian.AppendUint64(e.body, v) }

// recentStr is a string of the table and its index.
type recentStr struct {
	s   string
	i   uint32
	set bool
}

// str writes the table index of s, adding s to the table unless it is in
// the slot of recent strings it maps to. A direct-mapped cache rather than
// a map: hashing every string cost more than the rest of the encoding, and
// the strings that repeat in a payload (attribute keys, statuses, kinds,
// names) are few. A collision only stores a string twice.
func (e *Encoder) str(s string) {
	h := uint(len(s))
	if len(s) > 0 {
		h = h*31 + uint(s[0])*7 + uint(s[len(s)/2])*131 + uint(s[len(s)-1])
	}
	r := &e.recent[h&uint(len(e.recent)-1)]
	if !r.set || r.s != s {
		*r = recentStr{s: s, i: uint32(len(e.strs)), set: true}
		e.strs = append(e.strs, s)
	}
	e.uvarint(uint64(r.i))
}

func (e *Encoder) span(sp ptrace.Span) error {
	tid, sid, pid := sp.TraceID(), sp.SpanID(), sp.ParentSpanID()
	e.body = append(e.body, tid[:]...)
	e.body = append(e.body, sid[:]...)
	e.body = append(e.body, pid[:]...)
	e.str(sp.TraceState().AsRaw())
	e.uvarint(uint64(sp.Flags()))
	e.str(sp.Name())
	e.uvarint(uint64(sp.Kind()))
	e.fixed64(uint64(sp.StartTimestamp()))
	e.fixed64(uint64(sp.EndTimestamp()))
	if err := e.attrs(sp.Attributes(), 0); err != nil {
		return err
	}
	e.uvarint(uint64(sp.DroppedAttributesCount()))

	evs := sp.Events()
	e.uvarint(uint64(evs.Len()))
	for i := 0; i < evs.Len(); i++ {
		ev := evs.At(i)
		e.fixed64(uint64(ev.Timestamp()))
		e.str(ev.Name())
		if err := e.attrs(ev.Attributes(), 0); err != nil {
			return err
		}
		e.uvarint(uint64(ev.DroppedAttributesCount()))
	}
	e.uvarint(uint64(sp.DroppedEventsCount()))

	links := sp.Links()
	e.uvarint(uint64(links.Len()))
	for i := 0; i < links.Len(); i++ {
		l := links.At(i)
		ltid, lsid := l.TraceID(), l.SpanID()
		e.body = append(e.body, ltid[:]...)
		e.body = append(e.body, lsid[:]...)
		e.str(l.TraceState().AsRaw())
		e.uvarint(uint64(l.Flags()))
		if err := e.attrs(l.Attributes(), 0); err != nil {
			return err
		}
		e.uvarint(uint64(l.DroppedAttributesCount()))
	}
	e.uvarint(uint64(sp.DroppedLinksCount()))

	e.uvarint(uint64(sp.Status().Code()))
	e.str(sp.Status().Message())
	return nil
}

func (e *Encoder) attrs(m pcommon.Map, depth int) error {
	e.uvarint(uint64(m.Len()))
	var err error
	m.Range(func(k string, v pcommon.Value) bool {
		e.str(k)
		err = e.value(v, depth)
		return err == nil
	})
	return err
}

func (e *Encoder) value(v pcommon.Value, depth int) error {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		e.body = append(e.body, tagStr)
		e.str(v.Str())
	case pcommon.ValueTypeBool:
		b := byte(0)
		if v.Bool() {
			b = 1
		}
		e.body = append(e.body, tagBool, b)
	case pcommon.ValueTypeInt:
		e.body = append(e.body, tagInt)
		e.body = binary.AppendVarint(e.body, v.Int())
	case pcommon.ValueTypeDouble:
		e.body = append(e.body, tagDouble)
		e.fixed64(math.Float64bits(v.Double()))
	case pcommon.ValueTypeBytes:
		b := v.Bytes().AsRaw()
		e.body = append(e.body, tagBytes)
		e.uvarint(uint64(len(b)))
		e.body = append(e.body, b...)
	case pcommon.ValueTypeSlice:
		if depth >= maxDepth {
			return errTooDeep
		}
		s := v.Slice()
		e.body = append(e.body, tagSlice)
		e.uvarint(uint64(s.Len()))
		for i := 0; i < s.Len(); i++ {
			if err := e.value(s.At(i), depth+1); err != nil {
				return err
			}
		}
	case pcommon.ValueTypeMap:
		if depth >= maxDepth {
			return errTooDeep
		}
		e.body = append(e.body, tagMap)
		return e.attrs(v.Map(), depth+1)
	default:
		e.body = append(e.body, tagEmpty)
	}
	return nil
}

var (
	errTooDeep = fmt.Errorf("attribute values nested deeper than %d levels", maxDepth)
	errCorrupt = errors.New("corrupt held spans")
)

// Decode returns the traces encoded in b. The result does not refer to b.
func Decode(b []byte) (ptrace.Traces, error) {
	d := decoder{b: b}
	td, err := d.traces()
	if err == nil && d.pos != len(d.b) {
		err = errCorrupt
	}
	if err != nil {
		return ptrace.Traces{}, fmt.Errorf("decode held spans at byte %d: %w", d.pos, err)
	}
	return td, nil
}

type decoder struct {
	b    []byte
	pos  int
	strs []string
	err  error
}

func (d *decoder) fail() { d.err, d.pos = errCorrupt, len(d.b) }

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b[d.pos:])
	if n <= 0 {
		d.fail()
		return 0
	}
	d.pos += n
	return v
}

// count reads a length that must fit in what is left, each item taking at
// least one byte: a corrupt count cannot make the decoder allocate much.
func (d *decoder) count() int {
	v := d.uvarint()
	if v > uint64(len(d.b)-d.pos) {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *decoder) next(n int) []byte {
	if n > len(d.b)-d.pos {
		d.fail()
		return nil
	}
	p := d.b[d.pos : d.pos+n]
	d.pos += n
	return p
}

// varint reads what binary.AppendVarint wrote: zig-zag over a uvarint.
func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (d *decoder) fixed64() uint64 {
	p := d.next(8)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

func (d *decoder) str() string {
	i := d.uvarint()
	if i >= uint64(len(d.strs)) {
		d.fail()
		return ""
	}
	return d.strs[i]
}

func (d *decoder) traces() (ptrace.Traces, error) {
	if v := d.next(1); v == nil || v[0] != version {
		return ptrace.Traces{}, errCorrupt
	}
	n := d.count()
	lens := make([]int, n)
	total := 0
	for i := range lens {
		lens[i] = int(d.uvarint())
		total += lens[i]
		if lens[i] < 0 || total > len(d.b) {
			d.fail()
		}
	}
	if d.err != nil {
		return ptrace.Traces{}, d.err
	}
	// All strings in one allocation: they live exactly as long as the
	// spans that use them.
	all := string(d.next(total))
	if d.err != nil {
		return ptrace.Traces{}, d.err
	}
	d.strs = make([]string, n)
	off := 0
	for i, l := range lens {
		d.strs[i] = all[off : off+l]
		off += l
	}
	env := d.next(d.count())
	if d.err != nil {
		return ptrace.Traces{}, d.err
	}
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(env)
	if err != nil {
		return ptrace.Traces{}, fmt.Errorf("resources and scopes: %w", err)
	}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len() && d.err == nil; i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len() && d.err == nil; j++ {
			spans := sss.At(j).Spans()
			n := d.count()
			spans.EnsureCapacity(n)
			for k := 0; k < n && d.err == nil; k++ {
				d.span(spans.AppendEmpty())
			}
		}
	}
	return td, d.err
}

func (d *decoder) span(sp ptrace.Span) {
	var tid pcommon.TraceID
	var sid, pid pcommon.SpanID
	copy(tid[:], d.next(16))
	copy(sid[:], d.next(8))
	copy(pid[:], d.next(8))
	sp.SetTraceID(tid)
	sp.SetSpanID(sid)
	sp.SetParentSpanID(pid)
	sp.TraceState().FromRaw(d.str())
	sp.SetFlags(uint32(d.uvarint()))
	sp.SetName(d.str())
	sp.SetKind(ptrace.SpanKind(d.uvarint()))
	sp.SetStartTimestamp(pcommon.Timestamp(d.fixed64()))
	sp.SetEndTimestamp(pcommon.Timestamp(d.fixed64()))
	d.attrs(sp.Attributes(), 0, 0)
	sp.SetDroppedAttributesCount(uint32(d.uvarint()))

	evs := sp.Events()
	n := d.count()
	evs.EnsureCapacity(n)
	for i := 0; i < n && d.err == nil; i++ {
		ev := evs.AppendEmpty()
		ev.SetTimestamp(pcommon.Timestamp(d.fixed64()))
		ev.SetName(d.str())
		d.attrs(ev.Attributes(), 0, eventAttrRoom)
		ev.SetDroppedAttributesCount(uint32(d.uvarint()))
	}
	sp.SetDroppedEventsCount(uint32(d.uvarint()))

	links := sp.Links()
	n = d.count()
	links.EnsureCapacity(n)
	for i := 0; i < n && d.err == nil; i++ {
		l := links.AppendEmpty()
		copy(tid[:], d.next(16))
		copy(sid[:], d.next(8))
		l.SetTraceID(tid)
		l.SetSpanID(sid)
		l.TraceState().FromRaw(d.str())
		l.SetFlags(uint32(d.uvarint()))
		d.attrs(l.Attributes(), 0, 0)
		l.SetDroppedAttributesCount(uint32(d.uvarint()))
	}
	sp.SetDroppedLinksCount(uint32(d.uvarint()))

	sp.Status().SetCode(ptrace.StatusCode(d.uvarint()))
	sp.Status().SetMessage(d.str())
}

// attrs decodes a map into m, leaving capacity for room more entries.
func (d *decoder) attrs(m pcommon.Map, depth, room int) {
	n := d.count()
	m.EnsureCapacity(n + room)
	for i := 0; i < n && d.err == nil; i++ {
		k := d.str()
		tag := d.next(1)
		if tag == nil {
			return
		}
		d.valueTagged(tag[0], m.PutEmpty(k), depth)
	}
}

// valueTagged decodes a value whose tag was read into v.
func (d *decoder) valueTagged(tag byte, v pcommon.Value, depth int) {
	switch tag {
	case tagEmpty:
	case tagStr:
		v.SetStr(d.str())
	case tagBool:
		if b := d.next(1); b != nil {
			v.SetBool(b[0] == 1)
		}
	case tagInt:
		v.SetInt(d.varint())
	case tagDouble:
		v.SetDouble(math.Float64frombits(d.fixed64()))
	case tagBytes:
		// Copied: b may be a pooled buffer.
		v.SetEmptyBytes().Append(d.next(d.count())...)
	case tagSlice:
		if depth >= maxDepth {
			d.fail()
			return
		}
		s := v.SetEmptySlice()
		n := d.count()
		s.EnsureCapacity(n)
		for i := 0; i < n && d.err == nil; i++ {
			t := d.next(1)
			if t == nil {
				return
			}
			d.valueTagged(t[0], s.AppendEmpty(), depth+1)
		}
	case tagMap:
		if depth >= maxDepth {
			d.fail()
			return
		}
		d.attrs(v.SetEmptyMap(), depth+1, 0)
	default:
		d.fail()
	}
}
