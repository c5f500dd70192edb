package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// stopReason applies the ordered rules of docs/design.md §3:
//
//  1. run.end ok -> completed;
//  2. cancelled run.end, or a cancelled step before any outstanding failure
//     -> cancelled;
//  3. a failed run (run.end failed, or an outstanding failed step) -> the root
//     cause: error, or timeout when its code or detail says so;
//  4. no run.end and silent for stall_after -> stalled;
//  5. otherwise in_progress.
//
// The root cause is the first failed step, in timeline order, that was not
// recovered by a later ok step of its stage. When that step is an error
// handler's report (kind "<stage>.error", e.g. retrieval.error) that repeats
// another failure (same error code, its detail, or a mention of its stage),
// the repeated failure is the root cause instead.
func (b *Builder) stopReason(status string, now time.Time) StopReason {
	switch status {
	case StatusCompleted:
		return b.completedReason()
	case StatusCancelled:
		return b.cancelledReason()
	case StatusFailed:
		return b.failedReason()
	case StatusStalled:
		silent := now.Sub(b.tracker.Last()).Round(time.Second)
		sr := b.lastEventReason(CategoryStalled, ConfidenceMedium,
			fmt.Sprintf("no run.end and no event for %s (stall_after %s); last step %s", silent, b.opts.StallAfter, b.lastKind))
		sr.Remediation = b.opts.Remediations.stalledText(b.lastKind)
		return sr
	default:
		return b.lastEventReason(CategoryInProgress, ConfidenceMedium,
			fmt.Sprintf("no run.end yet; last step %s", b.lastKind))
	}
}

func seqPtr(s uint64) *uint64 { return &s }

func (b *Builder) completedReason() StopReason {
	sr := StopReason{Category: CategoryCompleted, Confidence: ConfidenceHigh}
	if b.end == nil {
		return sr
	}
	sr.Kind, sr.Stage = b.end.kind, b.end.stage
	sr.EventSeq = seqPtr(b.end.seq)
	sr.Detail = b.end.detail
	if sr.Detail == "" {
		rec := 0
		for _, f := range b.failures {
			if f.recovered {
				rec++
			}
		}
		sr.Detail = fmt.Sprintf("run ended ok after %d events", b.tracker.Events())
		if len(b.failures) > 0 {
			sr.Detail += fmt.Sprintf(" (%d failed steps, %d recovered)", len(b.failures), rec)
		}
	}
	sr.Evidence = []Evidence{{Seq: b.end.seq, Kind: b.end.kind, Note: "run.end with status " + b.end.status}}
	return sr
}

func (b *Builder) cancelledReason() StopReason {
	sr := StopReason{Category: CategoryCancelled, Confidence: ConfidenceHigh}
	src := b.cancel
	if src == nil {
		src = b.end
	}
	if b.end == nil {
		sr.Confidence = ConfidenceMedium
	}
	if src != nil {
		sr.Kind, sr.Stage, sr.ErrorCode, sr.Detail = src.kind, src.stage, src.code, src.detail
		sr.EventSeq = seqPtr(src.seq)
		note := "step cancelled"
		if src == b.end {
			note = "run.end with status " + src.status
		}
		sr.Evidence = append(sr.Evidence, Evidence{Seq: src.seq, Kind: src.kind, Note: note})
	}
	if b.end != nil && b.end != src {
		sr.Evidence = append(sr.Evidence, Evidence{Seq: b.end.seq, Kind: b.end.kind, Note: "run.end with status " + b.end.status})
		if sr.Detail == "" {
			sr.Detail = b.end.detail
		}
	}
	code := sr.ErrorCode
	if code == "" {
		code = "cancelled"
	}
	rem := b.opts.Remediations.Lookup(sr.Kind, code, sr.Detail)
	sr.Remediation = rem.Text
	sr.setTaxonomy(rem.Taxonomy)
	return sr
}

// setTaxonomy writes a failure's class on the stop reason.
func (sr *StopReason) setTaxonomy(t Taxonomy) {
	sr.ErrorCategory, sr.Retryable, sr.Owner = t.Category, t.Retryable, t.Owner
}

// IsExceptionKind reports whether kind is a step made from a recorded
// exception ("exception" or "<stage>.exception", steproute's
// capture_exceptions). It is evidence of lower rank than a step the
// producer reported failed: the stop-reason rules look at exceptions only
// when no other failed step explains the stop.
func IsExceptionKind(kind string) bool {
	return kind == "exception" || strings.HasSuffix(kind, ".exception")
}

