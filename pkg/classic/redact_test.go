package classic

import (
	"strings"
	"testing"
)

// TestRejectedURLPasswordRedacted: a base_url rejected in a config file is
// shown with its password redacted.
func TestRejectedURLPasswordRedacted(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"https://user:CANARYpw@central.example.com", "http://user:CANARYpw@central.example.com", "user:CANARYpw@central.example.com", "https://user:CANARYpw@h%zz"} {
		doc := "central_info:\n  base_url: \"" + u + "\"\n  token:\n    access_token: at\n"
		_, err := ParseConfig([]byte(doc), "", "conn.yaml")
		if err == nil {
			t.Fatalf("%s accepted", u)
		}
		if strings.Contains(err.Error(), "CANARYpw") || !strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("%s: %v", u, err)
		}
	}
}
