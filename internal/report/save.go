package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/runledger/runledger/internal/ledger"
)

// SaveResult is the response of Save (and of reportapi's POST /reports/runs/{run_id}/save).
type SaveResult struct {
	RunID    string `json:"run_id"`
	Status   string `json:"status"`
	JSON     string `json:"json"`
	Markdown string `json:"markdown"`
}

// Save writes rep as <dir>/<ledger.FileName(run id)>.json and .md,
// each atomically (temporary file, then rename), creating dir if needed.
func Save(dir string, rep *Report) (SaveResult, error) {
	res := SaveResult{RunID: rep.RunID, Status: rep.Status}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, fmt.Errorf("create reports folder: %w", err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return res, fmt.Errorf("encode report: %w", err)
	}
	stem := filepath.Join(dir, ledger.FileName(rep.RunID))
	res.JSON, res.Markdown = stem+".json", stem+".md"
	if err := writeAtomic(res.JSON, append(js, '\n')); err != nil {
		return res, err
	}
	if err := writeAtomic(res.Markdown, []byte(rep.Markdown())); err != nil {
		return res, err
	}
	return res, nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = io.Copy(tmp, bytes.NewReader(data))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
