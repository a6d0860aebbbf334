package centralsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// OAuth 2.0 / RFC 8693 constants.
const (
	GrantClientCredentials = "client_credentials"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"
)

// Claims is the payload of a simulator token (a JWT signed with HS256).
type Claims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`          // client id
	Workspace string `json:"workspace_id"` // 32 hex the token is scoped to
	Account   string `json:"account_id"`   // MSP account (32 hex) whose budgets the token uses
	Kind      string `json:"kind"`         // msp, tenant or standalone
	IssuedAt  int64  `json:"iat"`
	Expiry    int64  `json:"exp"`    // seconds
	ExpiryMs  int64  `json:"exp_ms"` // milliseconds, what the simulator enforces
	ID        string `json:"jti"`
	seq       int64
}

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

func (s *Server) sign(c *Claims) string {
	payload, _ := json.Marshal(c)
	body := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(body))
	return body + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// issue mints a token for workspace of kind; it returns the token and its ttl.
func (s *Server) issue(kind, workspace, account, clientID string) (string, time.Duration) {
	ttl := time.Duration(s.tokenTTL.Load())
	if kind == KindStandalone {
		ttl = s.opts.StandaloneTokenTTL
	}
	now := s.now()
	exp := now.Add(ttl)
	seq := s.tokenSeq.Add(1)
	c := &Claims{Issuer: "centralsim", Subject: clientID, Workspace: workspace, Account: account, Kind: kind,
		IssuedAt: now.Unix(), Expiry: exp.Unix(), ExpiryMs: exp.UnixMilli(), ID: strconv.FormatInt(seq, 10)}
	s.stats.tokenIssued(kind, workspace)
	return s.sign(c), ttl
}

var (
	errTokenMalformed = errors.New("token is malformed")
	errTokenSignature = errors.New("token signature is invalid")
	errTokenExpired   = errors.New("token is expired")
	errTokenRevoked   = errors.New("token is revoked")
)

// ParseToken verifies a simulator token and returns a copy of its claims. It
// fails for a malformed, forged, expired or revoked token.
func (s *Server) ParseToken(tok string) (*Claims, error) {
	c, err := s.parseToken(tok)
	if err != nil {
		return nil, err
	}
	cc := *c
	return &cc, nil
}

func (s *Server) parseToken(tok string) (*Claims, error) {
	var c *Claims
	if v, ok := s.claims.Load(tok); ok {
		c = v.(*Claims)
	} else {
		parts := strings.Split(tok, ".")
		if len(parts) != 3 || parts[0] != jwtHeader {
			return nil, errTokenMalformed
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			return nil, errTokenMalformed
		}
		m := hmac.New(sha256.New, s.key)
		m.Write([]byte(tok[:len(parts[0])+1+len(parts[1])]))
		if !hmac.Equal(sig, m.Sum(nil)) {
			return nil, errTokenSignature
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			return nil, errTokenMalformed
		}
		c = new(Claims)
		if err := json.Unmarshal(payload, c); err != nil {
			return nil, errTokenMalformed
		}
		c.seq, _ = strconv.ParseInt(c.ID, 10, 64)
		if s.claimsN.Add(1)%4096 == 0 {
			s.pruneClaims()
		}
		s.claims.Store(tok, c)
	}
	if s.now().UnixMilli() >= c.ExpiryMs {
		return nil, errTokenExpired
	}
	if c.seq <= s.revokeAt.Load() {
		return nil, errTokenRevoked
	}
	if _, ok := s.revoked.Load(c.ID); ok {
		return nil, errTokenRevoked
	}
	return c, nil
}

// pruneClaims drops expired tokens from the verification cache so a
// long-running simulator does not grow without bound.
func (s *Server) pruneClaims() {
	now := s.now().UnixMilli()
	s.claims.Range(func(k, v any) bool {
		if v.(*Claims).ExpiryMs <= now {
			s.claims.Delete(k)
		}
		return true
	})
}

// RevokeToken revokes one token by its jti claim.
func (s *Server) RevokeToken(jti string) { s.revoked.Store(jti, struct{}{}) }

// oauthError writes an RFC 6749 error body.
func (s *Server) oauthError(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="centralsim"`)
	}
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	w.WriteHeader(status)
	w.Write(b)
}

func writeToken(w http.ResponseWriter, tok string, ttl time.Duration, exchange bool) {
	secs := int64((ttl + time.Second - 1) / time.Second)
	b := make([]byte, 0, len(tok)+128)
	b = append(b, `{"access_token":"`...)
	b = append(b, tok...)
	b = append(b, `","token_type":"Bearer","expires_in":`...)
	b = strconv.AppendInt(b, secs, 10)
	if exchange {
		b = append(b, `,"issued_token_type":"`+TokenTypeAccessToken+`"`...)
	}
	b = append(b, '}')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.Write(b)
}

// parseTokenForm reads an application/x-www-form-urlencoded POST body. It
// returns the form with every key seen (for exact-field checks).
func parseTokenForm(r *http.Request) (url.Values, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errors.New("Content-Type must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return nil, errors.New("malformed form body")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, errors.New("parameter " + k + " repeated")
		}
	}
	return r.PostForm, nil
}

