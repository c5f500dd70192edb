package steproute

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// fuzzKeys are the keys the rules care about; other keys come from the
// fuzz input itself.
var fuzzKeys = []string{
	"step.kind", "step.status", "step.detail", "step.duration_ms", "step.error.code",
	"step.size.hits", "step.size.", "step.resource.model", "step.resource.", "run.id",
	"detail_truncated", "status_raw", "attributes_dropped", "event.name", "nprobe",
}

// fuzzReader turns fuzz bytes into attribute maps.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) bytes() []byte {
	n := int(r.byte() % 24)
	n = min(n, len(r.b))
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *fuzzReader) key() string {
	c := r.byte()
	if int(c) < 2*len(fuzzKeys) {
		return fuzzKeys[int(c)%len(fuzzKeys)]
	}
	return string(r.bytes())
}

func (r *fuzzReader) value(v pcommon.Value, depth int) {
	switch r.byte() % 9 {
	case 0:
		v.SetStr(string(r.bytes()))
	case 1:
		v.SetInt(int64(r.byte()) - 100)
	case 2:
		var b [8]byte
		copy(b[:], r.bytes())
		v.SetDouble(math.Float64frombits(binary.LittleEndian.Uint64(b[:])))
	case 3:
		v.SetBool(r.byte()%2 == 0)
	case 4:
		v.SetEmptyBytes().FromRaw(r.bytes())
	case 5:
		if depth < 3 {
			m := v.SetEmptyMap()
			for range r.byte() % 4 {
				r.value(m.PutEmpty(r.key()), depth+1)
			}
		}
	case 6:
		if depth < 3 {
			s := v.SetEmptySlice()
			for range r.byte() % 4 {
				r.value(s.AppendEmpty(), depth+1)
			}
		}
	case 7:
		v.SetStr("step.x" + string(r.bytes()))
	case 8:
		// leave empty
	}
}

func (r *fuzzReader) attrs(m pcommon.Map) {
	for len(r.b) > 0 {
		r.value(m.PutEmpty(r.key()), 0)
	}
}

func FuzzNormalize(f *testing.F) {
	f.Add([]byte{0, 0, 3, 'a', '.', 'b'}, "body")
	f.Add([]byte{0, 0, 2, 0xff, 'x', 1, 0, 4, 'w', 'e', 'i', 'r', 2, 0, 30, 's', 't', 'e', 'p', '.', 'd'}, "")
	f.Add([]byte{0, 7, 2, 'q', 'q', 5, 2, 0, 5, 'l', 'o', 'n', 'g', '!', 6, 2, 99, 99, 99}, "b\xffody")
	f.Add([]byte{13, 0, 4, 's', 't', 'e', 'p', 14, 0, 1, 'x', 3, 2, 8, 1, 2, 3, 4, 5, 6, 0xf8, 0x7f}, "")

	cfg := testConfig(func(c *Config) {
		c.MaxDetailBytes = 8
		c.MaxAttributes = 16
		c.StatusAliases = map[string]string{"err": "failed"}
	})
	p := newPipelines(f, cfg, nopSettings())
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, data []byte, body string) {
		// Span event form.
		td := ptrace.NewTraces()
		sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(traceID(1))
		ev := sp.Events().AppendEmpty()
		(&fuzzReader{b: data}).attrs(ev.Attributes())
		isStep := isStepInput(ev.Attributes())
		p.tsink.Reset()
		require.NoError(t, p.traces.ConsumeTraces(ctx, td))
		got := spanEvents(p.tsink)
		if !isStep {
			require.Empty(t, got)
		} else {
			require.Len(t, got, 1)
			require.NoError(t, checkNormalised(got[0], cfg), "%#v", got[0])
			// Normalising a normalised event changes nothing.
			again := ptrace.NewTraces()
			sp2 := again.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			sp2.SetTraceID(traceID(1))
			require.NoError(t, sp2.Events().AppendEmpty().Attributes().FromRaw(got[0]))
			p.tsink.Reset()
			require.NoError(t, p.traces.ConsumeTraces(ctx, again))
			// %v prints maps sorted by key and NaN as NaN, so it compares
			// values that DeepEqual cannot.
			require.Equal(t, fmt.Sprintf("%v", got), fmt.Sprintf("%v", spanEvents(p.tsink)))
		}

		// Log record form, with a body.
		ld := plog.NewLogs()
		lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTraceID(traceID(1))
		lr.Body().SetStr(body)
		(&fuzzReader{b: data}).attrs(lr.Attributes())
		p.lsink.Reset()
		require.NoError(t, p.logs.ConsumeLogs(ctx, ld))
		for _, rec := range logRecords(p.lsink) {
			require.NoError(t, checkNormalised(rec, cfg), "%#v", rec)
		}
		if isStep {
			require.Equal(t, 1, p.lsink.LogRecordCount())
		}
	})
}

func isStepInput(m pcommon.Map) bool {
	v, ok := m.Get("step.kind")
	return ok && v.Type() == pcommon.ValueTypeStr && v.Str() != ""
}
