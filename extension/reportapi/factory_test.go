package reportapi

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/runledger/runledger/extension/reportapi/internal/metadata"
	"github.com/runledger/runledger/internal/report"
)

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type() != metadata.Type || f.Type().String() != "reportapi" {
		t.Fatalf("type %s", f.Type())
	}
	if f.Stability() != metadata.ExtensionStability {
		t.Fatalf("stability %s", f.Stability())
	}
}

func TestLifecycle(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Directory = t.TempDir()
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Shutdown without Start is fine.
	if err := ext.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ext, err = f.Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	if err := ext.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCreateRejectsBadRemediation(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Remediation.Rules = []report.RemediationRule{{Stage: "[", Text: "x"}}
	if _, err := f.Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg); err == nil {
		t.Fatal("bad remediation pattern accepted")
	}
}
