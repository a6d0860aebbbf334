package centralsim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// app is the platform an endpoint belongs to (error shapes, headers).
type app int

const (
	appGLP app = iota
	appCentral
)

// errorStyle selects the documented error body of an endpoint.
type errorStyle int

const (
	styleGLPStandard errorStyle = iota // workspaces: {debugId,httpStatusCode,errorCode,message}
	styleGLPDetails                    // devices, subscriptions, audit: + errorDetails
	styleMonitoring                    // Central network-monitoring
	styleMSP                           // Central network-msp
)

type route struct {
	name    string
	app     app
	style   errorStyle
	limit   func(RateLimits) Limit
	source  string // errorDetails source
	handler func(q *apiReq) (int, []byte)
}

// apiReq is one authenticated API request.
type apiReq struct {
	s      *Server
	r      *http.Request
	rt     *route
	claims *Claims
	ws     *tenantState
	query  url.Values
}

// apiError is a handler-level error rendered in the route's style.
type apiError struct {
	status  int
	message string
	subject string // query parameter at fault, for GLP 400 issues
}

func (e *apiError) Error() string { return e.message }

func badParam(subject, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, message: msg, subject: subject}
}

func (s *Server) routes() map[string]*route {
	glpDev := func(l RateLimits) Limit { return l.GLPDevices }
	glpSub := func(l RateLimits) Limit { return l.GLPSubscriptions }
	glp := func(l RateLimits) Limit { return l.GLP }
	central := func(l RateLimits) Limit { return l.Central }
	m := map[string]*route{
		EndpointMSPTenants:    {app: appGLP, style: styleGLPStandard, limit: glp, source: "hpe.greenlake.workspaces", handler: handleMSPTenants},
		EndpointGLPDevices:    {app: appGLP, style: styleGLPDetails, limit: glpDev, source: "hpe.greenlake.devicemanagement", handler: glpList(DatasetGLPDevices, 2000, 2000, nil)},
		EndpointSubscriptions: {app: appGLP, style: styleGLPDetails, limit: glpSub, source: "hpe.greenlake.subscriptionmanagement", handler: glpList(DatasetSubscriptions, 50, 200, nil)},
		EndpointAuditLogs: {app: appGLP, style: styleGLPDetails, limit: glp, source: "hpe.greenlake.audit-log", handler: glpList(DatasetAuditLogs, 50, 2000, map[string]string{
			"createdAt": "lt ge", "category": "eq in", "description": "eq", "additionalInfo/ipAddress": "eq",
			"user/username": "eq", "workspace/workspaceName": "eq", "application/id": "eq", "region": "eq", "hasDetails": "eq"})},
		EndpointAuditLogsV2: {app: appGLP, style: styleGLPDetails, limit: glp, source: "hpe.greenlake.audit-log", handler: glpList(DatasetAuditLogsV2, 50, 2000, map[string]string{
			"createdAt": "lt ge gt le", "category": "eq in", "description": "eq", "username": "eq", "ipAddress": "eq",
			"workspace/name": "eq", "serviceOffer/id": "eq", "hasDetails": "eq"})},
		EndpointDevices:         {app: appCentral, style: styleMonitoring, limit: central, handler: cursorList(DatasetDevices, 1000)},
		EndpointDeviceInventory: {app: appCentral, style: styleMonitoring, limit: central, handler: cursorList(DatasetDeviceInventory, 20)},
		EndpointAPs:             {app: appCentral, style: styleMonitoring, limit: central, handler: cursorList(DatasetAPs, 20)},
		EndpointSwitches:        {app: appCentral, style: styleMonitoring, limit: central, handler: cursorList(DatasetSwitches, 1000)},
		EndpointGateways:        {app: appCentral, style: styleMonitoring, limit: central, handler: cursorList(DatasetGateways, 20)},
		EndpointSitesHealth:     {app: appCentral, style: styleMonitoring, limit: central, handler: handleSitesHealth},
		EndpointListTenants:     {app: appCentral, style: styleMSP, limit: central, handler: handleListTenants},
	}
	for name, rt := range m {
		rt.name = name
	}
	return m
}

