package tokencache

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/centralmsp/centralmsp/pkg/msp"
)

// WorkspaceClaims are the JWT claims that name the workspace a token is
// scoped to: hpe_workspace_id (GreenLake's tokens, as SampleToken models
// them) and workspace_id (the simulator's). A token that is not a JWT, or
// a JWT with neither claim, is unbound: it is served as it is.
var WorkspaceClaims = []string{"hpe_workspace_id", "workspace_id"}

// isTenantID reports whether id is a normalised workspace id: exactly 32
// lower-case hexadecimal characters.
func isTenantID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// entryBindError says why a tenant entry read from a secret cannot be
// trusted to hold its own tenant's token ("" when it can): a tenant id that
// is not a normalised workspace id, or a token whose workspace claim names
// another workspace. The token is decoded, not verified: the check catches
// entries moved between tenants, not forged tokens (the API rejects those).
func entryBindError(e Entry) string {
	if !isTenantID(e.TenantID) {
		return "tenant_id is not 32 lower-case hexadecimal characters"
	}
	if e.Token == "" {
		return ""
	}
	ws, ok, err := tokenWorkspace(e.Token)
	switch {
	case err != nil:
		return "the token's workspace claim cannot be read: " + err.Error()
	case ok && ws != e.TenantID:
		return "the token is scoped to another workspace"
	}
	return ""
}

// tokenWorkspace decodes tok's workspace claim without verifying the
// token. ok is false when tok is not a JWT (three base64url segments, the
// first a JSON header with "alg") or has no workspace claim.
func tokenWorkspace(tok string) (ws string, ok bool, err error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", false, nil
	}
	hb, herr := b64(parts[0])
	var hdr struct {
		Alg string `json:"alg"`
	}
	if herr != nil || json.Unmarshal(hb, &hdr) != nil || hdr.Alg == "" {
		return "", false, nil // not a JWT: an opaque token
	}
	pb, err := b64(parts[1])
	if err != nil {
		return "", false, fmt.Errorf("the payload is not base64url")
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(pb, &claims); err != nil {
		return "", false, fmt.Errorf("the payload is not a JSON object")
	}
	for _, name := range WorkspaceClaims {
		raw, present := claims[name]
		if !present {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, fmt.Errorf("claim %s is not a string", name)
		}
		id, err := msp.NormalizeTenantID(s)
		if err != nil {
			return "", false, fmt.Errorf("claim %s is not a workspace id", name)
		}
		return id, true, nil
	}
	return "", false, nil
}

func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
