package msp

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestNormalizeTenantID(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef", true},
		{"01234567-89ab-cdef-0123-456789abcdef", "0123456789abcdef0123456789abcdef", true},
		{"01234567-89AB-CDEF-0123-456789ABCDEF", "0123456789abcdef0123456789abcdef", true},
		{"-0123456789abcdef0123456789abcdef--", "0123456789abcdef0123456789abcdef", true},
		{"", "", false},
		{"abc-def-123", "", false},
		{"0123456789abcdef0123456789abcde", "", false},   // 31
		{"0123456789abcdef0123456789abcdef0", "", false}, // 33
		{"0123456789abcdef0123456789abcdeg", "", false},
		{"0123456789abcdef 0123456789abcde", "", false},
		{"../../../../../../../../../../..", "", false},
		{"0123456789abcdef0123456789abcdé", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeTenantID(tt.in)
		if tt.ok {
			if err != nil || got != tt.want {
				t.Errorf("NormalizeTenantID(%q) = %q, %v; want %q, nil", tt.in, got, err, tt.want)
			}
			continue
		}
		var ie *InvalidTenantIDError
		if !errors.As(err, &ie) || ie.Value != tt.in || !errors.Is(err, ErrInvalidTenantID) {
			t.Errorf("NormalizeTenantID(%q) error = %v; want *InvalidTenantIDError with the value", tt.in, err)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.in)) {
			t.Errorf("error %q does not quote the value %q", err, tt.in)
		}
	}
}

func FuzzNormalizeTenantID(f *testing.F) {
	for _, s := range []string{"", "0123456789abcdef0123456789abcdef", "01234567-89ab-cdef-0123-456789abcdef", "x'--", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizeTenantID(in)
		if err != nil {
			if got != "" {
				t.Fatalf("error with non-empty result %q", got)
			}
			return
		}
		if len(got) != 32 || strings.Trim(got, "0123456789abcdef") != "" {
			t.Fatalf("NormalizeTenantID(%q) = %q: not 32 lower-case hex", in, got)
		}
		again, err := NormalizeTenantID(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q, %v", got, again, err)
		}
	})
}

func TestUnifiedRequiredError(t *testing.T) {
	e := &UnifiedRequiredError{Source: "creds.yaml", Blocks: []string{"glp", "new_central"}}
	msg := e.Error()
	for _, want := range []string{"MSP mode needs unified credentials", "creds.yaml", `"glp"`, `"new_central"`, `under "unified"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("Error() = %q, want it to contain %q", msg, want)
		}
	}
	if !errors.Is(e, ErrUnifiedRequired) {
		t.Error("not errors.Is ErrUnifiedRequired")
	}
}