// statusWriter records the status code and the body's size for accounting.
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if hj, ok := w.ResponseWriter.(http.Hijacker); ok {
		return hj.Hijack()
	}
	return nil, nil, errors.New("centralsim: hijack not supported")
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path == EndpointStats {
		s.handleStats(w, r)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	var endpoint, tenant string
	defer func() {
		if sw.code != 0 {
			s.stats.status(endpoint, sw.code, sw.bytes)
		}
	}()
	switch {
	case strings.HasPrefix(path, "/authorization/v2/oauth2/") && strings.HasSuffix(path, "/token"):
		endpoint = EndpointToken
		tenant = strings.TrimSuffix(strings.TrimPrefix(path, "/authorization/v2/oauth2/"), "/token")
		if strings.Contains(tenant, "/") {
			s.notFound(sw, r)
			return
		}
		s.stats.request(endpoint, tenant)
		if s.tokenLimited(sw, tenant) || s.preFaults(sw, r, endpoint, tenant, nil) {
			return
		}
		s.handleUnifiedToken(sw, r, tenant)
	case path == EndpointStandaloneToken:
		endpoint = EndpointStandaloneToken
		s.stats.request(endpoint, s.standalone.WorkspaceID)
		if s.tokenLimited(sw, s.standalone.WorkspaceID) || s.preFaults(sw, r, endpoint, s.standalone.WorkspaceID, nil) {
			return
		}
		s.handleStandaloneToken(sw, r)
	default:
		rt := s.routeMap()[path]
		if rt == nil {
			s.stats.request("other", "")
			s.notFound(sw, r)
			return
		}
		endpoint = rt.name
		s.serveAPI(sw, r, rt)
	}
}

// tokenLimited applies RateLimits.Token; it reports whether a 429 was written.
func (s *Server) tokenLimited(w http.ResponseWriter, workspace string) bool {
	lim := s.opts.RateLimits.Token
	if lim.Requests <= 0 {
		return false
	}
	key := s.msp.WorkspaceID
	if lim.Scope == ScopeWorkspace || workspace == s.standalone.WorkspaceID {
		key = workspace
	}
	now := s.now()
	res := s.limiter.take("token|"+key, lim, now)
	setGLPHeaders(w.Header(), res, now)
	if res.allowed {
		return false
	}
	s.oauthError(w, http.StatusTooManyRequests, "too_many_requests", "token rate limit exceeded")
	return true
}

func (s *Server) routeMap() map[string]*route {
	s.routeOnce.Do(func() { s.routesByPath = s.routes() })
	return s.routesByPath
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, fmt.Appendf(nil, `{"httpStatusCode":404,"errorCode":"HPE_GL_ERROR_NOT_FOUND","message":"no such endpoint: %s","debugId":%q}`,
		jsonEscape(r.URL.Path), s.debugID()))
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func (s *Server) debugID() string {
	n := s.debugSeq.Add(1)
	return fmt.Sprintf("sim-%08x-%04x", uint32(hash64(s.opts.Seed, "debug")), n)
}

// preFaults applies latency, resets, 5xx and 429 faults decided before the
// handler runs. It reports whether the response has been written.
func (s *Server) preFaults(w http.ResponseWriter, r *http.Request, endpoint, tenant string, rt *route) bool {
	p := s.decide(endpoint, r.URL.Path, tenant)
	sleep(r.Context(), p.latency)
	switch {
	case p.reset:
		s.stats.add(func(st *Stats) { st.Resets++ })
		resetConn(w)
		return true
	case p.tooMany:
		if rt == nil {
			s.oauthError(w, http.StatusTooManyRequests, "too_many_requests", "rate limit exceeded")
		} else {
			s.writeError(w, rt, &apiError{status: http.StatusTooManyRequests})
		}
		return true
	case p.status5xx != 0:
		if rt == nil {
			s.oauthError(w, p.status5xx, "server_error", "simulated server error")
		} else {
			s.writeError(w, rt, &apiError{status: p.status5xx, message: "simulated server error"})
		}
		return true
	}
	return false
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func (s *Server) serveAPI(w *statusWriter, r *http.Request, rt *route) {
	if r.Method != http.MethodGet {
		s.stats.request(rt.name, "")
		w.Header().Set("Allow", http.MethodGet)
		s.writeError(w, rt, &apiError{status: http.StatusMethodNotAllowed, message: "method not allowed"})
		return
	}
	claims, ws, ok := s.authenticate(w, r, rt)
	if !ok {
		return
	}
	tenant := claims.Workspace
	lim, now := rt.limit(s.opts.RateLimits), s.now()
	rl, ok := s.rateLimit(w, rt, claims, lim, now)
	if !ok {
		return
	}
	p := s.decide(rt.name, r.URL.Path, tenant)
	sleep(r.Context(), p.latency)
	switch {
	case p.reset:
		s.stats.add(func(st *Stats) { st.Resets++ })
		resetConn(w)
		return
	case p.tooMany:
		if lim.Requests > 0 {
			scopeKey := claims.Account
			if lim.Scope == ScopeWorkspace {
				scopeKey = claims.Workspace
			}
			res := s.limiter.exhaust(rt.name+"|storm|"+scopeKey, lim, now)
			s.rateHeaders(w.Header(), rt, res, now)
		} else if rl == nil {
			s.rateHeaders(w.Header(), rt, rlResult{limit: 0, reset: now}, now)
		}
		s.writeError(w, rt, &apiError{status: http.StatusTooManyRequests})
		return
	case p.status5xx != 0:
		s.writeError(w, rt, &apiError{status: p.status5xx, message: "simulated server error"})
		return
	}
	q := &apiReq{s: s, r: r, rt: rt, claims: claims, ws: ws, query: r.URL.Query()}
	status, body := rt.handler(q)
	if status != http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		writeJSON(w, status, body)
		return
	}
	s.pageServed(p, claims)
	s.writeBody(r.Context(), w, p, body)
}

