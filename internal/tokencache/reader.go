package tokencache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/centralmsp/centralmsp/pkg/msp"
)

// ErrMiss is matched (errors.Is) by every error the Reader returns: the
// caller should exchange the tenant's token itself.
var ErrMiss = errors.New("tokencache: miss")

// MissError explains a miss. Err, when set, is the store error behind it.
type MissError struct {
	TenantID string
	Reason   string
	Err      error
}

func (e *MissError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("tokencache: no cached token for tenant %s: %s: %v", e.TenantID, e.Reason, e.Err)
	}
	return fmt.Sprintf("tokencache: no cached token for tenant %s: %s", e.TenantID, e.Reason)
}

// Is makes every MissError match ErrMiss and msp.ErrTokenMiss, so a Reader
// plugs into msp.Options.TenantTokens as it is: a miss is an exchange, not a
// store failure.
func (e *MissError) Is(target error) bool { return target == ErrMiss || target == msp.ErrTokenMiss }

// Unwrap returns the store error, if any.
func (e *MissError) Unwrap() error { return e.Err }

// ReaderOptions configure a Reader.
type ReaderOptions struct {
	Prefix  string  // required
	Backend Backend // required
	Now     func() time.Time
	Logger  *slog.Logger
}

// Stats are a Reader's counters.
type Stats struct {
	Hits, Misses int64
	// Loads is how many objects were read from the store; LoadErrors how
	// many reads (or parses) failed.
	Loads, LoadErrors int64
}

// Reader serves cached tokens to the collector. It reads each secret at most
// once (secrets are loaded lazily, in index order, until the tenant is found)
// and keeps them for its lifetime, so make one Reader per invocation. It is
// safe for concurrent use.
type Reader struct {
	o ReaderOptions

	mu      sync.Mutex
	listed  bool
	names   []string // secrets not loaded yet, in index order
	tenants map[string]Entry
	// rejected holds, per tenant id, why its cache entry was not trusted
	// (see entryBindError and bindSecret): a lookup is then a miss.
	rejected map[string]string
	msp      *Entry
	mspDone  bool

	hits, misses, loads, loadErrs atomic.Int64
}

