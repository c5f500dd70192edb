package jsonlledger

import (
	"path/filepath"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/ledgerstore"
)

// testCfg is an exporter config together with the settings of the ledger
// store it names, which a collector would read from the store extension's
// config.
type testCfg struct {
	*Config
	ledgerstore.Settings
	// appended, when set, hears of every append (as reportapi's index does).
	appended func(*ledger.Appended)
}

// newTestCfg returns the default config with a fresh directory.
func newTestCfg(t testing.TB) *testCfg {
	cfg := &testCfg{Config: createDefaultConfig().(*Config), Settings: ledgerstore.DefaultSettings()}
	cfg.Directory = filepath.Join(t.TempDir(), "runs")
	return cfg
}

// host returns a host whose extension named by the exporter's store is a
// ledger store over cfg's settings.
func (cfg *testCfg) host(t testing.TB) component.Host {
	d := ledgerstore.NewDir(cfg.Settings, cfg.appended)
	t.Cleanup(func() { _ = d.Close() })
	return storeHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{
		cfg.Store: storeExtension{Dir: d},
	}}
}

// storeHost is a host with the given extensions; with status set it
// records the component status events reported to it.
type storeHost struct {
	component.Host
	exts   map[component.ID]component.Component
	status *statusLog
}

// Report implements componentstatus.Reporter.
func (h storeHost) Report(ev *componentstatus.Event) {
	if h.status != nil {
		h.status.mu.Lock()
		h.status.events = append(h.status.events, ev)
		h.status.mu.Unlock()
	}
}

// statusLog is the status events a host received, in order.
type statusLog struct {
	mu     sync.Mutex
	events []*componentstatus.Event
}

// statuses returns the statuses reported so far.
func (l *statusLog) statuses() []componentstatus.Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]componentstatus.Status, len(l.events))
	for i, ev := range l.events {
		out[i] = ev.Status()
	}
	return out
}

func (h storeHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// storeExtension is a minimal extension owning a ledger directory.
type storeExtension struct {
	component.StartFunc
	component.ShutdownFunc
	*ledgerstore.Dir
}
