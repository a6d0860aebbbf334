package msp

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. The typed errors below match them with errors.Is, so
// callers may branch on either the sentinel or the type (errors.As).
var (
	// ErrUnifiedRequired is matched by *UnifiedRequiredError.
	ErrUnifiedRequired = errors.New("msp: MSP mode needs unified credentials")
	// ErrInvalidTenantID is matched by *InvalidTenantIDError.
	ErrInvalidTenantID = errors.New("msp: invalid tenant workspace id")
	// ErrTenantNotFound is matched by *TenantNotFoundError.
	ErrTenantNotFound = errors.New("msp: tenant not found")
	// ErrAmbiguousTenant is matched by *AmbiguousTenantError.
	ErrAmbiguousTenant = errors.New("msp: several tenants match")
	// ErrTenantLookup is matched by *TenantLookupError.
	ErrTenantLookup = errors.New("msp: tenant lookup failed")
	// ErrUnknownTenant is matched by *UnknownTenantError: CloseTenant was
	// asked to close a tenant that has no open connection.
	ErrUnknownTenant = errors.New("msp: no open connection for tenant")
	// ErrTokenMiss is returned by a TenantTokenStore that holds no token for
	// the tenant lasting the requested time. The MSP then exchanges one.
	ErrTokenMiss = errors.New("msp: no cached tenant token")
	// ErrClosed is returned by calls on an MSP after Close.
	ErrClosed = errors.New("msp: client closed")
	// ErrNoTenant is returned by Tenant when the TenantRef is the zero value.
	ErrNoTenant = errors.New("msp: either a tenant workspace id or a tenant name must be given")
)

// UnifiedRequiredError is returned by New for credentials without a
// "unified" block: MSP mode exchanges one GLP workspace token for tenant
// tokens, so standalone "glp" or "new_central" blocks cannot be used.
type UnifiedRequiredError struct {
	Source string   // credentials file path or "<value>"
	Blocks []string // the blocks that were found instead, e.g. ["glp"]
}

func (e *UnifiedRequiredError) Error() string {
	var b strings.Builder
	b.WriteString("msp: MSP mode needs unified credentials")
	if e.Source != "" {
		fmt.Fprintf(&b, " but %s", e.Source)
	} else {
		b.WriteString(" but the credentials")
	}
	if len(e.Blocks) == 0 {
		b.WriteString(" have no \"unified\" block")
	} else {
		fmt.Fprintf(&b, " only have %s (not supported in MSP mode)", quoteList(e.Blocks))
	}
	b.WriteString(`; put client_id, client_secret and workspace_id of the MSP workspace under "unified"`)
	return b.String()
}

// Is reports whether target is ErrUnifiedRequired.
func (e *UnifiedRequiredError) Is(target error) bool { return target == ErrUnifiedRequired }

// InvalidTenantIDError reports a tenant workspace id that is not 32
// hexadecimal characters once its dashes are removed.
type InvalidTenantIDError struct {
	Value string // the value as given
}

func (e *InvalidTenantIDError) Error() string {
	return fmt.Sprintf("msp: invalid tenant workspace id %q: want 32 hexadecimal characters (dashes are ignored)", e.Value)
}

// Is reports whether target is ErrInvalidTenantID.
func (e *InvalidTenantIDError) Is(target error) bool { return target == ErrInvalidTenantID }

// TenantNotFoundError reports that no tenant of the MSP has the given name.
type TenantNotFoundError struct{ Name string }

func (e *TenantNotFoundError) Error() string {
	return fmt.Sprintf("msp: no tenant named %q", e.Name)
}

// Is reports whether target is ErrTenantNotFound.
func (e *TenantNotFoundError) Is(target error) bool { return target == ErrTenantNotFound }

// AmbiguousTenantError reports that several tenants have the given name.
type AmbiguousTenantError struct {
	Name string
	IDs  []string // workspace ids of the matching tenants (as returned)
}

func (e *AmbiguousTenantError) Error() string {
	return fmt.Sprintf("msp: %d tenants are named %q (%s); connect by workspace id instead",
		len(e.IDs), e.Name, strings.Join(e.IDs, ", "))
}

// Is reports whether target is ErrAmbiguousTenant.
func (e *AmbiguousTenantError) Is(target error) bool { return target == ErrAmbiguousTenant }

// TenantLookupError reports that the tenant lookup by name failed: GLP
// answered with a status other than 200, or the call itself failed. Err
// holds the cause (often a *central.APIError).
type TenantLookupError struct {
	Name       string
	StatusCode int // 0 when no response was received
	Err        error
}

func (e *TenantLookupError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("msp: look up tenant %q: HTTP %d: %v", e.Name, e.StatusCode, e.Err)
	}
	return fmt.Sprintf("msp: look up tenant %q: %v", e.Name, e.Err)
}

// Unwrap returns the cause.
func (e *TenantLookupError) Unwrap() error { return e.Err }

// Is reports whether target is ErrTenantLookup.
func (e *TenantLookupError) Is(target error) bool { return target == ErrTenantLookup }

// UnknownTenantError is returned by CloseTenant for a tenant that has no
// open connection.
type UnknownTenantError struct{ ID string }

func (e *UnknownTenantError) Error() string {
	return fmt.Sprintf("msp: no open connection for tenant %q; use Tenant to open one first", e.ID)
}

// Is reports whether target is ErrUnknownTenant.
func (e *UnknownTenantError) Is(target error) bool { return target == ErrUnknownTenant }

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("a %q block", v)
	}
	return strings.Join(q, " and ")
}
