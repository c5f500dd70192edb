package report

import "fmt"

// MaxChain bounds how many runs Chain follows back.
const MaxChain = 100

// ChainLink is one run of a chain of runs linked by previous_run.
type ChainLink struct {
	RunID        string `json:"run_id"`
	Status       string `json:"status"`
	StopCategory string `json:"stop_category"`
	PreviousRun  string `json:"previous_run,omitempty"`
}

// Chain follows previous_run back from run id, newest first: runs of one
// session (session.previous_id), each as build reports it. locate returns
// a run's ledger path ("" when unknown); a run that is not found ends the
// chain (its id is the last link's previous_run). Cycles end it too.
func Chain(id string, locate func(string) (string, error), opts Options) ([]ChainLink, error) {
	var out []ChainLink
	seen := map[string]bool{}
	for id != "" && !seen[id] && len(out) < MaxChain {
		seen[id] = true
		p, err := locate(id)
		if err != nil {
			return out, err
		}
		if p == "" {
			if len(out) == 0 {
				return nil, fmt.Errorf("run %q: %w", id, ErrNoEvents)
			}
			break
		}
		o := opts
		o.RunID, o.TimelineLimit = id, 1
		rep, err := BuildFile(p, o)
		if err != nil {
			return out, err
		}
		out = append(out, ChainLink{RunID: id, Status: rep.Status, StopCategory: rep.StopReason.Category, PreviousRun: rep.PreviousRun})
		id = rep.PreviousRun
	}
	return out, nil
}
