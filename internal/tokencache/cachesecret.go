// Package tokencache keeps exchanged GreenLake tenant tokens in a few cache
// secrets (AWS Secrets Manager, or files for the CLI and the demo) so the
// collector can start a run without one token exchange per tenant.
//
// The layout is shaped by Secrets Manager's limits (docs/tokencache.md):
// tenants are packed into cache secrets named <prefix>/shard-NNNN, each well
// under the 65,536-byte SecretString cap; the MSP token lives in <prefix>/msp.
// A tenant keeps its secret for as long as it exists, new tenants fill secrets
// with room (first fit) and new secrets are appended as the MSP grows.
//
// The Refresher writes a secret at most once per collection window and never
// twice within MinWriteInterval (10 minutes), checking the secret's latest
// version date right before it writes and using a per-window idempotency
// token, so two overlapping refreshers cannot both write a secret. The Reader
// serves tokens to the collector, counts hits and misses, and reports a miss
// with an error that matches ErrMiss so the caller falls back to an exchange.
package tokencache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// FormatName is the value of the "format" field of every cache object.
const FormatName = "centralmsp-token-cache"

// FormatVersion is the secret format version this package reads and writes.
const FormatVersion = 1

// MaxSecretBytes is Secrets Manager's SecretString size limit.
const MaxSecretBytes = 65536

// Kind tells a tenant cache secret from the MSP entry.
type Kind string

// Kinds of cache objects.
const (
	KindTenants Kind = "tenant-shard"
	KindMSP     Kind = "msp"
)

// Status of an entry.
type Status string

// Entry statuses.
const (
	StatusOK     Status = "ok"
	StatusFailed Status = "failed"
)

// Entry is one tenant's (or the MSP's) cached token.
type Entry struct {
	TenantID   string    `json:"tenant_id"`
	Name       string    `json:"name,omitempty"`
	Token      string    `json:"token,omitempty"`
	TokenType  string    `json:"token_type,omitempty"`
	Expiry     time.Time `json:"expiry,omitzero"`
	Status     Status    `json:"status"`
	ErrorClass string    `json:"error_class,omitempty"`
	Updated    time.Time `json:"updated"`
}

// String describes the entry without its token.
func (e Entry) String() string {
	return fmt.Sprintf("tenant %s (%s) status=%s expiry=%s", e.TenantID, e.Name, e.Status, e.Expiry.Format(time.RFC3339))
}

// ValidFor reports whether the entry holds a usable token that stays valid
// for at least d after now.
func (e Entry) ValidFor(now time.Time, d time.Duration) bool {
	return e.Status == StatusOK && e.Token != "" && !e.Expiry.IsZero() && !e.Expiry.Before(now.Add(d))
}

// OAuth2 returns the entry's token as an oauth2.Token.
func (e Entry) OAuth2() *oauth2.Token {
	typ := e.TokenType
	if typ == "" {
		typ = "Bearer"
	}
	return &oauth2.Token{AccessToken: e.Token, TokenType: typ, Expiry: e.Expiry}
}

// CacheSecret is the JSON document stored in one cache secret.
type CacheSecret struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Kind    Kind   `json:"kind"`
	// Index is the secret number (-1 for the MSP object).
	Index int `json:"index"`
	// WrittenAt is the writer's clock when the object was written.
	WrittenAt time.Time `json:"written_at"`
	// Window is the start of the collection window this write serves.
	Window  time.Time `json:"window,omitzero"`
	Entries []Entry   `json:"entries"`
}

// ParseError is a cache object that cannot be used. It names the secret and
// never quotes its content (which holds tokens).
type ParseError struct {
	Name   string
	Reason string
	Err    error
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("tokencache: secret %q is not a valid token cache object: %s", e.Name, e.Reason)
}

func (e *ParseError) Unwrap() error { return e.Err }

