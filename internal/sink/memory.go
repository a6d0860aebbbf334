package sink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Memory is an in-memory Sink for tests and dry runs. Committed objects are
// kept; aborted keys are recorded.
type Memory struct {
	mu      sync.Mutex
	objects map[string][]byte
	types   map[string]string
	vers    map[string]string
	seq     int
	aborted []string
}

var _ Sink = (*Memory)(nil)

// NewMemory returns an empty in-memory sink.
func NewMemory() *Memory {
	return &Memory{objects: map[string][]byte{}, types: map[string]string{}, vers: map[string]string{}}
}

// String returns "memory://".
func (m *Memory) String() string { return "memory://" }

// Object returns a committed object's bytes.
func (m *Memory) Object(key string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	return b, ok
}

// ContentType returns the content type a committed object was created with.
func (m *Memory) ContentType(key string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.types[key]
}

// Get returns a committed object's bytes, or an error matching ErrNotFound.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, ok := m.Object(key)
	if !ok {
		return nil, fmt.Errorf("memory://%s: %w", key, ErrNotFound)
	}
	return bytes.Clone(b), nil
}

// List returns the committed keys that start with prefix, sorted.
func (m *Memory) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	for _, k := range m.Keys() {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out, ctx.Err()
}

// Keys returns the committed keys, sorted.
func (m *Memory) Keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.objects))
}

// Aborted returns the keys of aborted objects, in order.
func (m *Memory) Aborted() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.aborted)
}

// Create starts an object kept in memory until Commit.
func (m *Memory) Create(ctx context.Context, key, contentType string) (Object, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &memObject{m: m, key: key, ct: contentType}, nil
}

// Put stores body at key.
func (m *Memory) Put(ctx context.Context, key string, body []byte, contentType string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.store(key, bytes.Clone(body), contentType)
	return nil
}

// store keeps an object and gives it a new version; m.mu is held.
func (m *Memory) store(key string, b []byte, contentType string) string {
	m.seq++
	v := "v" + strconv.Itoa(m.seq)
	m.objects[key] = b
	m.types[key] = contentType
	m.vers[key] = v
	return v
}

// GetVersion returns a committed object's bytes and version, or an error
// matching ErrNotFound.
func (m *Memory) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	if !ok {
		return nil, "", fmt.Errorf("memory://%s: %w", key, ErrNotFound)
	}
	return bytes.Clone(b), m.vers[key], nil
}

// PutIf stores data at key if cond holds.
func (m *Memory) PutIf(ctx context.Context, key string, data []byte, cond Cond) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.objects[key]
	if cond.Match == "" && ok || cond.Match != "" && (!ok || m.vers[key] != cond.Match) {
		return "", fmt.Errorf("memory://%s: %w", key, ErrPreconditionFailed)
	}
	return m.store(key, bytes.Clone(data), ""), nil
}

type memObject struct {
	m       *Memory
	key, ct string
	mu      sync.Mutex
	buf     bytes.Buffer
	closed  bool
}

func (o *memObject) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, ErrClosed
	}
	return o.buf.Write(p)
}

func (o *memObject) Commit(ctx context.Context) (Info, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return Info{}, ErrClosed
	}
	o.closed = true
	if err := ctx.Err(); err != nil {
		o.m.mu.Lock()
		o.m.aborted = append(o.m.aborted, o.key)
		o.m.mu.Unlock()
		return Info{}, err
	}
	b := o.buf.Bytes() // closed: nothing writes to it again
	o.buf = bytes.Buffer{}
	sum := sha256.Sum256(b)
	o.m.mu.Lock()
	o.m.store(o.key, b, o.ct)
	o.m.mu.Unlock()
	return Info{Key: o.key, Location: "memory://" + o.key, Bytes: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}, nil
}

func (o *memObject) Abort(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	o.m.mu.Lock()
	o.m.aborted = append(o.m.aborted, o.key)
	o.m.mu.Unlock()
	return nil
}
