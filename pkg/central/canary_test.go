package central

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"
)

// TestCanaryNeverLeaks plants a canary client secret and a canary access
// token, drives success and every failure path, and searches all log output
// and every error string for them.
func TestCanaryNeverLeaks(t *testing.T) {
	t.Parallel()
	const (
		secret = "CANARY-SECRET+7f/3a=9c&"
		token  = "CANARY-TOKEN+b81/e44="
		id     = "canary-client"
	)
	basic := base64.StdEncoding.EncodeToString([]byte(id + ":" + secret))
	log, logs := bufLogger()
	var errs []string
	record := func(err error) {
		if err != nil {
			errs = append(errs, err.Error(), fmt.Sprintf("%v|%+v|%#v", err, err, err))
		}
	}

	var mode atomic.Value
	mode.Store("ok")
	var tokenFail atomic.Bool
	api := newTestAPI(t)
	api.setToken(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if tokenFail.Load() {
			// A hostile endpoint echoing everything it received.
			writeJSON(w, 401, map[string]any{"error": "invalid_client", "error_description": "got " + r.Header.Get("Authorization") + " " + string(body) + " " + secret})
			return
		}
		writeJSON(w, 200, map[string]any{"access_token": token, "expires_in": 900})
	})
	api.setAPI(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load().(string) {
		case "ok":
			writeJSON(w, 200, map[string]any{"items": items("a"), "total": 1, "next": nil})
		case "401":
			writeJSON(w, 401, map[string]any{"errorCode": "HPE_GL_ERROR_UNAUTHORIZED", "message": "expired"})
		case "429":
			status(429, "ratelimit-reset", "1")(w, r)
		case "500":
			status(500)(w, r)
		case "reset":
			hijackClose(w, r)
		case "malformed":
			malformed(w, r)
		case "echo", "echo-text":
			// A hostile API echoing the Authorization header it received
			// into every field of its error body and into its headers.
			auth := r.Header.Get("Authorization")
			w.Header().Set("X-Echo", auth)
			if mode.Load().(string) == "echo-text" {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(403)
				_, _ = io.WriteString(w, "403 Forbidden: token "+auth+" lacks scope")
				return
			}
			writeJSON(w, 403, map[string]any{"errorCode": auth, "message": "token " + auth + " lacks scope", "debugId": auth})
		case "repeat":
			writeJSON(w, 200, map[string]any{"items": items("a"), "next": "1"})
		}
	})
	doc := fmt.Sprintf("unified:\n  client_id: %s\n  client_secret: %q\n  workspace_id: ws1\n  glp_base_url: %s\n  base_url: %s/central\nglp:\n  client_secret: %q\n  access_token: %q\n",
		id, secret, api.srv.URL, api.srv.URL, secret, token)
	creds, err := parseCredentials([]byte(doc), FormatYAML, "canary.yaml", log)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("loaded", "creds", creds, "unified", creds.Unified)
	clk := newClock()
	c, err := New(creds, func(o *Options) {
		o.HTTPClient = api.srv.Client()
		o.Logger = log
		o.Now = clk.Now
		o.Retry = RetryPolicy{Sleep: clk.Sleep, Rand: func() float64 { return 0 }, MaxAttempts: 3}
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	run := func(m string, req Request) {
		mode.Store(m)
		_, err := c.Command(ctx, req)
		record(err)
		_, err = c.Do(ctx, req, &map[string]any{})
		record(err)
		if ae, ok := errors.AsType[*APIError](err); ok {
			errs = append(errs, string(ae.Response.Raw), fmt.Sprint(ae.Response.Header, ae.Response.Body))
		}
		for _, err := range Items[any](ctx, c, PageSpec{App: req.App, Path: req.Path}) {
			record(err)
		}
	}
	for _, m := range []string{"ok", "401", "429", "500", "reset", "malformed", "repeat", "echo", "echo-text", "ok"} {
		run(m, Request{Path: "network-monitoring/v1/aps"})
		run(m, Request{App: AppGLP, Path: "devices/v1/devices"})
		run(m, Request{App: AppGLP, Method: "POST", Path: "devices/v1/devices", Body: map[string]string{"a": "b"}})
	}
	// Login failure with a hostile echoing endpoint.
	tokenFail.Store(true)
	c.InvalidateToken(AppGLP, &oauth2.Token{AccessToken: token})
	run("ok", Request{Path: "x"})
	_, err = ClientCredentials(ctx, api.srv.Client(), api.srv.URL+"/authorization/v2/oauth2/ws1/token", id, secret)
	record(err)
	_, err = ExchangeToken(ctx, api.srv.Client(), api.srv.URL+"/authorization/v2/oauth2/t1/token", token, id, secret)
	record(err)
	// Cancelled context and invalid credentials.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.Command(cctx, Request{Path: "x"})
	record(err)
	_, err = parseCredentials([]byte("glp:\n  client_secret: "+secret+"\n  access_token: [\""+token+"\"]\n"), FormatYAML, "bad.yaml", log)
	record(err)
	_, err = parseCredentials([]byte(`{"glp":{"client_secret":"`+secret+`","access_token":"`+token+`"`), FormatJSON, "bad.json", log)
	record(err)
	_, err = parseCredentials([]byte("glp: {client_secret: '"+secret), FormatYAML, "bad.yaml", log)
	record(err)
	// Access-token-only mode expiring.
	tc, _ := New(&Credentials{GLP: &AppCreds{BaseURL: api.srv.URL, AccessToken: token, ClientSecret: secret}}, func(o *Options) {
		o.HTTPClient = api.srv.Client()
		o.Logger = log
	})
	mode.Store("401")
	_, err = tc.Command(ctx, Request{App: AppGLP, Path: "x"})
	record(err)

	if len(errs) < 20 {
		t.Fatalf("only %d error strings collected; failure paths not driven", len(errs))
	}
	out := logs.String() + "\n" + strings.Join(errs, "\n")
	for _, canary := range []string{secret, token, basic, url.QueryEscape(secret), url.QueryEscape(token), "CANARY"} {
		if i := strings.Index(out, canary); i >= 0 {
			t.Errorf("canary %q leaked: …%s…", canary, out[max(0, i-200):min(len(out), i+100)])
		}
	}
	if !strings.Contains(logs.String(), "rate limited") || !strings.Contains(logs.String(), "retrying request") {
		t.Errorf("failure paths were not logged:\n%s", logs.String())
	}
}
