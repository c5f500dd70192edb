package steproute

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fallbackT1 is the default fallback run id of traceID(1).
const fallbackT1 = "trace-abcd0000000000000000000000000001"

// ruleCase is one rule of the StepEvent contract (DESIGN §1 and the
// normalised step event), checked on a span event and on a log record built
// from the same input.
type ruleCase struct {
	name      string
	cfg       func(*Config)
	resource  map[string]any
	span      map[string]any // span attributes: traces only
	event     map[string]any // span event attributes / log record attributes
	body      any            // log record body: logs only
	eventName string         // log record event_name: logs only
	noTrace   bool
	only      string // "traces" or "logs"; empty: both signals
	dropped   bool   // the event is noise and is dropped
	want      map[string]any
	check     func(t *testing.T, got map[string]any)
}

func ruleCases() []ruleCase {
	many := map[string]any{"step.kind": "big", "step.status": "ok", "step.size.rows": 3}
	for i := range 10000 {
		many[fmt.Sprintf("attr.%05d", i)] = i
	}
	return []ruleCase{
		// what is a step event
		{name: "no step.kind is noise", event: map[string]any{"exception.message": "boom"}, dropped: true},
		{name: "empty step.kind is noise", event: map[string]any{"step.kind": ""}, dropped: true},
		{name: "non-string step.kind is noise", event: map[string]any{"step.kind": 42}, dropped: true},
		{
			name: "keep_non_step passes noise unchanged", cfg: func(c *Config) { c.KeepNonStep = true },
			event: map[string]any{"exception.message": "boom"}, want: map[string]any{"exception.message": "boom"},
		},
		{
			name: "custom kind_attribute, kind written as step.kind", cfg: func(c *Config) { c.KindAttribute = "stage" },
			event: map[string]any{"stage": "embed.vllm", "step.status": "ok"},
			want:  map[string]any{"stage": "embed.vllm", "step.kind": "embed.vllm", "step.status": "ok", "run.id": fallbackT1},
		},
		{
			name: "step.kind ignored when kind_attribute differs", cfg: func(c *Config) { c.KindAttribute = "stage" },
			event: map[string]any{"step.kind": "x"}, dropped: true,
		},

		// status
		{
			name: "absent status is ok", event: map[string]any{"step.kind": "a"},
			want: map[string]any{"step.kind": "a", "step.status": "ok", "run.id": fallbackT1},
		},
		{
			name: "empty status is ok", event: map[string]any{"step.kind": "a", "step.status": ""},
			want: map[string]any{"step.kind": "a", "step.status": "ok", "run.id": fallbackT1},
		},
		{
			name: "failed kept", event: map[string]any{"step.kind": "a", "step.status": "failed"},
			want: map[string]any{"step.kind": "a", "step.status": "failed", "run.id": fallbackT1},
		},
		{
			name: "skipped kept", event: map[string]any{"step.kind": "a", "step.status": "skipped"},
			want: map[string]any{"step.kind": "a", "step.status": "skipped", "run.id": fallbackT1},
		},
		{
			name: "started kept", event: map[string]any{"step.kind": "a", "step.status": "started"},
			want: map[string]any{"step.kind": "a", "step.status": "started", "run.id": fallbackT1},
		},
		{
			name: "cancelled kept", event: map[string]any{"step.kind": "a", "step.status": "cancelled"},
			want: map[string]any{"step.kind": "a", "step.status": "cancelled", "run.id": fallbackT1},
		},
		{
			name: "unknown status is ok plus status_raw", event: map[string]any{"step.kind": "a", "step.status": "FAILED"},
			want: map[string]any{"step.kind": "a", "step.status": "ok", "status_raw": "FAILED", "run.id": fallbackT1},
		},
		{
			name: "non-string status is ok plus status_raw", event: map[string]any{"step.kind": "a", "step.status": 3},
			want: map[string]any{"step.kind": "a", "step.status": "ok", "status_raw": "3", "run.id": fallbackT1},
		},
		{
			name: "status alias", cfg: func(c *Config) { c.StatusAliases = map[string]string{"error": "failed"} },
			event: map[string]any{"step.kind": "a", "step.status": "error"},
			want:  map[string]any{"step.kind": "a", "step.status": "failed", "status_raw": "error", "run.id": fallbackT1},
		},

		// detail
		{
			name: "detail within limit unchanged", cfg: func(c *Config) { c.MaxDetailBytes = 5 },
			event: map[string]any{"step.kind": "a", "step.status": "ok", "step.detail": "abcde"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "step.detail": "abcde", "run.id": fallbackT1},
		},
		{
			name: "detail truncated at a UTF-8 boundary", cfg: func(c *Config) { c.MaxDetailBytes = 5 },
			event: map[string]any{"step.kind": "a", "step.status": "ok", "step.detail": "abcdé!"}, // é is 2 bytes at 4..5
			want: map[string]any{
				"step.kind": "a", "step.status": "ok", "step.detail": "abcd", "detail_truncated": true, "run.id": fallbackT1,
			},
		},
		{
			name:  "huge detail truncated to max_detail_bytes",
			event: map[string]any{"step.kind": "a", "step.status": "ok", "step.detail": strings.Repeat("x", 1<<20)},
			check: func(t *testing.T, got map[string]any) {
				assert.Len(t, got["step.detail"], 8192)
				assert.Equal(t, true, got["detail_truncated"])
			},
		},
		{
			name: "non-string detail becomes a string", event: map[string]any{"step.kind": "a", "step.status": "ok", "step.detail": 12},
			want: map[string]any{"step.kind": "a", "step.status": "ok", "step.detail": "12", "run.id": fallbackT1},
		},
		{
			name: "log body is the default detail", only: "logs", body: "hydrated 12 rows",
			event: map[string]any{"step.kind": "a", "step.status": "ok"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "step.detail": "hydrated 12 rows", "run.id": fallbackT1},
		},
		{
			name: "log body does not override step.detail", only: "logs", body: "body",
			event: map[string]any{"step.kind": "a", "step.status": "ok", "step.detail": "attr"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "step.detail": "attr", "run.id": fallbackT1},
		},
		{
			name: "non-string log body is not a detail", only: "logs", body: map[string]any{"k": "v"},
			event: map[string]any{"step.kind": "a", "step.status": "ok"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "run.id": fallbackT1},
		},
		{
			name: "log body detail is truncated", only: "logs", body: "abcdefgh", cfg: func(c *Config) { c.MaxDetailBytes = 3 },
			event: map[string]any{"step.kind": "a", "step.status": "ok"},
			want: map[string]any{
				"step.kind": "a", "step.status": "ok", "step.detail": "abc", "detail_truncated": true, "run.id": fallbackT1,
			},
		},

		// kind from event.name (logs)
		{
			name: "event_name with prefix gives the kind", only: "logs", eventName: "step.embed.vllm",
			event: map[string]any{"step.status": "ok"},
			want:  map[string]any{"step.kind": "embed.vllm", "step.status": "ok", "run.id": fallbackT1},
		},
		{
			name: "event.name attribute with prefix gives the kind", only: "logs",
			event: map[string]any{"event.name": "step.git.blame", "step.status": "ok"},
			want:  map[string]any{"event.name": "step.git.blame", "step.kind": "git.blame", "step.status": "ok", "run.id": fallbackT1},
		},
		{
			name: "custom prefix", only: "logs", eventName: "rl/hydrate.duckdb", cfg: func(c *Config) { c.LogEventNamePrefix = "rl/" },
			event: map[string]any{"step.status": "ok"},
			want:  map[string]any{"step.kind": "hydrate.duckdb", "step.status": "ok", "run.id": fallbackT1},
		},
		{
			name: "event_name wins over the event.name attribute", only: "logs", eventName: "step.embed.vllm",
			event: map[string]any{"event.name": "step.other", "step.status": "ok"},
			want:  map[string]any{"event.name": "step.other", "step.kind": "embed.vllm", "step.status": "ok", "run.id": fallbackT1},
		},
		{
			name: "event_name step with session.id and error.type", only: "logs", eventName: "step.embed.vllm",
			resource: map[string]any{"session.id": "s-9"},
			event:    map[string]any{"step.status": "failed", "error.type": "timeout"},
			want: map[string]any{
				"step.kind": "embed.vllm", "step.status": "failed", "error.type": "timeout", "step.error.code": "timeout",
				"run.id": "s-9", "run_key": "session.id",
			},
		},
		{name: "event name without prefix is noise", only: "logs", eventName: "http.request", event: map[string]any{}, dropped: true},
		{name: "event name equal to the prefix is noise", only: "logs", eventName: "step.", event: map[string]any{}, dropped: true},
		{
			name: "empty prefix disables the event name route", only: "logs", eventName: "step.embed",
			cfg: func(c *Config) { c.LogEventNamePrefix = "" }, event: map[string]any{}, dropped: true,
		},
		{
			name: "step.kind attribute wins over event name", only: "logs", eventName: "step.other",
			event: map[string]any{"step.kind": "a", "step.status": "ok"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "run.id": fallbackT1},
		},

		// duration
		{
			name: "double duration kept", event: map[string]any{"step.kind": "a", "step.status": "ok", "step.duration_ms": 12.5},
			want: map[string]any{"step.kind": "a", "step.status": "ok", "step.duration_ms": 12.5, "run.id": fallbackT1},
		},
		{
			name: "int duration becomes double", event: map[string]any{"step.kind": "a", "step.status": "ok", "step.duration_ms": 12},
			want: map[string]any{"step.kind": "a", "step.status": "ok", "step.duration_ms": 12.0, "run.id": fallbackT1},
		},
		{
			name: "numeric string duration parsed", event: map[string]any{"step.kind": "a", "step.status": "ok", "step.duration_ms": " 7.25 "},
			want: map[string]any{"step.kind": "a", "step.status": "ok", "step.duration_ms": 7.25, "run.id": fallbackT1},
		},
		{
			name: "non-numeric duration dropped", event: map[string]any{"step.kind": "a", "step.status": "ok", "step.duration_ms": "slow"},
			want: map[string]any{"step.kind": "a", "step.status": "ok", "run.id": fallbackT1},
		},
		{
			name: "NaN duration dropped", event: map[string]any{"step.kind": "a", "step.status": "ok", "step.duration_ms": math.NaN()},
			want: map[string]any{"step.kind": "a", "step.status": "ok", "run.id": fallbackT1},
		},
		{
			name: "bool duration dropped", event: map[string]any{"step.kind": "a", "step.status": "ok", "step.duration_ms": true},
			want: map[string]any{"step.kind": "a", "step.status": "ok", "run.id": fallbackT1},
		},

		// sizes, resources, error code
		{
			name: "sizes: numbers kept, numeric strings parsed, the rest dropped",
			event: map[string]any{
				"step.kind": "a", "step.status": "ok",
				"step.size.hits": 50, "step.size.ratio": 0.5, "step.size.rows": "12", "step.size.mb": "1.5",
				"step.size.bad": "many", "step.size.flag": true, "step.size.inf": math.Inf(1), "step.size.": 3,
				"step.size.list": []any{1, 2},
			},
			want: map[string]any{
				"step.kind": "a", "step.status": "ok", "run.id": fallbackT1,
				"step.size.hits": int64(50), "step.size.ratio": 0.5, "step.size.rows": int64(12), "step.size.mb": 1.5,
			},
		},
		{
			name: "resources become strings",
			event: map[string]any{
				"step.kind": "a", "step.status": "ok",
				"step.resource.model": "bge-m3", "step.resource.index_version": 3, "step.resource.": "x",
			},
			want: map[string]any{
				"step.kind": "a", "step.status": "ok", "run.id": fallbackT1,
				"step.resource.model": "bge-m3", "step.resource.index_version": "3",
			},
		},
		{
			name:  "error code becomes a string",
			event: map[string]any{"step.kind": "a", "step.status": "failed", "step.error.code": 503},
			want:  map[string]any{"step.kind": "a", "step.status": "failed", "step.error.code": "503", "run.id": fallbackT1},
		},
		{
			name: "other attributes unchanged",
			event: map[string]any{
				"step.kind": "ann.faiss.search", "step.status": "ok", "nprobe": 16, "channels": []any{"dense", "bm25"},
				"opts": map[string]any{"k": 10}, "step.other": "x",
			},
			want: map[string]any{
				"step.kind": "ann.faiss.search", "step.status": "ok", "nprobe": int64(16), "channels": []any{"dense", "bm25"},
				"opts": map[string]any{"k": int64(10)}, "step.other": "x", "run.id": fallbackT1,
			},
		},

		// invalid UTF-8
		{
			name: "invalid UTF-8 replaced everywhere",
			event: map[string]any{
				"step.kind": "emb\xffed", "step.status": "ok", "step.detail": "a\xfe\xffb", "note": "x\xc3",
				"nested": map[string]any{"k\xff": []any{"v\xff"}}, "bad\xffkey": 1,
			},
			want: map[string]any{
				"step.kind": "emb\uFFFDed", "step.status": "ok", "step.detail": "a\uFFFDb", "note": "x\uFFFD",
				"nested": map[string]any{"k\uFFFD": []any{"v\uFFFD"}}, "bad\uFFFDkey": int64(1), "run.id": fallbackT1,
			},
		},
		{
			name: "invalid UTF-8 in log body replaced", only: "logs", body: "b\xffody",
			event: map[string]any{"step.kind": "a", "step.status": "ok"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "step.detail": "b\uFFFDody", "run.id": fallbackT1},
		},

		// attribute cap
		{
			name: "10,000 attributes capped, step attributes kept", event: many,
			check: func(t *testing.T, got map[string]any) {
				assert.Len(t, got, 128)
				assert.Equal(t, "big", got["step.kind"])
				assert.Equal(t, "ok", got["step.status"])
				assert.Equal(t, int64(3), got["step.size.rows"])
				assert.Equal(t, fallbackT1, got["run.id"])
				assert.Equal(t, int64(10000-123), got["attributes_dropped"])
			},
		},
		{
			name: "attributes at the cap are left alone", cfg: func(c *Config) { c.MaxAttributes = 16 },
			event: func() map[string]any {
				m := map[string]any{"step.kind": "a", "step.status": "ok"}
				for i := range 13 {
					m[fmt.Sprint("a", i)] = i
				}
				return m
			}(),
			check: func(t *testing.T, got map[string]any) {
				assert.Len(t, got, 16)
				assert.NotContains(t, got, "attributes_dropped")
			},
		},

		// run id resolution
		{
			name: "event run.id wins", resource: map[string]any{"run.id": "r-res"}, span: map[string]any{"run.id": "r-span"},
			event: map[string]any{"step.kind": "a", "step.status": "ok", "run.id": "r-ev"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "run.id": "r-ev"},
		},
		{
			name: "span run.id before resource", only: "traces", resource: map[string]any{"run.id": "r-res"}, span: map[string]any{"run.id": "r-span"},
			event: map[string]any{"step.kind": "a", "step.status": "ok"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "run.id": "r-span"},
		},
		{
			name: "resource run.id", resource: map[string]any{"run.id": "r-res"},
			event: map[string]any{"step.kind": "a", "step.status": "ok"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "run.id": "r-res"},
		},
		{
			name: "custom run_id_attribute, written as run.id", cfg: func(c *Config) { c.RunIDAttribute = "session.id" },
			event: map[string]any{"step.kind": "a", "step.status": "ok", "session.id": "s-1", "run.id": "ignored"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "session.id": "s-1", "run.id": "s-1", "run_key": "session.id"},
		},

		// run keys (run_id_keys): conventions' session and conversation ids
		{
			name:  "session.id on the event",
			event: map[string]any{"step.kind": "a", "step.status": "ok", "session.id": "s-1"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "session.id": "s-1", "run.id": "s-1", "run_key": "session.id"},
		},
		{
			name: "gen_ai.conversation.id on the resource", resource: map[string]any{"gen_ai.conversation.id": "conv-7"},
			event: map[string]any{"step.kind": "a", "step.status": "ok"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "run.id": "conv-7", "run_key": "gen_ai.conversation.id"},
		},
		{
			name: "langfuse.session.id on the span", only: "traces", span: map[string]any{"langfuse.session.id": "lf-1"},
			event: map[string]any{"step.kind": "a", "step.status": "ok"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "run.id": "lf-1", "run_key": "langfuse.session.id"},
		},
		{
			name:  "run.id beats session.id on one level, and needs no run_key",
			event: map[string]any{"step.kind": "a", "step.status": "ok", "session.id": "s-1", "run.id": "r-1"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "session.id": "s-1", "run.id": "r-1"},
		},
		{
			name:  "key order within a level: session.id before gen_ai.conversation.id",
			event: map[string]any{"step.kind": "a", "step.status": "ok", "gen_ai.conversation.id": "c-1", "session.id": "s-1"},
			want: map[string]any{
				"step.kind": "a", "step.status": "ok", "gen_ai.conversation.id": "c-1", "session.id": "s-1",
				"run.id": "s-1", "run_key": "session.id",
			},
		},
		{
			name: "level first: the event's session.id beats the resource's run.id", resource: map[string]any{"run.id": "r-res"},
			event: map[string]any{"step.kind": "a", "step.status": "ok", "session.id": "s-ev"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "session.id": "s-ev", "run.id": "s-ev", "run_key": "session.id"},
		},
		{
			name: "level first: the span's session.id beats the resource's run.id", only: "traces",
			resource: map[string]any{"run.id": "r-res"}, span: map[string]any{"session.id": "s-span"},
			event: map[string]any{"step.kind": "a", "step.status": "ok"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "run.id": "s-span", "run_key": "session.id"},
		},
		{
			name:  "a hostile session.id is no run id: the next key is read",
			event: map[string]any{"step.kind": "a", "step.status": "ok", "session.id": "s[2J", "langfuse.session.id": "lf-2"},
			want: map[string]any{
				"step.kind": "a", "step.status": "ok", "session.id": "s[2J", "langfuse.session.id": "lf-2",
				"run.id": "lf-2", "run_key": "langfuse.session.id",
			},
		},
		{
			name:  "a hostile session.id alone goes to the fallback run",
			event: map[string]any{"step.kind": "a", "step.status": "ok", "session.id": strings.Repeat("s", 2000)},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "session.id": strings.Repeat("s", 2000), "run.id": fallbackT1},
		},
		{
			name:  "session.previous_id becomes previous_run",
			event: map[string]any{"step.kind": "a", "step.status": "ok", "session.id": "s-2", "session.previous_id": "s-1"},
			want: map[string]any{
				"step.kind": "a", "step.status": "ok", "session.id": "s-2", "session.previous_id": "s-1",
				"run.id": "s-2", "run_key": "session.id", "previous_run": "s-1",
			},
		},
		{
			name: "run_id_keys narrowed to run.id ignores session.id", cfg: func(c *Config) { c.RunIDKeys = []string{"run.id"} },
			event: map[string]any{"step.kind": "a", "step.status": "ok", "session.id": "s-1"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "session.id": "s-1", "run.id": fallbackT1},
		},
		{
			name: "custom run_id_keys order", cfg: func(c *Config) { c.RunIDKeys = []string{"langfuse.session.id", "run.id"} },
			event: map[string]any{"step.kind": "a", "step.status": "ok", "run.id": "r-1", "langfuse.session.id": "lf-1"},
			want: map[string]any{
				"step.kind": "a", "step.status": "ok", "langfuse.session.id": "lf-1", "run.id": "lf-1", "run_key": "langfuse.session.id",
			},
		},

		// error.type (semantic conventions) as the error code
		{
			name:  "error.type is the error code when step.error.code is absent",
			event: map[string]any{"step.kind": "a", "step.status": "failed", "error.type": "http_503", "run.id": "r"},
			want:  map[string]any{"step.kind": "a", "step.status": "failed", "error.type": "http_503", "step.error.code": "http_503", "run.id": "r"},
		},
		{
			name:  "step.error.code beats error.type",
			event: map[string]any{"step.kind": "a", "step.status": "failed", "error.type": "http_503", "step.error.code": "timeout", "run.id": "r"},
			want:  map[string]any{"step.kind": "a", "step.status": "failed", "error.type": "http_503", "step.error.code": "timeout", "run.id": "r"},
		},
		{
			name: "non-string run.id is not a run id", event: map[string]any{"step.kind": "a", "step.status": "ok", "run.id": 42},
			want: map[string]any{"step.kind": "a", "step.status": "ok", "run.id": fallbackT1},
		},
		{
			name: "invalid UTF-8 run id replaced", event: map[string]any{"step.kind": "a", "step.status": "ok", "run.id": "r\xff1"},
			want: map[string]any{"step.kind": "a", "step.status": "ok", "run.id": "r\uFFFD1"},
		},
		{
			name: "fixed fallback", cfg: func(c *Config) { c.Fallback = FallbackFixed; c.FallbackRunID = "unassigned" },
			event: map[string]any{"step.kind": "a", "step.status": "ok"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "run.id": "unassigned"},
		},
		{
			name: "no trace id falls back to the zero trace", noTrace: true,
			event: map[string]any{"step.kind": "a", "step.status": "ok"},
			want:  map[string]any{"step.kind": "a", "step.status": "ok", "run.id": "trace-00000000000000000000000000000000"},
		},
	}
}

