package collector

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/internal/tokencache"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// Canary secrets of the echo test. They hold characters that URL and
// base64 encodings change, so that escaped forms are searched for too.
const (
	echoClientID  = "echo-client"
	echoSecret    = "CANARYsec+ret/7f=x&y"
	echoMSPToken  = "CANARYmsp+tok/1=q&r"
	echoTenantTok = "CANARYten+tok/A=s&t"
	echoWorkspace = "00000000000000000000000000000aaa"
	echoTenantA   = "0000000000000000000000000000000a"
	echoTenantB   = "0000000000000000000000000000000b"
)

// echoForms returns every form of the canaries that must never appear.
func echoForms() []string {
	var out []string
	for _, v := range []string{echoSecret, echoMSPToken, echoTenantTok} {
		out = append(out, v, url.QueryEscape(v), url.PathEscape(v))
	}
	out = append(out, base64.StdEncoding.EncodeToString([]byte(echoClientID+":"+echoSecret)), "CANARY")
	return out
}

// echoServer is a hostile GLP / New Central: every error it sends repeats
// everything it received (method, URL with query, every header including
// Authorization, and the body) in its body and in its headers.
type echoServer struct {
	srv *httptest.Server

	mu            sync.Mutex
	failLogin     bool // MSP client_credentials grant fails
	failTenants   bool // msp-tenants listing fails
	apiStatus     int  // status of every tenant API call
	apiStatusText bool // API errors as text/plain, not JSON
}

func echoOf(r *http.Request, body []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Method, r.URL.String())
	for k, v := range r.Header {
		fmt.Fprintf(&b, " %s=%s", k, strings.Join(v, ","))
	}
	fmt.Fprintf(&b, " body=%s form=%v", body, r.Form)
	return b.String()
}

func newEchoServer(t *testing.T) *echoServer {
	e := &echoServer{apiStatus: http.StatusForbidden}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *echoServer) fail(w http.ResponseWriter, status int, echo string, text bool) {
	w.Header().Set("X-Echo", echo)
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+echo+`"`)
	if text {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "token "+echo+" lacks scope")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errorCode": "HPE_GL_" + echo, "error": echo, "message": "token " + echo + " lacks scope",
		"error_description": echo, "debugId": echo, "detail": echo,
	})
}

func (e *echoServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	_ = r.ParseForm()
	echo := echoOf(r, body)
	e.mu.Lock()
	failLogin, failTenants, status, text := e.failLogin, e.failTenants, e.apiStatus, e.apiStatusText
	e.mu.Unlock()
	ok := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	switch p := r.URL.Path; {
	case p == "/authorization/v2/oauth2/"+echoWorkspace+"/token":
		if failLogin {
			e.fail(w, http.StatusUnauthorized, echo, false)
			return
		}
		ok(map[string]any{"access_token": echoMSPToken, "token_type": "Bearer", "expires_in": 7200})
	case p == "/authorization/v2/oauth2/"+echoTenantA+"/token":
		ok(map[string]any{"access_token": echoTenantTok, "token_type": "Bearer", "expires_in": 7200})
	case strings.HasPrefix(p, "/authorization/v2/oauth2/"):
		e.fail(w, http.StatusBadRequest, echo, false)
	case p == "/workspaces/v1/msp-tenants":
		if failTenants {
			e.fail(w, http.StatusForbidden, echo, false)
			return
		}
		ok(map[string]any{"items": []any{
			map[string]any{"id": echoTenantA, "workspaceName": "Tenant A"},
			map[string]any{"id": echoTenantB, "workspaceName": "Tenant B"},
		}, "count": 2, "total": 2, "offset": 0})
	default: // GLP devices, subscriptions, audit logs and New Central
		e.fail(w, status, echo, text)
	}
}

func (e *echoServer) set(f func(e *echoServer)) {
	e.mu.Lock()
	f(e)
	e.mu.Unlock()
}

