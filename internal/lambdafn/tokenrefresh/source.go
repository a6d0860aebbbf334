package tokenrefresh

import (
	"context"
	"errors"
	"iter"
	"log/slog"

	"golang.org/x/oauth2"

	"github.com/centralmsp/centralmsp/internal/errclass"
	"github.com/centralmsp/centralmsp/internal/tokencache"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// MSPSource adapts *msp.MSP to tokencache.Source. Its exchanges go through
// the MSP client's shared rate budgets.
type MSPSource struct {
	MSP    *msp.MSP
	Logger *slog.Logger
}

var _ tokencache.Source = (*MSPSource)(nil)

// MSPToken implements tokencache.Source.
func (s *MSPSource) MSPToken(ctx context.Context) (*oauth2.Token, error) { return s.MSP.Token(ctx) }

// Exchange implements tokencache.Source.
func (s *MSPSource) Exchange(ctx context.Context, tenantID string) (*oauth2.Token, error) {
	return s.MSP.ExchangeTenantToken(ctx, tenantID)
}

// Tenants implements tokencache.Source. A tenant whose workspace id cannot
// be used for an exchange is logged and left out.
func (s *MSPSource) Tenants(ctx context.Context) iter.Seq2[tokencache.Tenant, error] {
	return func(yield func(tokencache.Tenant, error) bool) {
		for t, err := range s.MSP.Tenants(ctx) {
			if err != nil {
				var bad *msp.InvalidTenantIDError
				if errors.As(err, &bad) {
					if s.Logger != nil {
						s.Logger.WarnContext(ctx, "skipping a tenant with an unusable workspace id", "name", t.Name, "err", err)
					}
					continue
				}
				yield(tokencache.Tenant{}, err)
				return
			}
			if !yield(tokencache.Tenant{ID: t.ID, Name: t.Name}, nil) {
				return
			}
		}
	}
}

// ClassifyError names an exchange error's class (internal/errclass),
// knowing pkg/central's error types.
func ClassifyError(err error) string {
	var le *central.LoginError
	var rl *central.RateLimitError
	switch {
	case errors.As(err, &rl):
		return string(errclass.RateLimited)
	case errors.As(err, &le) && le.StatusCode != 0:
		return tokencache.ClassifyStatus(le.StatusCode)
	}
	return tokencache.DefaultClassify(err)
}