func TestRules(t *testing.T) {
	for _, tc := range ruleCases() {
		for _, signal := range []string{"traces", "logs"} {
			if tc.only != "" && tc.only != signal {
				continue
			}
			t.Run(signal+"/"+tc.name, func(t *testing.T) {
				cfg := testConfig(tc.cfg)
				p := newPipelines(t, cfg, nopSettings())
				tid := traceID(1)
				if tc.noTrace {
					tid = [16]byte{}
				}
				var got []map[string]any
				if signal == "traces" {
					td := buildTraces(t, tc.resource, spanSpec{trace: tid, id: 1, attrs: tc.span, events: []map[string]any{tc.event}})
					require.NoError(t, p.traces.ConsumeTraces(context.Background(), td))
					got = spanEvents(p.tsink)
					if tc.dropped {
						assert.Zero(t, p.tsink.SpanCount(), "a span without step events is dropped")
					}
				} else {
					ld := buildLogs(t, tc.resource, recordSpec{trace: tid, id: 1, attrs: tc.event, body: tc.body, eventName: tc.eventName})
					require.NoError(t, p.logs.ConsumeLogs(context.Background(), ld))
					got = logRecords(p.lsink)
				}
				if tc.dropped {
					assert.Empty(t, got)
					return
				}
				require.Len(t, got, 1)
				if tc.want != nil {
					assert.Equal(t, tc.want, got[0])
				}
				if tc.check != nil {
					tc.check(t, got[0])
				}
				if tc.want == nil && tc.check == nil {
					t.Fatal("case checks nothing")
				}
				if !cfg.KeepNonStep || got[0]["step.kind"] != nil {
					assert.NoError(t, checkNormalised(got[0], cfg))
				}
			})
		}
	}
}
