package collector

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"

	"github.com/centralmsp/centralmsp/pkg/msp"
)

// ListedTenant is one entry of a tenant list read before a run: a tenant,
// or one whose id is unusable (Err, an *msp.InvalidTenantIDError) that the
// engine records as failed.
type ListedTenant struct {
	Tenant msp.Tenant
	Err    error
}

// ListTenants reads m's tenant list once, for Config.Listed. Tenants with
// an unusable id are kept with their error; any other error ends the
// listing. The result is never nil.
func ListTenants(ctx context.Context, m MSP) ([]ListedTenant, error) {
	out := []ListedTenant{}
	for t, err := range m.Tenants(ctx) {
		if err != nil {
			var inv *msp.InvalidTenantIDError
			if errors.As(err, &inv) {
				out = append(out, ListedTenant{Tenant: t, Err: err})
				continue
			}
			return nil, fmt.Errorf("collector: listing tenants: %w", err)
		}
		out = append(out, ListedTenant{Tenant: t})
	}
	return out, nil
}

// tenants is the run's tenant list: Config.Listed, or the MSP's listing.
func (r *run) tenants(ctx context.Context) iter.Seq2[msp.Tenant, error] {
	if r.cfg.Listed == nil {
		return r.cfg.MSP.Tenants(ctx)
	}
	return func(yield func(msp.Tenant, error) bool) {
		for _, lt := range r.cfg.Listed {
			if !yield(lt.Tenant, lt.Err) {
				return
			}
		}
	}
}

// RunFailed reports whether a Run error means the run as a whole failed:
// nothing was collected, the configuration was refused (no manifest), or
// the manifest itself could not be written.
func RunFailed(man *Manifest, err error) bool {
	if err == nil {
		return false
	}
	return man == nil || errors.Is(err, ErrNothingCollected) || ManifestUnwritten(man, err)
}

// Outcome turns a Run result into an invocation's: failed is the error of
// a run that failed as a whole (RunFailed), logged as an error; otherwise
// warning is the error of a run that finished with errors, logged as a
// warning, for the caller's result ("" when none).
func Outcome(ctx context.Context, man *Manifest, err error, log *slog.Logger) (warning string, failed error) {
	if RunFailed(man, err) {
		log.ErrorContext(ctx, "run failed", slog.Any("error", err))
		return "", err
	}
	if err != nil {
		log.WarnContext(ctx, "run finished with errors", slog.Any("error", err))
		return err.Error(), nil
	}
	return "", nil
}

// ManifestUnwritten reports whether err says man (a run's or a shard's
// manifest) could not be written.
func ManifestUnwritten(man *Manifest, err error) bool {
	key := ManifestKey(man.RunID)
	if man.Shard != "" {
		key = ShardKey(man.RunID, man.Shard)
	}
	found := false
	walkErrors(err, func(e error) {
		if se, ok := e.(*SinkError); ok && se.Key == key {
			found = true
		}
	})
	return found
}

// walkErrors calls fn for err and every error it wraps.
func walkErrors(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walkErrors(e, fn)
		}
	case interface{ Unwrap() error }:
		walkErrors(u.Unwrap(), fn)
	}
}

// KnownTenants returns m with its tenant list replaced by tenants, already
// known (a run's manifest, a shard message, an audit's selection), so a
// caller such as the audit trail does not list the MSP's tenants again.
func KnownTenants(m MSP, tenants []msp.Tenant) MSP {
	return knownTenants{MSP: m, tenants: tenants}
}

type knownTenants struct {
	MSP
	tenants []msp.Tenant
}

func (k knownTenants) Tenants(context.Context) iter.Seq2[msp.Tenant, error] {
	return func(yield func(msp.Tenant, error) bool) {
		for _, t := range k.tenants {
			if !yield(t, nil) {
				return
			}
		}
	}
}
