package reportapi

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/ledgerstore"
)

// reportapi owns the ledger directory: the writer an exporter opens through
// it writes its directory with its settings, and every append is in the run
// index when the write returns, with no poll in between.
func TestStoreWritesReachTheIndexAtOnce(t *testing.T) {
	s := startServer(t, nil, func(c *Config) {
		c.IndexRefresh = time.Hour // no poll during the test
		c.Fsync = "always"
	})
	w, err := s.ext.OpenWriter(ledgerstore.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Dir() != s.dir {
		t.Fatalf("writer writes %q, the extension's directory is %q", w.Dir(), s.dir)
	}
	now := time.Now().UTC()
	l := ledger.Line{RunID: "r-store", TS: now, Kind: "run.start", Status: "ok"}
	if _, err := w.Write([]ledger.Entry{ledger.NewEntry(&l)}); err != nil {
		t.Fatal(err)
	}
	if n := s.ext.index.Len(); n != 1 {
		t.Fatalf("index has %d runs right after the write", n)
	}
	r := get(t, s.base+"/reports/runs")
	if r.code != http.StatusOK || !strings.Contains(string(r.body), `"r-store"`) {
		t.Fatalf("list: %d %s", r.code, r.body)
	}
	if p := ledger.RunPath(s.dir, now, "r-store"); filepath.Dir(filepath.Dir(p)) != s.dir {
		t.Fatalf("run path %s", p)
	}
	if _, err := s.ext.OpenWriter(ledgerstore.WriterOptions{}); err == nil {
		t.Fatal("a second writer was opened on the directory")
	}
}