func (e *echoServer) newMSP(t *testing.T, log *slog.Logger) *msp.MSP {
	t.Helper()
	doc := fmt.Sprintf("unified:\n  client_id: %q\n  client_secret: %q\n  workspace_id: %q\n  glp_base_url: %q\n  base_url: %q\n",
		echoClientID, echoSecret, echoWorkspace, e.srv.URL, e.srv.URL+"/central")
	creds, err := central.ParseCredentials([]byte(doc), central.FormatYAML, "echo")
	if err != nil {
		t.Fatal(err)
	}
	m, err := msp.New(creds, func(o *msp.Options) {
		o.HTTPClient = e.srv.Client()
		o.Logger = log
		o.Budgets = central.NewBudgets()
		o.ClientOptions = append(o.ClientOptions, func(co *central.Options) {
			co.Retry.Rand = func() float64 { return 0 }
			co.Retry.MaxAttempts = 2
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// refresherSource adapts *msp.MSP to tokencache.Source as the token
// refresher Lambda does.
type refresherSource struct{ m *msp.MSP }

func (s refresherSource) MSPToken(ctx context.Context) (*oauth2.Token, error) { return s.m.Token(ctx) }
func (s refresherSource) Exchange(ctx context.Context, id string) (*oauth2.Token, error) {
	return s.m.ExchangeTenantToken(ctx, id)
}
func (s refresherSource) Tenants(ctx context.Context) iter.Seq2[tokencache.Tenant, error] {
	return func(yield func(tokencache.Tenant, error) bool) {
		for t, err := range s.m.Tenants(ctx) {
			if !yield(tokencache.Tenant{ID: t.ID, Name: t.Name}, err) || err != nil {
				return
			}
		}
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCanaryEchoingServer runs the SDK, the collector and the token
// refresher against a server that echoes every header (Authorization
// included), the form and the query into its error bodies and headers, on
// every endpoint they call: the GLP token endpoint, the token exchange,
// msp-tenants, GLP devices, subscriptions and audit logs, and New Central.
// No token, secret or Authorization value may appear in an error's text
// (%v, %+v), in the raw answer kept on an error, in the JSON logs, in the
// collector's manifest or in the refresher's result and logs.
func TestCanaryEchoingServer(t *testing.T) {
	e := newEchoServer(t)
	logs := &lockedBuf{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var outputs []string
	record := func(what string, err error) {
		if err == nil {
			return
		}
		outputs = append(outputs, what+": "+err.Error(), fmt.Sprintf("%s: %v | %+v", what, err, err))
		log.Error(what, "err", err)
		if ae, ok := errors.AsType[*central.APIError](err); ok && ae.Response != nil {
			h, _ := json.Marshal(ae.Response.Header)
			outputs = append(outputs, what+" raw: "+string(ae.Response.Raw)+" headers: "+string(h)+fmt.Sprintf(" body: %v", ae.Response.Body))
		}
	}
	ctx := t.Context()
	all := append(DatasetNames(), "audit-logs")

	// 1. Collector: tenant A's calls fail with each status, tenant B's
	// exchange fails, as JSON and as text.
	var manifests []string
	for i, st := range []int{http.StatusForbidden, http.StatusUnauthorized, http.StatusBadRequest, http.StatusInternalServerError, http.StatusTooManyRequests} {
		for _, text := range []bool{false, true} {
			e.set(func(e *echoServer) { e.apiStatus, e.apiStatusText = st, text })
			m := e.newMSP(t, log)
			mem := sink.NewMemory()
			man, err := Run(ctx, Config{MSP: FromMSP(m), Sink: mem, Datasets: all, RunID: fmt.Sprintf("echo-%d-%v", i, text), Logger: log,
				Params: map[string]map[string]any{"audit-logs": {"filter": "createdAt ge '2026-01-01T00:00:00Z'"}}})
			record("collector run", err)
			js, _ := json.Marshal(man)
			manifests = append(manifests, string(js))
			for _, k := range mem.Keys() {
				if strings.HasSuffix(k, "manifest.json") {
					b, _ := mem.Object(k)
					manifests = append(manifests, string(b))
				}
			}
			// The SDK calls directly, MSP-level and tenant-level.
			for _, req := range []central.Request{
				{App: central.AppGLP, Path: "/devices/v1/devices"},
				{App: central.AppGLP, Path: "/subscriptions/v1/subscriptions"},
				{App: central.AppGLP, Path: "/audit-log/v1/logs"},
				{Path: "/network-monitoring/v1/aps"},
				{Method: "POST", Path: "/network-config/v1/x", Body: map[string]string{"a": "b"}},
			} {
				_, err := m.Do(ctx, req, nil)
				record("msp do", err)
				if conn, err := m.Tenant(ctx, msp.ByID(echoTenantA)); err == nil {
					_, err = conn.Do(ctx, req, nil)
					record("tenant do", err)
				} else {
					record("tenant", err)
				}
			}
			_, err = m.Tenant(ctx, msp.ByID(echoTenantB))
			record("tenant B", err)
			_, err = m.ExchangeTenantToken(ctx, echoTenantB)
			record("exchange B", err)
		}
	}
	if n := strings.Count(strings.Join(manifests, "\n"), `"class"`); n < 10 {
		t.Fatalf("only %d errors in the manifests: failure paths not driven", n)
	}

	// 2. The tenant listing fails: collector, SDK and refresher.
	e.set(func(e *echoServer) { e.failTenants = true })
	m := e.newMSP(t, log)
	man, err := Run(ctx, Config{MSP: FromMSP(m), Sink: sink.NewMemory(), RunID: "echo-list", Logger: log})
	record("collector list", err)
	js, _ := json.Marshal(man)
	manifests = append(manifests, string(js))
	for _, err := range m.Tenants(ctx) {
		record("tenants", err)
	}
	_, err = m.TenantID(ctx, "Tenant A")
	record("tenant id", err)
	refresh := func(name string, m *msp.MSP) {
		r, err := tokencache.NewRefresher(tokencache.RefresherOptions{Prefix: "echo/tokens", Backend: tokencache.NewMemory(time.Now),
			Source: refresherSource{m}, Logger: log, Classify: func(error) string { return "error" }})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Refresh(ctx)
		record(name, err)
		js, _ := json.Marshal(res)
		manifests = append(manifests, string(js))
	}
	refresh("refresh list", m)

	// 3. Tenant B's exchange fails in the refresher.
	e.set(func(e *echoServer) { e.failTenants = false })
	refresh("refresh exchange", e.newMSP(t, log))

	// 4. The MSP's own login fails.
	e.set(func(e *echoServer) { e.failLogin = true })
	m = e.newMSP(t, log)
	man, err = Run(ctx, Config{MSP: FromMSP(m), Sink: sink.NewMemory(), RunID: "echo-login", Logger: log})
	record("collector login", err)
	js, _ = json.Marshal(man)
	manifests = append(manifests, string(js))
	_, err = m.Token(ctx)
	record("msp token", err)
	refresh("refresh login", e.newMSP(t, log))
	_, err = central.ClientCredentials(ctx, e.srv.Client(), e.srv.URL+"/authorization/v2/oauth2/"+echoWorkspace+"/token", echoClientID, echoSecret)
	record("client credentials", err)
	_, err = central.ExchangeToken(ctx, e.srv.Client(), e.srv.URL+"/authorization/v2/oauth2/"+echoTenantB+"/token", echoMSPToken, echoClientID, echoSecret)
	record("exchange", err)

	out := logs.String() + "\n" + strings.Join(outputs, "\n") + "\n" + strings.Join(manifests, "\n")
	for _, f := range echoForms() {
		if i := strings.Index(out, f); i >= 0 {
			t.Errorf("%q leaked: ...%s...", f, out[max(0, i-300):min(len(out), i+80)])
		}
	}
	for _, want := range []string{"[REDACTED]", "lacks scope", "msp-tenants", "/audit-log/v1/logs", "/central/network-monitoring", "/subscriptions/v1", "/devices/v1/devices", "oauth2/" + echoTenantB} {
		if !strings.Contains(out, want) {
			t.Errorf("%q not in the output: a path was not exercised", want)
		}
	}
}
