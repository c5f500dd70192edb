package runmetrics

import (
	"sort"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/runledger/runledger/internal/stepschema"
)

// Names of the metrics and of their attributes.
const (
	metricSteps    = "runledger.steps"
	metricDuration = "runledger.step.duration"
	metricRuns     = "runledger.runs"

	attrService       = stepschema.AttrServiceName
	attrKind          = stepschema.AttrKind
	attrStatus        = stepschema.AttrStatus
	attrErrorCode     = stepschema.AttrErrorCode
	attrRunStatus     = "run.status"
	attrStopCategory  = "stop.category"
	attrStopStage     = "stop.stage"
	attrStopErrorCode = "stop.error_code"
	// attrOverflow marks the data point of the attribute sets past the
	// cardinality limit, as the OpenTelemetry SDKs and contrib's
	// spanmetrics connector do.
	attrOverflow = "otel.metric.overflow"
)

// maxValueBytes bounds every attribute value: a producer's 1 MiB kind
// must not become a 1 MiB label in every scrape.
const maxValueBytes = 256

// clip cuts s to maxValueBytes at a UTF-8 boundary.
func clip(s string) string {
	s, _ = stepschema.TruncateUTF8(s, maxValueBytes)
	return s
}

// putStr writes k=v, leaving out empty values (a missing label and an
// empty one are the same to Prometheus; fewer attributes for the rest).
func putStr(m pcommon.Map, k, v string) {
	if v != "" {
		m.PutStr(k, v)
	}
}

// stepKey is one data point of runledger.steps.
type stepKey struct{ service, kind, status, code string }

func (k stepKey) clone() stepKey {
	return stepKey{strings.Clone(k.service), strings.Clone(k.kind), strings.Clone(k.status), strings.Clone(k.code)}
}

func (k stepKey) put(m pcommon.Map) {
	putStr(m, attrService, k.service)
	putStr(m, attrKind, k.kind)
	putStr(m, attrStatus, k.status)
	putStr(m, attrErrorCode, k.code)
}

// durationKey is one data point of runledger.step.duration.
type durationKey struct{ service, kind string }

func (k durationKey) clone() durationKey {
	return durationKey{strings.Clone(k.service), strings.Clone(k.kind)}
}

func (k durationKey) put(m pcommon.Map) {
	putStr(m, attrService, k.service)
	putStr(m, attrKind, k.kind)
}

// runKey is one data point of runledger.runs.
type runKey struct{ service, status, category, stage, code string }

func (k runKey) clone() runKey {
	return runKey{strings.Clone(k.service), k.status, k.category, strings.Clone(k.stage), strings.Clone(k.code)}
}

func (k runKey) put(m pcommon.Map) {
	putStr(m, attrService, k.service)
	putStr(m, attrRunStatus, k.status)
	putStr(m, attrStopCategory, k.category)
	putStr(m, attrStopStage, k.stage)
	putStr(m, attrStopErrorCode, k.code)
}

// seriesKey is what a metric's attribute set must do.
type seriesKey[K any] interface {
	comparable
	// clone returns a copy that shares no bytes with a request.
	clone() K
	// put writes the attributes.
	put(pcommon.Map)
}

// counter is a cumulative monotonic sum with a cardinality limit.
type counter[K seriesKey[K]] struct {
	limit    int
	points   map[K]int64
	overflow int64
}

func newCounter[K seriesKey[K]](limit int) *counter[K] {
	return &counter[K]{limit: limit, points: make(map[K]int64)}
}

// add counts one observation of k and reports whether k had room; one
// without room is counted in the overflow data point.
func (c *counter[K]) add(k K) bool {
	if _, ok := c.points[k]; ok {
		c.points[k]++
		return true
	}
	if len(c.points) >= c.limit {
		c.overflow++
		return false
	}
	c.points[k.clone()] = 1
	return true
}

func (c *counter[K]) appendTo(ms pmetric.MetricSlice, name, desc, unit string, start, now pcommon.Timestamp) {
	if len(c.points) == 0 && c.overflow == 0 {
		return
	}
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetDescription(desc)
	m.SetUnit(unit)
	s := m.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dps := s.DataPoints()
	dps.EnsureCapacity(len(c.points) + 1)
	for k, v := range c.points {
		dp := dps.AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(now)
		dp.SetIntValue(v)
		k.put(dp.Attributes())
	}
	if c.overflow > 0 {
		dp := dps.AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(now)
		dp.SetIntValue(c.overflow)
		dp.Attributes().PutBool(attrOverflow, true)
	}
}

// histPoint is one cumulative explicit-bucket histogram data point.
type histPoint struct {
	counts        []uint64 // len(bounds)+1
	count         uint64
	sum, min, max float64
}

func (p *histPoint) observe(bounds []float64, v float64) {
	// Bucket i holds (bounds[i-1], bounds[i]], the last one the rest.
	p.counts[sort.SearchFloat64s(bounds, v)]++
	if p.count == 0 || v < p.min {
		p.min = v
	}
	if p.count == 0 || v > p.max {
		p.max = v
	}
	p.count++
	p.sum += v
}

// histogram is a cumulative explicit-bucket histogram with a cardinality
// limit.
type histogram[K seriesKey[K]] struct {
	limit    int
	bounds   []float64
	points   map[K]*histPoint
	overflow *histPoint
}

func newHistogram[K seriesKey[K]](limit int, bounds []float64) *histogram[K] {
	return &histogram[K]{limit: limit, bounds: bounds, points: make(map[K]*histPoint)}
}

func (h *histogram[K]) newPoint() *histPoint {
	return &histPoint{counts: make([]uint64, len(h.bounds)+1)}
}

// observe records v for k and reports whether k had room.
func (h *histogram[K]) observe(k K, v float64) bool {
	p, ok := h.points[k]
	switch {
	case ok:
	case len(h.points) < h.limit:
		p = h.newPoint()
		h.points[k.clone()] = p
	default:
		if h.overflow == nil {
			h.overflow = h.newPoint()
		}
		h.overflow.observe(h.bounds, v)
		return false
	}
	p.observe(h.bounds, v)
	return true
}

func (h *histogram[K]) appendTo(ms pmetric.MetricSlice, name, desc, unit string, start, now pcommon.Timestamp) {
	if len(h.points) == 0 && h.overflow == nil {
		return
	}
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetDescription(desc)
	m.SetUnit(unit)
	hist := m.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dps := hist.DataPoints()
	dps.EnsureCapacity(len(h.points) + 1)
	put := func(p *histPoint) pmetric.HistogramDataPoint {
		dp := dps.AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(now)
		dp.SetCount(p.count)
		dp.SetSum(p.sum)
		dp.SetMin(p.min)
		dp.SetMax(p.max)
		dp.ExplicitBounds().FromRaw(h.bounds)
		dp.BucketCounts().FromRaw(p.counts)
		return dp
	}
	for k, p := range h.points {
		k.put(put(p).Attributes())
	}
	if h.overflow != nil {
		put(h.overflow).Attributes().PutBool(attrOverflow, true)
	}
}
