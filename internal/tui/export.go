package tui

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
)

// export writes the report of runID as JSON and Markdown into the reports
// directory; data is loaded from the source when nil.
func (m *model) export(runID string, data *RunData) tea.Cmd {
	ctx, src, dir := m.ctx, m.src, m.outDir
	m.setFlash("exporting "+runID+"…", false)
	return func() tea.Msg {
		if data == nil {
			d, err := src.Run(ctx, runID)
			if err != nil {
				return exportMsg{runID: runID, err: err}
			}
			data = d
		}
		paths, err := ExportReport(dir, data.Report)
		return exportMsg{runID: runID, paths: paths, err: err}
	}
}

// ExportReport writes rep as <dir>/<name>.json and <dir>/<name>.md, name
// being ledger.FileName of the run id (the names the reportapi save route
// uses), each file replaced atomically. It returns the two paths.
func ExportReport(dir string, rep *report.Report) ([]string, error) {
	if rep == nil {
		return nil, errors.New("no report to export")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %q: %w", dir, err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode report %q: %w", rep.RunID, err)
	}
	stem := filepath.Join(dir, ledger.FileName(rep.RunID))
	jsonPath, mdPath := stem+".json", stem+".md"
	if err := writeFileAtomic(jsonPath, append(js, '\n')); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(mdPath, []byte(rep.Markdown())); err != nil {
		return nil, err
	}
	return []string{jsonPath, mdPath}, nil
}

// writeFileAtomic writes b to a temporary file beside path and renames it
// over path, so readers never see a half-written report.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %q: %w", path, err)
	}
	return nil
}
