package tokencache

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// SampleToken returns a JWT-shaped access token with the size and claim set
// of a GreenLake tenant token (RS256 header with key id, about twenty claims,
// a 2048-bit signature): about 1.5 KB, the upper end of the 1-2 KB GLP JWTs
// measure. It is not a valid token; the plan and
// the tests use it so sizes are measured, not assumed. seed varies the ids.
func SampleToken(seed int, issued time.Time) string {
	h := func(s string) string {
		sum := sha256.Sum256(fmt.Appendf(nil, "%s-%d", s, seed))
		return fmt.Sprintf("%x", sum[:16])
	}
	uuid := func(s string) string {
		x := h(s)
		return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
	}
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": h("kid")[:27] + "_rs256", "typ": "JWT"})
	claims := map[string]any{
		"iss":                 "https://sso.common.cloud.hpe.com/as/" + h("iss")[:12],
		"sub":                 "msp-automation-" + h("sub")[:8] + "@example-msp.com",
		"aud":                 []string{"aud-glp-" + h("aud")[:10], "https://global.api.greenlake.hpe.com"},
		"client_id":           uuid("client"),
		"hpe_workspace_id":    h("ws"),
		"hpe_tenant_id":       h("tenant"),
		"hpe_msp_id":          h("msp"),
		"hpe_principal_type":  "api-client",
		"hpe_identity_type":   "client",
		"hpe_token_type":      "exchanged",
		"auth_source":         "hpe_greenlake_platform",
		"scope":               "hpe-tenant openid",
		"authorization_roles": []string{"ccs.account-admin", "aruba-central.administrator", "glp.observer"},
		"iat":                 issued.Unix(),
		"exp":                 issued.Add(899 * time.Second).Unix(),
		"jti":                 uuid("jti"),
		"act":                 map[string]string{"sub": uuid("actor"), "hpe_workspace_id": h("msp")},
	}
	payload, _ := json.Marshal(claims)
	sig := make([]byte, 0, 256)
	for i := 0; len(sig) < 256; i++ {
		s := sha256.Sum256(fmt.Appendf(nil, "sig-%d-%d", seed, i))
		sig = append(sig, s[:]...)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(header) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString(sig[:256])
}