// authenticate checks the bearer token and the workspace it names, counts
// the request and answers 401 or 403 itself (ok false).
func (s *Server) authenticate(w *statusWriter, r *http.Request, rt *route) (claims *Claims, ws *tenantState, ok bool) {
	tok := bearer(r)
	var err error
	if tok == "" {
		err = errors.New("missing bearer token")
	} else {
		claims, err = s.parseToken(tok)
	}
	if err == nil && rt.app == appGLP && claims.Kind == KindStandalone {
		err = errors.New("token was issued for New Central only and is not valid for GreenLake")
	}
	if err != nil {
		s.stats.request(rt.name, "")
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		s.writeError(w, rt, &apiError{status: http.StatusUnauthorized, message: err.Error()})
		return nil, nil, false
	}
	tenant := claims.Workspace
	s.stats.request(rt.name, tenant)
	ws = s.byHex[tenant]
	if ws == nil {
		s.writeError(w, rt, &apiError{status: http.StatusForbidden, message: "unknown workspace"})
		return nil, nil, false
	}
	// A client that sends another tenant's id alongside a token is mixing tenants up.
	if tid := r.Header.Get("TenantID"); tid != "" && strings.ReplaceAll(tid, "-", "") != tenant {
		s.writeError(w, rt, &apiError{status: http.StatusForbidden, message: "TenantID header does not match the token's workspace"})
		return nil, nil, false
	}
	return claims, ws, true
}

// rateLimit takes one request from the route's limit (none when the limit
// is unset) and answers 429 itself when it is spent (ok false).
func (s *Server) rateLimit(w *statusWriter, rt *route, claims *Claims, lim Limit, now time.Time) (rl *rlResult, ok bool) {
	if lim.Requests <= 0 {
		return nil, true
	}
	scopeKey := claims.Account
	if lim.Scope == ScopeWorkspace {
		scopeKey = claims.Workspace
	}
	// GLP counts per API family (the first path segment) and scope;
	// New Central counts every call of the scope together.
	key := glpFamily(rt.name) + "|" + scopeKey
	if rt.app == appCentral {
		key = "central|" + scopeKey
	}
	res := s.limiter.take(key, lim, now)
	s.rateHeaders(w.Header(), rt, res, now)
	if !res.allowed {
		s.writeError(w, rt, &apiError{status: http.StatusTooManyRequests})
		return &res, false
	}
	return &res, true
}

// writeBody writes a 200 JSON body, applying body faults.
func (s *Server) writeBody(ctx context.Context, w http.ResponseWriter, p plan, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	switch {
	case p.malformed:
		s.stats.add(func(st *Stats) { st.Malformed++ })
		body = body[:len(body)/2]
	case p.truncate:
		s.stats.add(func(st *Stats) { st.Malformed++ })
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body[:len(body)/2])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		resetConn(w)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if p.slow > 0 {
		half := len(body) / 2
		w.Write(body[:half])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		sleep(ctx, p.slow)
		w.Write(body[half:])
		return
	}
	w.Write(body)
}

// glpFamily is a GLP path's API family: its first segment.
func glpFamily(path string) string {
	path = strings.TrimLeft(path, "/")
	if i := strings.IndexByte(path, '/'); i >= 0 {
		path = path[:i]
	}
	return path
}

func (s *Server) rateHeaders(h http.Header, rt *route, res rlResult, now time.Time) {
	if rt.app == appGLP {
		setGLPHeaders(h, res, now)
		return
	}
	setCentralHeaders(h, res)
}
