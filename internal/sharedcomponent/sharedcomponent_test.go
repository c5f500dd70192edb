package sharedcomponent

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
)

type counting struct {
	starts, stops int
	startErr      error
}

func (c *counting) Start(context.Context, component.Host) error {
	c.starts++
	return c.startErr
}

func (c *counting) Shutdown(context.Context) error {
	c.stops++
	return nil
}

func TestOneInstancePerKeyStartedOnceStoppedByLastUser(t *testing.T) {
	r := NewRegistry[string, *counting]()
	created := 0
	create := func() (*counting, error) { created++; return &counting{}, nil }
	traces, err := r.LoadOrStore("cfg", create)
	if err != nil {
		t.Fatal(err)
	}
	logs, _ := r.LoadOrStore("cfg", create)
	if created != 1 || traces.Unwrap != logs.Unwrap {
		t.Fatalf("created %d instances, want one shared instance", created)
	}
	ctx, host := context.Background(), componenttest.NewNopHost()
	for _, c := range []*Component[*counting]{traces, logs, traces} {
		if err := c.Start(ctx, host); err != nil {
			t.Fatal(err)
		}
	}
	inst := traces.Unwrap
	if inst.starts != 1 {
		t.Fatalf("started %d times, want 1", inst.starts)
	}
	if err := traces.Shutdown(ctx); err != nil || inst.stops != 0 {
		t.Fatalf("first pipeline shutdown stopped the instance (stops=%d, err=%v) while logs still uses it", inst.stops, err)
	}
	_ = traces.Shutdown(ctx) // a second shutdown of the same handle changes nothing
	if inst.stops != 0 {
		t.Fatal("a repeated shutdown of one handle stopped the instance")
	}
	if err := logs.Shutdown(ctx); err != nil || inst.stops != 1 {
		t.Fatalf("last shutdown: stops=%d err=%v, want 1 stop", inst.stops, err)
	}
	again, _ := r.LoadOrStore("cfg", create)
	if again.Unwrap == inst || created != 2 {
		t.Fatal("after the last shutdown the registry must create a fresh instance")
	}
}

func TestCreateAndStartErrors(t *testing.T) {
	r := NewRegistry[string, *counting]()
	boom := errors.New("boom")
	if _, err := r.LoadOrStore("bad", func() (*counting, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("create error = %v", err)
	}
	c, _ := r.LoadOrStore("x", func() (*counting, error) { return &counting{startErr: boom}, nil })
	if err := c.Start(context.Background(), componenttest.NewNopHost()); !errors.Is(err, boom) {
		t.Fatalf("start error = %v", err)
	}
	if err := c.Shutdown(context.Background()); err != nil || c.Unwrap.stops != 0 {
		t.Fatalf("shutdown of a handle that never started must not stop the instance")
	}
}
