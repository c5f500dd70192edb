// Package config holds the collector configurations of the scale-out tiers
// (agent.yaml, gateway.yaml; docs/scale-out.md). This test loads them as
// the distribution does, with the real factories of every component they
// name (the contrib kafka exporter and receiver among them), and validates
// them.
package config

import (
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/kafkaexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckv2extension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/kafkareceiver"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/otelcol/otelcoltest"
	"go.opentelemetry.io/collector/pipeline"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/kafka/configkafka"

	"github.com/runledger/runledger/connector/steplogs"
	"github.com/runledger/runledger/exporter/jsonlledger"
	"github.com/runledger/runledger/extension/reportapi"
	"github.com/runledger/runledger/processor/steproute"
)

func factories(t *testing.T) otelcol.Factories {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var f otelcol.Factories
	var err error
	f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory(), kafkareceiver.NewFactory())
	must(err)
	f.Processors, err = otelcol.MakeFactoryMap[processor.Factory](memorylimiterprocessor.NewFactory(), steproute.NewFactory())
	must(err)
	f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](kafkaexporter.NewFactory(), jsonlledger.NewFactory())
	must(err)
	f.Connectors, err = otelcol.MakeFactoryMap[connector.Factory](steplogs.NewFactory())
	must(err)
	f.Extensions, err = otelcol.MakeFactoryMap[extension.Factory](
		reportapi.NewFactory(), healthcheckv2extension.NewFactory(), filestorage.NewFactory())
	must(err)
	f.Telemetry = otelconftelemetry.NewFactory()
	return f
}

func load(t *testing.T, file string) *otelcol.Config {
	t.Helper()
	cfg, err := otelcoltest.LoadConfigAndValidate(file, factories(t))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return cfg
}

func TestAgentConfig(t *testing.T) {
	t.Setenv("RUNLEDGER_KAFKA_BROKERS", "k1:9092,k2:9093")
	t.Setenv("RUNLEDGER_KAFKA_TOPIC", "steps-test")
	cfg := load(t, "agent.yaml")

	kc := cfg.Exporters[component.MustNewID("kafka")].(*kafkaexporter.Config)
	if got := kc.ClientConfig.Brokers; len(got) != 2 || got[0] != "k1:9092" || got[1] != "k2:9093" {
		t.Errorf("brokers from RUNLEDGER_KAFKA_BROKERS: %q", got)
	}
	if kc.Logs.Topic != "steps-test" || kc.Logs.Encoding != "otlp_proto" {
		t.Errorf("logs topic/encoding: %q %q", kc.Logs.Topic, kc.Logs.Encoding)
	}
	if !kc.PartitionLogsByResourceAttributes {
		t.Error("logs are not keyed by their resource (run.id): a run would spread over partitions")
	}
	if kc.Producer.RequiredAcks != configkafka.WaitForAll {
		t.Errorf("required_acks %v: a broker crash could lose acknowledged events", kc.Producer.RequiredAcks)
	}
	q := kc.QueueBatchConfig.Get()
	if !kc.QueueBatchConfig.HasValue() || q.StorageID == nil || q.StorageID.String() != "file_storage/queue" {
		t.Error("the sending queue is not persistent")
	}
	// A message over max_message_bytes is dropped: batches must be cut
	// below it, by bytes.
	if !q.Batch.HasValue() || q.Batch.Get().Sizer.String() != "bytes" || q.Batch.Get().MaxSize >= int64(kc.Producer.MaxMessageBytes) {
		t.Errorf("batches are not cut by bytes below max_message_bytes (%d)", kc.Producer.MaxMessageBytes)
	}
	if !kc.BackOffConfig.Enabled || kc.BackOffConfig.MaxElapsedTime != 0 {
		t.Errorf("retry %+v: an unreachable broker must be retried until it is back", kc.BackOffConfig)
	}
	// steproute feeds steplogs in both signals; steplogs feeds kafka.
	for _, p := range []pipeline.ID{pipeline.NewID(pipeline.SignalTraces), pipeline.NewID(pipeline.SignalLogs)} {
		pc := cfg.Service.Pipelines[p]
		if pc == nil || len(pc.Exporters) != 1 || pc.Exporters[0].String() != "steplogs" {
			t.Errorf("pipeline %s: %+v", p, pc)
		}
	}
	if pc := cfg.Service.Pipelines[pipeline.NewIDWithName(pipeline.SignalLogs, "kafka")]; pc == nil || pc.Exporters[0].String() != "kafka" {
		t.Errorf("logs/kafka pipeline: %+v", pc)
	}
}

func TestGatewayConfig(t *testing.T) {
	t.Setenv("RUNLEDGER_KAFKA_BROKERS", "k1:9092")
	t.Setenv("RUNLEDGER_LEDGER_DIR", "/tmp/gw1/runs")
	t.Setenv("RUNLEDGER_REPORTAPI", "localhost:14320")
	cfg := load(t, "gateway.yaml")

	kc := cfg.Receivers[component.MustNewID("kafka")].(*kafkareceiver.Config)
	if kc.ConsumerConfig.GroupID != "runledger-gateways" {
		t.Errorf("group %q: all gateways share one consumer group", kc.ConsumerConfig.GroupID)
	}
	if len(kc.Logs.Topics) != 1 || kc.Logs.Topics[0] != "runledger-steps" || kc.Logs.Encoding != "otlp_proto" {
		t.Errorf("logs topics/encoding: %q %q", kc.Logs.Topics, kc.Logs.Encoding)
	}
	m := kc.MessageMarking
	if !m.After || m.OnError || !m.OnPermanentError {
		t.Errorf("message_marking %+v: mark after writing, keep failed writes, skip malformed messages", m)
	}
	if !kc.ErrorBackOff.Enabled {
		t.Error("write errors are not retried")
	}
	ra := cfg.Extensions[component.MustNewID("reportapi")].(*reportapi.Config)
	if ra.Directory != "/tmp/gw1/runs" || ra.ServerConfig.NetAddr.Endpoint != "localhost:14320" {
		t.Errorf("reportapi from the environment: %q %q", ra.Directory, ra.ServerConfig.NetAddr.Endpoint)
	}
	if len(ra.Peers) != 0 {
		t.Errorf("peers %q without RUNLEDGER_PEERS", ra.Peers)
	}
	if pc := cfg.Service.Pipelines[pipeline.NewID(pipeline.SignalLogs)]; pc == nil || pc.Receivers[0].String() != "kafka" || pc.Exporters[0].String() != "jsonlledger" {
		t.Errorf("logs pipeline: %+v", pc)
	}
}

// TestGatewayPeers: RUNLEDGER_PEERS lists every gateway, comma-separated.
func TestGatewayPeers(t *testing.T) {
	t.Setenv("RUNLEDGER_PEERS", "http://gw1:4320,http://gw2:4320,http://gw3:4320")
	cfg := load(t, "gateway.yaml")
	ra := cfg.Extensions[component.MustNewID("reportapi")].(*reportapi.Config)
	if len(ra.Peers) != 3 || ra.Peers[2] != "http://gw3:4320" {
		t.Errorf("peers %q", ra.Peers)
	}
}
