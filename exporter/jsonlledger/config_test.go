package jsonlledger

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/runledger/runledger/exporter/jsonlledger/internal/metadata"
)

func TestCreateDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if err := componenttest.CheckConfigStruct(cfg); err != nil {
		t.Fatal(err)
	}
	if err := confmap.Validate(cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Store != component.MustNewID("reportapi") {
		t.Fatalf("default store %s", cfg.Store)
	}
	if cfg.QueueConfig.HasValue() {
		t.Fatal("sending_queue must be off by default (ack after write)")
	}
	if !cfg.RetryConfig.Enabled || cfg.TimeoutConfig.Timeout != 5*time.Second {
		t.Fatalf("exporterhelper defaults %+v %+v", cfg.RetryConfig, cfg.TimeoutConfig)
	}
}

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	custom := createDefaultConfig().(*Config)
	custom.Store = component.MustNewIDWithName("reportapi", "main")
	custom.TimeoutConfig.Timeout = 10 * time.Second
	custom.RetryConfig.InitialInterval = time.Second
	custom.RetryConfig.MaxElapsedTime = 10 * time.Minute
	q := custom.QueueConfig.GetOrInsertDefault()
	q.QueueSize = 5000
	storage := component.MustNewID("file_storage")
	q.StorageID = &storage

	for _, tc := range []struct {
		name    string
		want    *Config
		wantErr []string
	}{
		{name: "", want: createDefaultConfig().(*Config)},
		{name: "custom", want: custom},
		// A config from before the store owned the directory fails to
		// load with the keys named.
		{name: "moved_directory", wantErr: []string{"directory", "fsync"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(component.NewIDWithName(metadata.Type, tc.name).String())
			if err != nil {
				t.Fatal(err)
			}
			err = sub.Unmarshal(cfg)
			if err == nil {
				err = confmap.Validate(cfg)
			}
			if tc.wantErr != nil {
				if err == nil {
					t.Fatal("no validation error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", cfg, tc.want)
			}
		})
	}
}
