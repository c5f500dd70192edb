// Package sharedcomponent lets one component instance serve several pipelines
// of different signals (traces and logs), the way the contrib file exporter
// does: the factory asks the registry for the instance of a config and gets a
// handle per pipeline. The instance starts with the first handle started and
// shuts down with the last handle shut down, so a pipeline still draining at
// shutdown never finds it closed under it.
package sharedcomponent

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
)

// Registry maps a key (normally the component config) to its shared instance.
// A factory owns one registry; there is no package-level state.
type Registry[K comparable, V component.Component] struct {
	mu    sync.Mutex
	insts map[K]*instance[V]
}

// NewRegistry returns an empty registry.
func NewRegistry[K comparable, V component.Component]() *Registry[K, V] {
	return &Registry[K, V]{insts: map[K]*instance[V]{}}
}

type instance[V component.Component] struct {
	v      V
	mu     sync.Mutex
	users  int // handles started and not yet shut down
	remove func()
}

// LoadOrStore returns a new handle on the shared instance for key, creating
// the instance with create when it does not exist yet.
func (r *Registry[K, V]) LoadOrStore(key K, create func() (V, error)) (*Component[V], error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	inst, ok := r.insts[key]
	if !ok {
		v, err := create()
		if err != nil {
			return nil, err
		}
		inst = &instance[V]{v: v}
		inst.remove = func() {
			r.mu.Lock()
			if r.insts[key] == inst {
				delete(r.insts, key)
			}
			r.mu.Unlock()
		}
		r.insts[key] = inst
	}
	return &Component[V]{Unwrap: inst.v, inst: inst}, nil
}

// Component is one pipeline's handle on a shared instance.
type Component[V component.Component] struct {
	// Unwrap is the shared instance.
	Unwrap V

	inst    *instance[V]
	started bool // guarded by inst.mu
}

// Start starts the shared instance if no other handle has started it.
func (c *Component[V]) Start(ctx context.Context, host component.Host) error {
	c.inst.mu.Lock()
	defer c.inst.mu.Unlock()
	if c.started {
		return nil
	}
	if c.inst.users == 0 {
		if err := c.inst.v.Start(ctx, host); err != nil {
			return err
		}
	}
	c.inst.users++
	c.started = true
	return nil
}

// Shutdown releases this handle; the last started handle to shut down stops
// the shared instance and removes it from the registry, so a reloaded config
// gets a fresh one.
func (c *Component[V]) Shutdown(ctx context.Context) error {
	c.inst.mu.Lock()
	defer c.inst.mu.Unlock()
	if !c.started {
		return nil
	}
	c.started = false
	c.inst.users--
	if c.inst.users > 0 {
		return nil
	}
	c.inst.remove()
	return c.inst.v.Shutdown(ctx)
}
