package reportapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.uber.org/zap"

	"github.com/runledger/runledger/extension/reportapi/internal/metadata"
	"github.com/runledger/runledger/internal/insights"
	"github.com/runledger/runledger/internal/ledgerstore"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/runindex"
)

type reportAPI struct {
	cfg          *Config
	set          component.TelemetrySettings
	tb           *metadata.TelemetryBuilder
	remediations *report.RemediationTable
	index        *runindex.Index
	insights     *insights.Engine // run summaries kept for /reports/insights
	// store is the ledger directory this extension owns: the exporter
	// opens its writer through OpenWriter, and every append reaches the
	// index inside the write call.
	store *ledgerstore.Dir
	now   func() time.Time
	hosts *hostPolicy
	// builds holds one token per report being built (max_concurrent_reports).
	builds chan struct{}
	// fed asks the peers (federation.go); nil without peers.
	fed *federation
	// nodeID tells this node's answers to peers apart (HeaderNode).
	nodeID string

	server   *http.Server
	addr     net.Addr
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	errMu    sync.Mutex
	lastWarn time.Time
}

func newReportAPI(cfg *Config, set component.TelemetrySettings) (*reportAPI, error) {
	tab, err := cfg.Remediation.Table()
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	r := &reportAPI{cfg: cfg, set: set, tb: tb, remediations: tab, now: time.Now,
		builds: make(chan struct{}, max(cfg.MaxConcurrentReports, 1))}
	r.index = runindex.New(cfg.Directory, runindex.Options{StallAfter: cfg.StallAfter, Now: r.clock, Remediations: tab})
	r.insights = insights.NewEngine()
	r.store = ledgerstore.NewDir(cfg.Settings, r.index.Appended)
	r.nodeID = newNodeID()
	if r.fed, err = newFederation(&cfg.Federation, r.nodeID, set.Logger); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *reportAPI) clock() time.Time { return r.now() }

// OpenWriter implements ledgerstore.Store: the jsonlledger exporter that
// names this extension in its `store` setting writes the directory through
// it.
func (r *reportAPI) OpenWriter(o ledgerstore.WriterOptions) (*ledgerstore.Writer, error) {
	return r.store.OpenWriter(o)
}

// Start opens the listener, starts the HTTP server and the index's upkeep.
func (r *reportAPI) Start(ctx context.Context, host component.Host) error {
	ln, err := r.cfg.ServerConfig.ToListener(ctx)
	if err != nil {
		return err
	}
	r.hosts, err = newHostPolicy(r.cfg.ServerConfig.NetAddr.Endpoint, ln.Addr(), r.cfg.AllowedHosts)
	if err != nil {
		_ = ln.Close()
		return err
	}
	r.server, err = r.cfg.ServerConfig.ToServer(ctx, host.GetExtensions(), r.set, r.handler(),
		confighttp.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, msg string, code int) {
			writeError(w, code, msg)
		}))
	if err != nil {
		_ = ln.Close()
		return err
	}
	r.addr = ln.Addr()
	r.set.Logger.Info("reportapi listening", zap.String("address", r.addr.String()),
		zap.String("directory", r.cfg.Directory), zap.String("reports_dir", r.cfg.ReportsDir))

	bg, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		if err := r.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	go func() {
		defer r.wg.Done()
		r.index.Run(bg, r.cfg.IndexRefresh, r.refreshError)
	}()
	return nil
}

// refreshError counts index refresh errors and logs at most one a minute.
func (r *reportAPI) refreshError(err error) {
	r.tb.ReportapiIndexRefreshErrors.Add(context.Background(), 1)
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if now := time.Now(); now.Sub(r.lastWarn) > time.Minute {
		r.lastWarn = now
		r.set.Logger.Warn("run index refresh failed (logged at most once a minute)", zap.Error(err))
	}
}

// Shutdown stops the server and the poller.
func (r *reportAPI) Shutdown(ctx context.Context) error {
	var err error
	if r.server != nil {
		err = r.server.Shutdown(ctx)
		if err != nil {
			err = errors.Join(err, r.server.Close())
		}
	}
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	r.fed.close()
	// The exporter closed its writer before the extensions stop; this
	// closes one left open (an exporter that failed to shut down).
	if cerr := r.store.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	r.tb.Shutdown()
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

var _ ledgerstore.Store = (*reportAPI)(nil)