// DecodeCacheSecret parses and validates a cache object read from the secret name.
func DecodeCacheSecret(name string, data []byte) (*CacheSecret, error) {
	var s CacheSecret
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&s); err != nil {
		// json errors can quote input; keep only the position.
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, &ParseError{Name: name, Reason: fmt.Sprintf("invalid JSON at byte %d", se.Offset)}
		case errors.As(err, &te):
			return nil, &ParseError{Name: name, Reason: fmt.Sprintf("field %q has the wrong type", te.Field)}
		default:
			return nil, &ParseError{Name: name, Reason: "invalid JSON"}
		}
	}
	if dec.More() {
		return nil, &ParseError{Name: name, Reason: "trailing data after the JSON object"}
	}
	if s.Format != FormatName {
		return nil, &ParseError{Name: name, Reason: fmt.Sprintf("format is %q, want %q", truncate(s.Format, 40), FormatName)}
	}
	if s.Version != FormatVersion {
		return nil, &ParseError{Name: name, Reason: fmt.Sprintf("format version %d is not supported (want %d)", s.Version, FormatVersion)}
	}
	if s.Kind != KindTenants && s.Kind != KindMSP {
		return nil, &ParseError{Name: name, Reason: fmt.Sprintf("kind %q is unknown", truncate(string(s.Kind), 40))}
	}
	seen := make(map[string]bool, len(s.Entries))
	for i, e := range s.Entries {
		if e.TenantID == "" {
			return nil, &ParseError{Name: name, Reason: fmt.Sprintf("entry %d has no tenant_id", i)}
		}
		if seen[e.TenantID] {
			return nil, &ParseError{Name: name, Reason: fmt.Sprintf("tenant %s appears twice", truncate(e.TenantID, 64))}
		}
		seen[e.TenantID] = true
		switch e.Status {
		case StatusOK:
			if e.Token == "" || e.Expiry.IsZero() {
				return nil, &ParseError{Name: name, Reason: fmt.Sprintf("entry for tenant %s is ok but has no token or expiry", truncate(e.TenantID, 64))}
			}
		case StatusFailed:
		default:
			return nil, &ParseError{Name: name, Reason: fmt.Sprintf("entry for tenant %s has unknown status %q", truncate(e.TenantID, 64), truncate(string(e.Status), 20))}
		}
	}
	return &s, nil
}

// Encode returns the secret's JSON. It fails when the result would not fit in
// a SecretString.
func (s *CacheSecret) Encode() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("tokencache: encoding secret %d: %w", s.Index, err)
	}
	if len(b) > MaxSecretBytes {
		return nil, fmt.Errorf("tokencache: secret %d is %d bytes, over the %d-byte SecretString limit", s.Index, len(b), MaxSecretBytes)
	}
	return b, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// CacheSecretName is the secret name of secret i under prefix.
func CacheSecretName(prefix string, i int) string {
	return fmt.Sprintf("%s/shard-%04d", prefix, i)
}

// MSPName is the secret name of the MSP token under prefix.
func MSPName(prefix string) string { return prefix + "/msp" }

// parseCacheSecretName returns the secret index of name under prefix.
func parseCacheSecretName(prefix, name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix+"/shard-")
	if !ok || len(rest) < 4 {
		return 0, false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// ValidatePrefix checks that prefix can name Secrets Manager secrets.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return errors.New("tokencache: the cache prefix is empty")
	}
	if len(prefix) > 400 {
		return errors.New("tokencache: the cache prefix is longer than 400 characters")
	}
	if strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/") || strings.Contains(prefix, "//") || strings.Contains(prefix, "..") {
		return fmt.Errorf("tokencache: cache prefix %q must not start or end with '/', nor contain '//' or '..'", prefix)
	}
	for _, c := range prefix {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("/_+=.@-", c):
		default:
			return fmt.Errorf("tokencache: cache prefix %q has %q; secret names allow letters, digits and /_+=.@-", prefix, c)
		}
	}
	return nil
}
