package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

const callUsage = `usage: centralmsp call --credentials FILE [--tenant ID|NAME] [--app glp|central]
                       [--data JSON|@FILE] METHOD PATH [key=value...]

Makes one API call with unified MSP credentials, like PyCentral's command(),
and prints the JSON body. Without --tenant the call is MSP-level; with it, the
call uses the tenant's exchanged token (a 32-hex workspace id, dashes allowed,
or a tenant name). key=value pairs become query parameters (repeat a key for
a list). A status other than 2xx exits with status 1 and the body on stderr.

flags:
`

// runCall implements `centralmsp call`.
func runCall(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	credsPath := fs.String("credentials", "", "unified MSP credentials file (YAML or JSON)")
	tenant := fs.String("tenant", "", "tenant workspace id or name (default: MSP-level call)")
	appName := fs.String("app", "central", "API: glp or central")
	data := fs.String("data", "", "JSON request body, or @FILE to read it from a file")

	// Flags may come before or after the positional arguments.
	var pos []string
	rest := args
	for {
		if ok, err := parseFlags(env, fs, callUsage, rest); !ok {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if *credsPath == "" {
		return &UsageError{Msg: "--credentials FILE is required"}
	}
	if len(pos) < 2 {
		return &UsageError{Msg: "METHOD and PATH are required"}
	}
	req, err := callRequest(*appName, pos[0], pos[1], pos[2:], *data)
	if err != nil {
		return err
	}

	m, err := tenantsOpenMSP(env, *credsPath)
	if err != nil {
		return err
	}
	defer m.Close()

	var resp *central.Response
	if *tenant != "" {
		ref := msp.ByName(*tenant)
		if _, err := msp.NormalizeTenantID(*tenant); err == nil {
			ref = msp.ByID(*tenant)
		}
		conn, err := m.Tenant(ctx, ref)
		if err != nil {
			return err
		}
		resp, err = conn.Command(ctx, req)
		if err != nil {
			return err
		}
	} else {
		resp, err = m.Command(ctx, req)
		if err != nil {
			return err
		}
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		writeCallBody(env.Stderr, resp)
		return &ExitError{Code: 1, Err: fmt.Errorf("%s %s: HTTP %d", req.Method, req.Path, resp.StatusCode)}
	}
	return writeCallBody(env.Stdout, resp)
}

// callRequest validates the command line parts of a call and builds it.
func callRequest(appName, method, path string, params []string, data string) (central.Request, error) {
	req := central.Request{Method: strings.ToUpper(method), Path: path}
	switch strings.ToLower(appName) {
	case "glp":
		req.App = central.AppGLP
	case "central", "new_central", "":
		req.App = central.AppCentral
	default:
		return req, &UsageError{Msg: fmt.Sprintf("--app %q: want glp or central", appName)}
	}
	switch req.Method {
	case "GET", "POST", "PUT", "PATCH", "DELETE":
	default:
		return req, &UsageError{Msg: fmt.Sprintf("HTTP method %q not supported: use GET, POST, PUT, PATCH or DELETE", method)}
	}
	if path == "" {
		return req, &UsageError{Msg: "empty PATH"}
	}
	for _, kv := range params {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return req, &UsageError{Msg: fmt.Sprintf("query parameter %q: want key=value", kv)}
		}
		if req.Params == nil {
			req.Params = make(map[string]any)
		}
		switch prev := req.Params[k].(type) {
		case nil:
			req.Params[k] = v
		case string:
			req.Params[k] = []string{prev, v}
		case []string:
			req.Params[k] = append(prev, v)
		}
	}
	if data != "" {
		raw := []byte(data)
		if name, ok := strings.CutPrefix(data, "@"); ok {
			b, err := os.ReadFile(name)
			if err != nil {
				return req, &UsageError{Msg: fmt.Sprintf("--data: %v", err)}
			}
			raw = b
		}
		if !json.Valid(raw) {
			return req, &UsageError{Msg: "--data is not valid JSON"}
		}
		req.Body = json.RawMessage(bytes.TrimSpace(raw))
	}
	return req, nil
}

// writeCallBody prints the decoded JSON body indented, or the raw body when
// it is not JSON.
func writeCallBody(w io.Writer, resp *central.Response) error {
	if resp.Body != nil {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(resp.Body)
	}
	if len(resp.Raw) > 0 {
		_, err := w.Write(resp.Raw)
		if err == nil && !bytes.HasSuffix(resp.Raw, []byte("\n")) {
			_, err = io.WriteString(w, "\n")
		}
		return err
	}
	return nil
}
