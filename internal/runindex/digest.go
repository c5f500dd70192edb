package runindex

import (
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/stepschema"
)

// StopDigest is the index's bounded per-run digest of failures (the state
// behind Entry's stop fields) for callers that see a run's steps one by
// one and cannot keep them, such as the runmetrics connector: it names the
// root cause as the run list does, by the report's rules, in memory that
// does not grow with the run (see Stop for where it differs from the
// report). The zero value is an empty digest; a run without failure,
// cancellation or run.end error code keeps it empty and costs one nil
// pointer.
type StopDigest struct {
	s *stopState
}

// Observe adds a step: l needs Kind, Status, ErrorCode, TS and Seq (the
// order of arrival breaks ties of equal times, as seq does in a ledger).
// intern returns the copy of a string to keep (kinds and codes); nil keeps
// l's strings as they are.
func (d *StopDigest) Observe(l *ledger.Line, intern func(string) string) {
	if intern == nil {
		intern = func(s string) string { return s }
	}
	d.s = observeStop(d.s, l, intern)
}

// Empty reports whether nothing observed so far matters to the stop
// reason: the digest then holds no memory.
func (d *StopDigest) Empty() bool { return d.s == nil }

// Stop returns the stop reason of the run with status status (a report
// status, e.g. from report.Tracker.Status), ended telling whether a
// run.end was seen.
func (d *StopDigest) Stop(status string, ended bool) Stop {
	return stopOf(status, ended, d.s)
}

// EndStatus is the status of a run whose run.end has status endStatus:
// the report's rule (report.Tracker), for callers that decide at run.end.
func EndStatus(endStatus string) string {
	var t report.Tracker
	t.Observe(&ledger.Line{Kind: stepschema.KindRunEnd, Status: endStatus})
	return t.Status(time.Time{}, 0)
}
