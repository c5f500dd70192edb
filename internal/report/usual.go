package report

import (
	"errors"

	"github.com/runledger/runledger/internal/ledger"
)

// StageOrder returns the stages of the ledger at path in order of first
// appearance, without the run's own run.* steps: the shape of a run of its
// service, to compare an unfinished run against. It reads the summary form
// of each line (no detail or attributes).
func StageOrder(path string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	_, err := ledger.ReadSummaryFrom(path, 0, func(l *ledger.Line) error {
		st := Stage(l.Kind)
		if st == "" || st == "run" || seen[st] {
			return nil
		}
		seen[st] = true
		out = append(out, st)
		if len(out) == maxDeclaredStages {
			return ledger.ErrStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, ledger.ErrStop) {
		return nil, err
	}
	return out, nil
}

// NeedsUsualStages reports whether r is a stalled or in_progress run that
// could not name the stage that never reported: it declared no stages, so
// NameUsualStage with another run's StageOrder can.
func (r *Report) NeedsUsualStages() bool {
	sr := &r.StopReason
	return (sr.Category == CategoryStalled || sr.Category == CategoryInProgress) &&
		sr.AfterKind != "" && sr.Stage == "" && len(r.Services) > 0
}

// NameUsualStage names, for a run NeedsUsualStages, the stage that never
// reported: in usual (the StageOrder of run from, a completed run of the
// same service), the first stage after the one r stalled in (AfterKind's,
// or the latest of usual that r reached) that has no step in r. It does
// nothing when r shares no stage with usual or reached all that follow.
func (r *Report) NameUsualStage(usual []string, from string) {
	if !r.NeedsUsualStages() {
		return
	}
	seen := make(map[string]bool, len(r.Stages))
	for _, s := range r.Stages {
		seen[s.Stage] = true
	}
	sr := &r.StopReason
	at := -1
	for i, st := range usual {
		if st == Stage(sr.AfterKind) {
			at = i
			break
		}
		if seen[st] {
			at = i
		}
	}
	if at < 0 {
		return // nothing in common: a different shape of run
	}
	for _, st := range usual[at+1:] {
		if !seen[st] {
			sr.Stage, sr.UsualFrom = st, from
			sr.Detail += "; stage " + st + " never reported (it came next in run " + from + ")"
			return
		}
	}
}
