package steproute

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/internal/stepschema/stepattrs"
)

// runKeys is the ordered list of attributes read for a run id (run_id_keys).
// Precedence is level first: the event's attributes, then the span's, then
// the resource's; within a level the first key of the list that holds a
// valid id wins. The most specific place a producer named the run beats a
// broader one, as run.id always did (an event's run.id beats its span's).
type runKeys struct {
	keys []string
	// lens has bit l set when some key is l bytes long (keys under 64
	// bytes), so that one pass over a map compares few keys; long says
	// some key is 64 bytes or more.
	lens uint64
	long bool
}

func newRunKeys(keys []string) runKeys {
	rk := runKeys{keys: keys}
	for _, k := range append(keys[:len(keys):len(keys)], stepschema.AttrSessionPreviousID) {
		if len(k) < 64 {
			rk.lens |= 1 << len(k)
		} else {
			rk.long = true
		}
	}
	return rk
}

// runHit is what a map says about its run: the id, the key that gave it
// ("" for run.id, which needs no note) and session.previous_id when the id
// came from another key (a session follows a previous one).
type runHit struct {
	id, key, prev string
}

// lookup reads the run id of m in one pass over its attributes.
func (rk *runKeys) lookup(m pcommon.Map) runHit {
	if len(rk.keys) == 1 && rk.keys[0] == stepschema.AttrRunID {
		return runHit{id: stepattrs.RunID(m, stepschema.AttrRunID)}
	}
	best := len(rk.keys)
	var hit runHit
	for k, v := range m.All() {
		if l := len(k); l < 64 && rk.lens&(1<<l) == 0 || l >= 64 && !rk.long {
			continue
		}
		if k == stepschema.AttrSessionPreviousID {
			if v.Type() == pcommon.ValueTypeStr {
				hit.prev = v.Str()
			}
			continue
		}
		for i := 0; i < best; i++ {
			if k != rk.keys[i] {
				continue
			}
			if id := stepattrs.RunIDValue(v); id != "" {
				best, hit.id, hit.key = i, id, k
			}
			break
		}
	}
	if hit.id == "" || hit.key == stepschema.AttrRunID {
		hit.key, hit.prev = "", ""
	}
	if hit.prev != "" {
		if p, _ := stepschema.ValidUTF8(hit.prev); stepschema.ValidRunID(p) {
			hit.prev = p
		} else {
			hit.prev = ""
		}
	}
	return hit
}

// mark writes on a step event's attributes the key its run id came from
// and the previous run, when the hit has them.
func (h runHit) mark(m pcommon.Map) {
	if h.key == "" {
		return
	}
	m.PutStr(stepschema.AttrRunKey, h.key)
	if h.prev != "" {
		m.PutStr(stepschema.AttrPreviousRun, h.prev)
	}
}