// NewReader returns a Reader.
func NewReader(opts ReaderOptions) (*Reader, error) {
	if err := ValidatePrefix(opts.Prefix); err != nil {
		return nil, err
	}
	if opts.Backend == nil {
		return nil, errors.New("tokencache: a reader needs a Backend")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Reader{o: opts, tenants: map[string]Entry{}, rejected: map[string]string{}}, nil
}

// Stats returns the counters.
func (r *Reader) Stats() Stats {
	return Stats{Hits: r.hits.Load(), Misses: r.misses.Load(), Loads: r.loads.Load(), LoadErrors: r.loadErrs.Load()}
}

// TenantToken returns the tenant's cached token when it stays valid for at
// least minValidity; otherwise an error matching ErrMiss (also when the
// store fails: the collector then exchanges the token itself). It satisfies
// msp.TenantTokenStore.
func (r *Reader) TenantToken(ctx context.Context, tenantID string, minValidity time.Duration) (*oauth2.Token, error) {
	e, err := r.lookup(ctx, tenantID)
	if err != nil {
		r.misses.Add(1)
		return nil, err
	}
	switch {
	case e.Status != StatusOK:
		r.misses.Add(1)
		return nil, &MissError{TenantID: tenantID, Reason: "the last refresh failed (" + e.ErrorClass + ")"}
	case !e.ValidFor(r.o.Now(), minValidity):
		r.misses.Add(1)
		return nil, &MissError{TenantID: tenantID, Reason: fmt.Sprintf("the cached token expires at %s, before the %s requested", e.Expiry.UTC().Format(time.RFC3339), minValidity)}
	}
	r.hits.Add(1)
	return e.OAuth2(), nil
}

// Token is TenantToken.
func (r *Reader) Token(ctx context.Context, tenantID string, minValidity time.Duration) (*oauth2.Token, error) {
	return r.TenantToken(ctx, tenantID, minValidity)
}

// MSPToken returns the cached MSP token when it stays valid for minValidity
// (an error matching ErrMiss otherwise).
func (r *Reader) MSPToken(ctx context.Context, minValidity time.Duration) (*oauth2.Token, error) {
	r.mu.Lock()
	if !r.mspDone {
		name := MSPName(r.o.Prefix)
		doc, err := r.loadLocked(ctx, name)
		switch {
		case err == nil && doc.Kind == KindMSP && len(doc.Entries) > 0:
			e := doc.Entries[0]
			r.msp = &e
			r.mspDone = true
		case err == nil || errors.Is(err, ErrNotFound):
			r.mspDone = true
		case errors.As(err, new(*ParseError)):
			r.mspDone = true // stays bad for this invocation
			r.mu.Unlock()
			r.misses.Add(1)
			return nil, &MissError{TenantID: MSPEntryID, Reason: "the MSP object does not parse", Err: err}
		default:
			r.mu.Unlock()
			r.misses.Add(1)
			return nil, &MissError{TenantID: MSPEntryID, Reason: "reading the cache failed", Err: err}
		}
	}
	e := r.msp
	r.mu.Unlock()
	if e == nil || !e.ValidFor(r.o.Now(), minValidity) {
		r.misses.Add(1)
		return nil, &MissError{TenantID: MSPEntryID, Reason: "no MSP token valid for " + minValidity.String()}
	}
	r.hits.Add(1)
	return e.OAuth2(), nil
}

// lookup finds the tenant's entry, loading secrets as needed.
func (r *Reader) lookup(ctx context.Context, tenantID string) (Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.tenants[tenantID]; ok {
		return e, nil
	}
	if why, ok := r.rejected[tenantID]; ok {
		return Entry{}, &MissError{TenantID: tenantID, Reason: "cache entry rejected: " + why}
	}
	if !r.listed {
		names, err := r.o.Backend.List(ctx, r.o.Prefix+"/shard-")
		if err != nil {
			r.loadErrs.Add(1)
			return Entry{}, &MissError{TenantID: tenantID, Reason: "listing the cache failed", Err: err}
		}
		for _, n := range names {
			if _, ok := parseCacheSecretName(r.o.Prefix, n); ok {
				r.names = append(r.names, n)
			}
		}
		r.listed = true
	}
	for len(r.names) > 0 {
		name := r.names[0]
		doc, err := r.loadLocked(ctx, name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			if errors.As(err, new(*ParseError)) {
				// A bad secret stays bad for this invocation; move on.
				r.o.Logger.WarnContext(ctx, "skipping a token cache secret that does not parse", "name", name, "err", err)
				r.names = r.names[1:]
				continue
			}
			return Entry{}, &MissError{TenantID: tenantID, Reason: "reading the cache failed", Err: err}
		}
		r.names = r.names[1:]
		if doc != nil {
			secretWhy := r.bindSecret(name, doc)
			for _, e := range doc.Entries {
				if _, dup := r.tenants[e.TenantID]; dup {
					continue
				}
				why := secretWhy
				if why == "" {
					why = entryBindError(e)
				}
				if why != "" {
					if _, seen := r.rejected[e.TenantID]; !seen {
						r.rejected[e.TenantID] = why
						r.o.Logger.WarnContext(ctx, "rejecting a token cache entry: the tenant will exchange a fresh token",
							"tenant_id", msp.LogID(e.TenantID), "secret", name, "reason", why)
					}
					continue
				}
				delete(r.rejected, e.TenantID) // a valid copy in a later secret wins
				r.tenants[e.TenantID] = e
			}
		}
		if e, ok := r.tenants[tenantID]; ok {
			return e, nil
		}
		if why, ok := r.rejected[tenantID]; ok {
			return Entry{}, &MissError{TenantID: tenantID, Reason: "cache entry rejected: " + why}
		}
	}
	return Entry{}, &MissError{TenantID: tenantID, Reason: "not in the cache"}
}

// bindSecret says why no entry of doc, read from the secret name, can be
// trusted ("" when they can): the document must be the tenant secret whose
// index the secret's name carries, or its entries were copied from
// another secret.
func (r *Reader) bindSecret(name string, doc *CacheSecret) string {
	idx, _ := parseCacheSecretName(r.o.Prefix, name)
	if doc.Kind != KindTenants || doc.Index != idx {
		return fmt.Sprintf("the secret is cache secret %d but its document is %s %d", idx, doc.Kind, doc.Index)
	}
	return ""
}

// loadLocked reads and parses one object (r.mu held).
func (r *Reader) loadLocked(ctx context.Context, name string) (*CacheSecret, error) {
	r.loads.Add(1)
	obj, err := r.o.Backend.Get(ctx, name)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			r.loadErrs.Add(1)
		}
		return nil, err
	}
	doc, err := DecodeCacheSecret(name, obj.Data)
	if err != nil {
		r.loadErrs.Add(1)
		return nil, err
	}
	return doc, nil
}
