package msp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/centralmsp/centralmsp/pkg/central"
)

// TenantTokenStore is an outside cache of tenant tokens, such as the Secrets
// Manager cache kept fresh by the token refresher. A tenant connection asks
// it before exchanging a token itself.
//
// TenantToken returns a token for the tenant (normalised workspace id) that
// stays valid for at least minValidity, or an error matching ErrTokenMiss.
// Any other error is logged and treated as a miss. Implementations must be
// safe for concurrent use and must not modify a returned token afterwards.
type TenantTokenStore interface {
	TenantToken(ctx context.Context, tenantID string, minValidity time.Duration) (*oauth2.Token, error)
}

// TenantTokenStoreFunc adapts a function to a TenantTokenStore.
type TenantTokenStoreFunc func(ctx context.Context, tenantID string, minValidity time.Duration) (*oauth2.Token, error)

// TenantToken calls f.
func (f TenantTokenStoreFunc) TenantToken(ctx context.Context, tenantID string, minValidity time.Duration) (*oauth2.Token, error) {
	return f(ctx, tenantID, minValidity)
}

// exchangeRetryCodes are the token endpoint error codes that mean the MSP
// (subject) token is no longer accepted: the MSP token is renewed and the
// exchange retried once. PyCentral retries on token_expired and
// invalid_client; GLP reports an expired subject token as invalid_token.
var exchangeRetryCodes = map[string]bool{
	"invalid_token":  true,
	"token_expired":  true,
	"invalid_client": true,
}

// ExchangeTenantToken exchanges the MSP token for a fresh token scoped to the
// tenant (RFC 8693, https://developer.greenlake.hpe.com/docs/greenlake/services/credentials/public/msp-token-exchange) at
// {glp_base_url}/authorization/v2/oauth2/{tenant}/token. The id is
// normalised first. It neither reads nor fills the tenant connection cache or
// the TenantTokenStore; the token-cache refresher uses it to mint tokens.
//
// If the token endpoint refuses the MSP token (invalid_token, token_expired
// or invalid_client), the MSP token is renewed and the exchange retried once.
// Every other failure is a *central.LoginError (use errors.As); it never
// contains a token or secret.
func (m *MSP) ExchangeTenantToken(ctx context.Context, tenantID string) (*oauth2.Token, error) {
	id, err := NormalizeTenantID(tenantID)
	if err != nil {
		return nil, err
	}
	tok, _, err := m.exchange(ctx, id)
	return tok, err
}

// exchangeURL is the per-tenant issuer. Like PyCentral, the MSP's
// token_endpoint override applies only to the MSP's own token.
func (m *MSP) exchangeURL(id string) string {
	return m.glpBase + "/authorization/v2/oauth2/" + id + "/token"
}

// exchange performs the exchange for a normalised id and also returns the MSP
// token it used as the subject, so that a later 401 on the tenant token can
// invalidate exactly that MSP token (compare-and-invalidate).
func (m *MSP) exchange(ctx context.Context, id string) (tok, subject *oauth2.Token, err error) {
	url := m.exchangeURL(id)
	for attempt := 0; ; attempt++ {
		subject, err = m.mspSource.Token(ctx)
		if err != nil {
			return nil, nil, loginError(url, fmt.Errorf("renew MSP token for tenant %s: %w", id, err))
		}
		// Exchanges draw on the token endpoint's own budget
		// (central.BudgetGLPToken, per MSP account), never on what another
		// GLP API answered, so a refresher's concurrent exchanges respect a
		// configured token limit without being paced by the tenant listing.
		if _, err := m.budgets.Wait(ctx, central.AppGLP, http.MethodPost, "/authorization/v2/oauth2/"+id+"/token", m.unified.WorkspaceID, id); err != nil {
			return nil, nil, loginError(url, fmt.Errorf("exchange token for tenant %s: %w", id, err))
		}
		m.exchanges.Add(1)
		sent := m.now()
		tok, err = central.ExchangeToken(ctx, m.hc, url, subject.AccessToken, m.unified.ClientID, m.unified.ClientSecret)
		if err == nil {
			tok = settleExpiry(tok, sent)
			m.log.Debug("tenant token exchanged", slog.String("tenant", id), slog.Time("expiry", tok.Expiry))
			return tok, subject, nil
		}
		var le *central.LoginError
		if attempt == 0 && errors.As(err, &le) && subjectRefused(le) && ctx.Err() == nil {
			m.log.Info("MSP token refused during tenant token exchange; renewing it and retrying",
				slog.String("tenant", id), slog.String("error_code", le.ErrorCode))
			m.mspSource.Invalidate(subject)
			continue
		}
		if attempt > 0 {
			return nil, nil, loginError(url, fmt.Errorf("exchange token for tenant %s after MSP token renewal: %w", id, err))
		}
		return nil, nil, loginError(url, fmt.Errorf("exchange token for tenant %s: %w", id, err))
	}
}

