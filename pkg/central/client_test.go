package central

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

func TestCommandRequestShape(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	c := testClient(t, api, newClock())
	var got *http.Request
	var body string
	api.setAPI(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		writeJSON(w, 201, map[string]any{"id": 7, "items": []any{"a"}})
	})
	f := false
	var nilPtr *int
	resp, err := c.Command(t.Context(), Request{
		Method: "post", Path: "/network-config/v1/sites",
		Params: map[string]any{"limit": 10, "skip": nil, "nilptr": nilPtr, "id": []string{"a", "b"}, "flag": &f, "ints": []int{1, 2}},
		Body:   map[string]any{"name": "x"},
		Header: http.Header{"X-Extra": {"1"}, "Authorization": {"Bearer evil"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != "POST" || got.URL.Path != "/central/network-config/v1/sites" {
		t.Errorf("request %s %s (base path prefix must be kept)", got.Method, got.URL.Path)
	}
	q := got.URL.Query()
	want := url.Values{"limit": {"10"}, "id": {"a", "b"}, "flag": {"false"}, "ints": {"1", "2"}}
	if q.Encode() != want.Encode() {
		t.Errorf("query = %v, want %v", q, want)
	}
	if got.Header.Get("Authorization") != "Bearer tok-1" || got.Header.Get("X-Extra") != "1" {
		t.Errorf("headers = %v", got.Header)
	}
	if got.Header.Get("Content-Type") != "application/json" || got.Header.Get("Accept") != "application/json" || body != `{"name":"x"}` {
		t.Errorf("body %q headers %v", body, got.Header)
	}
	m, ok := resp.Body.(map[string]any)
	if resp.StatusCode != 201 || !ok || m["id"] != float64(7) || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("resp = %+v", resp)
	}
}

func TestCommandBodiesAndStatuses(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	c := testClient(t, api, newClock())
	api.setAPI(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/text":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "hello")
		case "/empty":
			w.WriteHeader(204)
		case "/glp-404":
			writeJSON(w, 404, map[string]any{"debugId": "dbg-1", "httpStatusCode": 404, "errorCode": "HPE_GL_ERROR_NOT_FOUND", "message": "no such device"})
		case "/central-400":
			writeJSON(w, 400, map[string]any{"error": "invalid_request", "error_description": "limit too big"})
		case "/html-403":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(403)
			_, _ = io.WriteString(w, "<html>forbidden</html>")
		}
	})
	ctx := t.Context()
	resp, err := c.Command(ctx, Request{App: AppGLP, Path: "text"})
	if err != nil || resp.Body != nil || string(resp.Raw) != "hello" {
		t.Errorf("text: %+v %v", resp, err)
	}
	resp, err = c.Command(ctx, Request{App: AppGLP, Path: "empty", Method: "DELETE"})
	if err != nil || resp.StatusCode != 204 || resp.Body != nil {
		t.Errorf("empty: %+v %v", resp, err)
	}
	resp, err = c.Command(ctx, Request{App: AppGLP, Path: "glp-404"})
	if err != nil || resp.StatusCode != 404 || resp.Body == nil {
		t.Errorf("Command 404: %+v %v", resp, err)
	}
	_, err = c.Do(ctx, Request{App: AppGLP, Path: "glp-404"}, nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 404 || ae.ErrorCode != "HPE_GL_ERROR_NOT_FOUND" || ae.Message != "no such device" || ae.DebugID != "dbg-1" || ae.Path != "/glp-404" || ae.Method != "GET" {
		t.Errorf("Do 404: %#v", err)
	}
	if errors.Is(err, ErrUnauthorized) {
		t.Error("404 matched ErrUnauthorized")
	}
	_, err = c.Do(ctx, Request{App: AppGLP, Path: "central-400"}, nil)
	if !errors.As(err, &ae) || ae.ErrorCode != "invalid_request" || ae.Message != "limit too big" {
		t.Errorf("Do 400: %#v", err)
	}
	_, err = c.Do(ctx, Request{App: AppGLP, Path: "html-403"}, nil)
	if !errors.As(err, &ae) || ae.StatusCode != 403 {
		t.Errorf("Do 403: %#v", err)
	}
	var out struct{ OK bool }
	api.setAPI(nil)
	if _, err := c.Do(ctx, Request{Path: "x"}, &out); err != nil || !out.OK {
		t.Errorf("Do decode: %v %+v", err, out)
	}
}

func TestCommandValidation(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	cr := api.creds()
	cr.Unified.BaseURL = "" // GLP only
	c, err := New(cr, func(o *Options) { o.HTTPClient = api.srv.Client(); o.Logger = slog.New(slog.DiscardHandler) })
	if err != nil {
		t.Fatal(err)
	}
	if c.HasApp(AppCentral) || !c.HasApp(AppGLP) {
		t.Errorf("HasApp wrong")
	}
	_, err = c.Command(t.Context(), Request{Path: "network-monitoring/v1/aps"})
	if !errors.Is(err, ErrAppNotConfigured) || !strings.Contains(err.Error(), "Missing configuration for 'new_central'") {
		t.Errorf("err = %v", err)
	}
	_, err = c.Command(t.Context(), Request{App: AppGLP, Method: "TRACE", Path: "x"})
	if err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("TRACE: %v", err)
	}
	_, err = c.Command(t.Context(), Request{App: AppGLP, Path: "a/../b"})
	if err == nil {
		t.Errorf("path traversal accepted")
	}
	if api.tokenCalls.Load() != 0 || api.apiCalls.Load() != 0 {
		t.Errorf("network I/O for invalid requests")
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	if err := c.Close(); err != nil {
		t.Error(err)
	}
}

func TestExternalTokenSource(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	var got string
	api.setAPI(func(w http.ResponseWriter, r *http.Request) { got = bearer(r); writeJSON(w, 200, map[string]any{}) })
	src := NewCachedSource(func(ctx context.Context) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "tenant-token"}, nil
	}, CacheOptions{})
	// Tenant connections carry only URLs; client credentials are not required.
	cr := &Credentials{Unified: &Unified{GLPBaseURL: api.srv.URL, BaseURL: api.srv.URL + "/central"}}
	c, err := New(cr, func(o *Options) { o.HTTPClient = api.srv.Client(); o.TokenSource = src; o.Workspace = "tenant1" })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Command(t.Context(), Request{Path: "x"}); err != nil || got != "tenant-token" {
		t.Errorf("%v %q", err, got)
	}
	if api.tokenCalls.Load() != 0 {
		t.Error("token endpoint used despite TokenSource")
	}
	if _, err := New(cr); err == nil {
		t.Error("unified without client credentials and without TokenSource accepted")
	}
}