// clientAuth extracts client credentials from HTTP Basic (raw as PyCentral
// sends them, or form-encoded per RFC 6749 §2.3.1 as x/oauth2 does) or the
// form. basic reports whether Basic was used.
func clientAuth(r *http.Request, form url.Values) (id, secret string, basic, ok bool, err error) {
	bid, bsec, hasBasic := r.BasicAuth()
	fid, fsec := form.Get("client_id"), form.Get("client_secret")
	if hasBasic {
		if fsec != "" {
			return "", "", true, false, errors.New("client authenticated with more than one method")
		}
		return bid, bsec, true, true, nil
	}
	if fid == "" && fsec == "" {
		return "", "", false, false, nil
	}
	return fid, fsec, false, true, nil
}

func secretMatch(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// credsMatch accepts raw or form-encoded Basic credentials.
func credsMatch(acc Account, id, secret string, basic bool) bool {
	if id == acc.ClientID && secretMatch(secret, acc.ClientSecret) {
		return true
	}
	if basic {
		uid, err1 := url.QueryUnescape(id)
		usec, err2 := url.QueryUnescape(secret)
		return err1 == nil && err2 == nil && uid == acc.ClientID && secretMatch(usec, acc.ClientSecret)
	}
	return false
}

// isHex32 reports whether s is 32 lowercase hex characters.
func isHex32(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// handleUnifiedToken serves POST /authorization/v2/oauth2/{workspace}/token.
func (s *Server) handleUnifiedToken(w http.ResponseWriter, r *http.Request, workspace string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed")
		return
	}
	form, err := parseTokenForm(r)
	if err != nil {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if !isHex32(workspace) {
		s.oauthError(w, http.StatusBadRequest, "invalid_request",
			"workspace id must be 32 lowercase hexadecimal characters without hyphens")
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case GrantClientCredentials:
		id, secret, basic, ok, err := clientAuth(r, form)
		if err != nil {
			s.oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		if !ok {
			s.oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication required")
			return
		}
		if !credsMatch(s.msp, id, secret, basic) {
			s.oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
			return
		}
		if workspace != s.msp.WorkspaceID {
			s.oauthError(w, http.StatusUnauthorized, "invalid_client", "client is not registered in this workspace")
			return
		}
		tok, ttl := s.issue(KindMSP, workspace, s.msp.WorkspaceID, s.msp.ClientID)
		writeToken(w, tok, ttl, false)
	case GrantTokenExchange:
		s.exchange(w, r, form, workspace)
	case "":
		s.oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
	default:
		s.oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type "+strconv.Quote(gt)+" is not supported")
	}
}

// exchange implements the RFC 8693 MSP -> tenant exchange exactly as GLP
// documents it: three form fields, the tenant in the path, optional Basic.
func (s *Server) exchange(w http.ResponseWriter, r *http.Request, form url.Values, workspace string) {
	for k := range form {
		switch k {
		case "grant_type", "subject_token", "subject_token_type":
		default:
			s.oauthError(w, http.StatusBadRequest, "invalid_request", "unexpected parameter "+strconv.Quote(k)+" in token exchange")
			return
		}
	}
	if form.Get("subject_token_type") != TokenTypeAccessToken {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", "subject_token_type must be "+TokenTypeAccessToken)
		return
	}
	subject := form.Get("subject_token")
	if subject == "" {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", "subject_token is required")
		return
	}
	if id, secret, hasBasic := r.BasicAuth(); hasBasic && !credsMatch(s.msp, id, secret, true) {
		s.oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	c, err := s.parseToken(subject)
	if err != nil {
		s.oauthError(w, http.StatusUnauthorized, "invalid_token", "subject token: "+err.Error())
		return
	}
	if c.Kind != KindMSP {
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", "subject token is not an MSP token")
		return
	}
	ts := s.byHex[workspace]
	if ts == nil || ts.kind != KindTenant || c.Account != s.msp.WorkspaceID {
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", "workspace is not a tenant of the subject token's MSP")
		return
	}
	tok, ttl := s.issue(KindTenant, workspace, c.Account, c.Subject)
	s.stats.exchanged(workspace)
	writeToken(w, tok, ttl, true)
}

// handleStandaloneToken serves POST /as/token.oauth2 (Central-only clients).
func (s *Server) handleStandaloneToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed")
		return
	}
	form, err := parseTokenForm(r)
	if err != nil {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if gt := form.Get("grant_type"); gt != GrantClientCredentials {
		s.oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
		return
	}
	id, secret, basic, ok, err := clientAuth(r, form)
	switch {
	case err != nil:
		s.oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	case !ok:
		s.oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication required")
		return
	case !credsMatch(s.standalone, id, secret, basic):
		s.oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	tok, ttl := s.issue(KindStandalone, s.standalone.WorkspaceID, s.standalone.WorkspaceID, s.standalone.ClientID)
	writeToken(w, tok, ttl, false)
}