// settleExpiry returns tok with its expiry counted from when the request was
// sent (by the MSP's clock) plus expires_in. pkg/central takes the earlier of
// the JWT exp claim and receipt time plus expires_in; exp has whole seconds,
// so for short-lived tokens it can fall almost a second before the real
// expiry, and a token would look expired as soon as it arrives. The exp
// claim still wins when it is clearly (over a second) earlier.
func settleExpiry(tok *oauth2.Token, sent time.Time) *oauth2.Token {
	if tok == nil || tok.ExpiresIn <= 0 {
		return tok
	}
	byLifetime := sent.Add(time.Duration(tok.ExpiresIn) * time.Second)
	if !tok.Expiry.IsZero() && tok.Expiry.Before(byLifetime.Add(-time.Second)) {
		return tok
	}
	t := *tok
	t.Expiry = byLifetime
	return &t
}

// subjectRefused reports whether the token endpoint refused the MSP token
// itself, which a renewal can fix.
func subjectRefused(le *central.LoginError) bool {
	if exchangeRetryCodes[le.ErrorCode] {
		return true
	}
	return le.ErrorCode == "" && le.StatusCode == http.StatusUnauthorized
}

// loginError returns err if it already is a *central.LoginError (wrapped with
// context), and otherwise wraps it in one so callers can always use errors.As.
func loginError(url string, err error) error {
	var le *central.LoginError
	if errors.As(err, &le) {
		return fmt.Errorf("msp: %w", err)
	}
	return &central.LoginError{App: central.AppGLP, TokenURL: url, Err: err}
}

// tenantSource is the token source of one tenant connection: a single-flight
// cache (central.CachedSource) whose fetch asks the TenantTokenStore and then
// exchanges the MSP token. It remembers which MSP token minted the current
// tenant token so that Invalidate can renew that MSP token once, however many
// tenants see a 401 at the same time.
type tenantSource struct {
	m     *MSP
	id    string
	cache *central.CachedSource

	mu       sync.Mutex
	current  string        // access token of the last fetched tenant token
	subject  *oauth2.Token // MSP token that minted it (nil if from the store)
	rejected string        // a store token the server refused: skip it
}

var (
	_ central.TokenSource = (*tenantSource)(nil)
	_ central.Invalidator = (*tenantSource)(nil)
)

func newTenantSource(m *MSP, id string) *tenantSource {
	s := &tenantSource{m: m, id: id}
	s.cache = central.NewCachedSource(s.fetch, m.cacheOptions())
	return s
}

// Token returns a tenant token that is valid for a while, fetching one if
// needed. Concurrent callers share one fetch.
func (s *tenantSource) Token(ctx context.Context) (*oauth2.Token, error) {
	return s.cache.Token(ctx)
}

// Invalidate drops rejected if it is still the cached tenant token, after
// invalidating the MSP token that minted it, so the next Token renews the MSP
// token (once, shared by all tenants) and exchanges it again.
func (s *tenantSource) Invalidate(rejected *oauth2.Token) {
	if rejected == nil {
		return
	}
	s.mu.Lock()
	current := s.current == rejected.AccessToken
	subject := s.subject
	if current && subject == nil {
		s.rejected = rejected.AccessToken // from the store: do not take it again
	}
	s.mu.Unlock()
	if !current {
		// Already replaced by a later fetch: nothing to renew.
		return
	}
	s.m.log.Info("tenant token rejected; renewing the MSP token and exchanging again", slog.String("tenant", s.id))
	if subject != nil {
		s.m.mspSource.Invalidate(subject)
	}
	s.cache.Invalidate(rejected)
}

func (s *tenantSource) fetch(ctx context.Context) (*oauth2.Token, error) {
	if st := s.m.opts.TenantTokens; st != nil {
		tok, err := st.TenantToken(ctx, s.id, s.m.minValidity)
		switch {
		case err == nil && tok != nil && tok.AccessToken != "" && !s.isRejected(tok):
			s.m.storeHits.Add(1)
			s.remember(tok, nil)
			return tok, nil
		case err != nil && !errors.Is(err, ErrTokenMiss):
			s.m.log.Warn("tenant token store failed; exchanging instead",
				slog.String("tenant", s.id), slog.Any("error", err))
		}
	}
	tok, subject, err := s.m.exchange(ctx, s.id)
	if err != nil {
		return nil, err
	}
	s.remember(tok, subject)
	return tok, nil
}

func (s *tenantSource) isRejected(tok *oauth2.Token) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected != "" && s.rejected == tok.AccessToken
}

func (s *tenantSource) remember(tok, subject *oauth2.Token) {
	s.mu.Lock()
	s.current = tok.AccessToken
	s.subject = subject
	s.mu.Unlock()
}

// counters is what the MSP counts about its tokens (for Stats).
type counters struct {
	exchanges   atomic.Int64
	storeHits   atomic.Int64
	mspRenewals atomic.Int64
}