// explicitFirst orders failures for the root-cause search: steps reported
// failed first, exceptions after, each in timeline order.
func explicitFirst(fs []failure) []failure {
	slices.SortStableFunc(fs, func(x, y failure) int {
		return cmp.Compare(b2i(IsExceptionKind(x.kind)), b2i(IsExceptionKind(y.kind)))
	})
	return fs
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// IsErrorKind reports whether kind is an error handler's report
// ("<stage>.error" or "error"), which defers to the failure it repeats.
func IsErrorKind(kind string) bool {
	return strings.HasSuffix(kind, ".error") || kind == "error"
}

// repeats reports whether wrapper w repeats failure f: strongly (same code
// or f's detail quoted) or weakly (w's detail names f's stage or kind).
func repeats(w, f *failure) (strong, weak bool) {
	if w.code != "" && strings.EqualFold(w.code, f.code) {
		return true, false
	}
	if f.detail != "" && strings.Contains(w.detail, f.detail) {
		return true, false
	}
	if w.code == "" && w.detail == "" {
		return false, true
	}
	wd := strings.ToLower(w.detail)
	if strings.Contains(wd, strings.ToLower(f.kind)) || f.stage != w.stage && len(f.stage) >= 3 && strings.Contains(wd, strings.ToLower(f.stage)) {
		return false, true
	}
	return false, false
}

func before(a, b *failure) bool { return a.tsn < b.tsn || a.tsn == b.tsn && a.seq < b.seq }

func (b *Builder) failedReason() StopReason {
	sr := StopReason{Category: CategoryError, Confidence: ConfidenceHigh}
	penalty := 0
	if b.end == nil {
		penalty++
	}
	all := explicitFirst(timelineOrder(b.failures))
	var root, wrapper *failure
	weak := false
	for i := range all {
		w := &all[i]
		if w.recovered {
			continue
		}
		if !IsErrorKind(w.kind) {
			root = w
			break
		}
		// An error handler's step: look for the failure it repeats, among
		// real steps anywhere and error steps before it.
		var weakHit *failure
		for j := range all {
			f := &all[j]
			// An exception made from a recorded exception is weaker evidence
			// than the error the producer reported: the wrapper does not
			// defer to it.
			if j == i || IsExceptionKind(f.kind) || IsErrorKind(f.kind) && !(before(f, w) || f.seq < w.seq) {
				continue
			}
			strong, wk := repeats(w, f)
			if strong {
				root = f
				break
			}
			if wk && weakHit == nil {
				weakHit = f
			}
		}
		switch {
		case root != nil:
			wrapper = w
		case weakHit != nil:
			root, wrapper, weak = weakHit, w, true
		default:
			root = w
		}
		break
	}
	if root == nil {
		// run.end failed with no outstanding failure.
		penalty += 2
		if len(all) > 0 {
			root = &all[len(all)-1]
			sr.Evidence = append(sr.Evidence, Evidence{Seq: root.seq, Kind: root.kind,
				Note: fmt.Sprintf("last failed step (recovered by seq %d); no outstanding failure", root.recBy)})
		} else if b.end != nil {
			root = b.end
			sr.Evidence = append(sr.Evidence, Evidence{Seq: root.seq, Kind: root.kind,
				Note: "run.end with status failed; no failed step in the ledger"})
		} else {
			sr.Confidence = ConfidenceLow
			return sr
		}
	} else {
		sr.Evidence = append(sr.Evidence, Evidence{Seq: root.seq, Kind: root.kind, Note: "root cause: first failed step not recovered"})
		if wrapper != nil && weak {
			penalty++
			sr.Evidence = append(sr.Evidence, Evidence{Seq: wrapper.seq, Kind: wrapper.kind, Note: "error report that names the root cause's stage"})
		}
		for i := range all {
			w := &all[i]
			if w.seq == root.seq || !IsErrorKind(w.kind) || len(sr.Evidence) >= 10 {
				continue
			}
			if strong, _ := repeats(w, root); strong || w == wrapper && !weak {
				sr.Evidence = append(sr.Evidence, Evidence{Seq: w.seq, Kind: w.kind, Note: "repeats the root cause"})
			}
		}
		for i := range all {
			f := &all[i]
			if f.recovered && before(f, root) && len(sr.Evidence) < 10 {
				sr.Evidence = append(sr.Evidence, Evidence{Seq: f.seq, Kind: f.kind,
					Note: fmt.Sprintf("earlier failure recovered by seq %d", f.recBy)})
			}
		}
	}
	if b.end != nil && root != b.end {
		sr.Evidence = append(sr.Evidence, Evidence{Seq: b.end.seq, Kind: b.end.kind, Note: "run.end with status " + b.end.status})
	} else if b.end == nil {
		sr.Evidence = append(sr.Evidence, Evidence{Seq: b.lastSeq, Kind: b.lastKind, Note: "no run.end; last event"})
	}
	sr.Kind, sr.Stage, sr.ErrorCode, sr.Detail = root.kind, root.stage, root.code, root.detail
	sr.Resources = root.resources
	sr.EventSeq = seqPtr(root.seq)
	if sr.ErrorCode == "" && wrapper != nil {
		sr.ErrorCode = wrapper.code
	}
	if sr.Detail == "" && wrapper != nil {
		sr.Detail = wrapper.detail
	}
	if IsTimeout(sr.ErrorCode, sr.Detail) {
		sr.Category = CategoryTimeout
	}
	rem := b.opts.Remediations.Lookup(sr.Kind, sr.ErrorCode, sr.Detail)
	sr.Remediation = rem.Text
	sr.setTaxonomy(rem.Taxonomy)
	if !rem.Specific {
		penalty++
	}
	sr.Confidence = lower(ConfidenceHigh, penalty)
	return sr
}

func lower(c string, steps int) string {
	levels := []string{ConfidenceHigh, ConfidenceMedium, ConfidenceLow}
	i := 0
	for i < len(levels) && levels[i] != c {
		i++
	}
	return levels[min(i+steps, len(levels)-1)]
}

// lastEventReason is the reason of a run without run.end. Its last step
// succeeded or is still running, so it is not where the run stopped: it is
// named in AfterKind, and Stage is the first stage the producer declared
// (run.start attrs.stages) that never reported, when known.
func (b *Builder) lastEventReason(category, confidence, detail string) StopReason {
	sr := StopReason{Category: category, Confidence: confidence, Detail: detail}
	if b.tracker.Events() == 0 {
		return sr
	}
	sr.AfterKind = b.lastKind
	sr.Stage = b.missingStage()
	if sr.Stage != "" {
		sr.Detail += "; stage " + sr.Stage + " never reported"
	}
	sr.EventSeq = seqPtr(b.lastSeq)
	sr.Evidence = []Evidence{{Seq: b.lastSeq, Kind: b.lastKind, Note: "latest event; no run.end"}}
	return sr
}

// IsTimeout reports whether an error code or detail text describes a
// timeout: codes such as timeout, deadline_exceeded, http_504,
// gateway_timeout, and detail text such as "timed out", "deadline exceeded",
// "context deadline", "504 Gateway Timeout".
func IsTimeout(code, detail string) bool {
	c := NormalizeCode(code)
	switch c {
	case "timeout", "timed_out", "deadline_exceeded", "context_deadline_exceeded", "http_504",
		"gateway_timeout", "http_408", "request_timeout", "read_timeout", "connect_timeout":
		return true
	}
	if strings.Contains(c, "timeout") || strings.Contains(c, "deadline") || strings.Contains(c, "timed_out") {
		return true
	}
	return detailIsTimeout(strings.ToLower(detail))
}

func detailIsTimeout(d string) bool {
	for _, kw := range []string{"timeout", "timed out", "deadline exceeded", "deadline_exceeded", "context deadline", "gateway time-out"} {
		if strings.Contains(d, kw) {
			return true
		}
	}
	return hasNumberWord(d, "504") || hasNumberWord(d, "408")
}

// hasNumberWord reports whether num occurs in s not surrounded by digits or
// letters ("HTTP 504", "status=504", not "15040").
func hasNumberWord(s, num string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], num)
		if j < 0 {
			return false
		}
		j += i
		k := j + len(num)
		if (j == 0 || !isWordByte(s[j-1])) && (k == len(s) || !isWordByte(s[k])) {
			return true
		}
		i = j + 1
	}
}

func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// NormalizeCode lower-cases an error code and turns spaces, dashes and dots
// into underscores: "HTTP 503" -> "http_503", "Deadline-Exceeded" ->
// "deadline_exceeded".
func NormalizeCode(code string) string {
	code = strings.TrimSpace(code)
	if code == "" {
		return ""
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '/':
			return '_'
		}
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, code)
}
