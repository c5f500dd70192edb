package steproute

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 22: a run id the report API could not look up (a NUL, an ESC,
// longer than 1024 bytes) names no run: its events go to the
// fallback run of their trace instead of a ledger nobody can ask for.
func TestUnreachableRunIDsGoToTheFallback(t *testing.T) {
	for name, id := range map[string]string{
		"nul":      "r-\x00-42",
		"escape":   "r-\x1b[2J",
		"too long": strings.Repeat("r", 1025),
	} {
		t.Run(name, func(t *testing.T) {
			p := newPipelines(t, waitConfig(0, nil), nopSettings())
			ev := step("a")
			ev["run.id"] = id
			require.NoError(t, p.traces.ConsumeTraces(context.Background(), buildTraces(t, nil,
				spanSpec{trace: traceID(7), id: 1, events: []map[string]any{ev}})))
			got := spanEvents(p.tsink)
			require.Len(t, got, 1)
			tid := traceID(7)
			assert.Equal(t, "trace-"+hex.EncodeToString(tid[:]), got[0]["run.id"])
		})
	}
	p := newPipelines(t, waitConfig(0, nil), nopSettings())
	ev := step("a")
	ev["run.id"] = strings.Repeat("r", 1024) // at the bound: kept
	require.NoError(t, p.traces.ConsumeTraces(context.Background(), buildTraces(t, nil,
		spanSpec{trace: traceID(8), id: 1, events: []map[string]any{ev}})))
	assert.Equal(t, strings.Repeat("r", 1024), spanEvents(p.tsink)[0]["run.id"])

	// Invalid UTF-8 is repaired like any attribute (U+FFFD), and the
	// repaired id is what is stored and looked up.
	ev = step("a")
	ev["run.id"] = "r-\xff"
	require.NoError(t, p.traces.ConsumeTraces(context.Background(), buildTraces(t, nil,
		spanSpec{trace: traceID(9), id: 1, events: []map[string]any{ev}})))
	assert.Equal(t, "r-\uFFFD", spanEvents(p.tsink)[1]["run.id"])
}
