package tokencache

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is an in-process Backend with Secrets Manager's version semantics
// (idempotency tokens, version dates from an injected clock). It serves unit
// tests and callers that want a cache without a store.
type Memory struct {
	mu      sync.Mutex
	now     func() time.Time
	objects map[string]*memObject
	seq     int
	calls   map[string]int // per operation: "List", "Get", "Latest", "Put"
}

type memObject struct {
	versions []memVersion // last is current
}

type memVersion struct {
	id      string
	token   string
	data    []byte
	created time.Time
}

var _ Backend = (*Memory)(nil)

// NewMemory returns an empty in-memory backend; now is its clock (nil:
// time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, objects: map[string]*memObject{}, calls: map[string]int{}}
}

// String implements Backend.
func (m *Memory) String() string { return "memory" }

// Calls returns how often each operation was called.
func (m *Memory) Calls() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int, len(m.calls))
	for k, v := range m.calls {
		out[k] = v
	}
	return out
}

// Versions returns how many versions the object name has received.
func (m *Memory) Versions(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if o := m.objects[name]; o != nil {
		return len(o.versions)
	}
	return 0
}

// Set stores data as a new current version without any check (test setup,
// e.g. a corrupt secret).
func (m *Memory) Set(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.add(name, data, "")
}

func (m *Memory) add(name string, data []byte, token string) {
	o := m.objects[name]
	if o == nil {
		o = &memObject{}
		m.objects[name] = o
	}
	m.seq++
	o.versions = append(o.versions, memVersion{id: fmt.Sprintf("v%06d", m.seq), token: token, data: slices.Clone(data), created: m.now()})
}

// List implements Backend.
func (m *Memory) List(ctx context.Context, prefix string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["List"]++
	var names []string
	for n := range m.objects {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// Get implements Backend.
func (m *Memory) Get(ctx context.Context, name string) (*Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["Get"]++
	o := m.objects[name]
	if o == nil {
		return nil, fmt.Errorf("tokencache: %q: %w", name, ErrNotFound)
	}
	v := o.versions[len(o.versions)-1]
	return &Object{Name: name, Data: slices.Clone(v.data), VersionID: v.id, Written: v.created}, nil
}

// Latest implements Backend.
func (m *Memory) Latest(ctx context.Context, name string) (*Latest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["Latest"]++
	o := m.objects[name]
	if o == nil {
		return nil, fmt.Errorf("tokencache: %q: %w", name, ErrNotFound)
	}
	v := o.versions[len(o.versions)-1]
	return &Latest{VersionID: v.id, Written: v.created}, nil
}

// Put implements Backend like Secrets Manager: a create of an existing
// object, or a reused token with other data, is ErrConflict.
func (m *Memory) Put(ctx context.Context, name string, data []byte, opts PutOptions) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["Put"]++
	o := m.objects[name]
	if o != nil && opts.Token != "" {
		for _, v := range o.versions {
			if v.token == opts.Token {
				if string(v.data) == string(data) {
					return nil
				}
				return fmt.Errorf("tokencache: %q: token reused: %w", name, ErrConflict)
			}
		}
	}
	switch {
	case opts.Create && o != nil:
		return fmt.Errorf("tokencache: %q exists: %w", name, ErrConflict)
	case !opts.Create && o == nil:
		return fmt.Errorf("tokencache: %q: %w", name, ErrNotFound)
	case !opts.Create && opts.PrevVersionID != "" && o.versions[len(o.versions)-1].id != opts.PrevVersionID:
		return fmt.Errorf("tokencache: %q changed: %w", name, ErrConflict)
	}
	m.add(name, data, opts.Token)
	return nil
}
