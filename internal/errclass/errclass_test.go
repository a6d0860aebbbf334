package errclass

import "testing"

func TestFromStatus(t *testing.T) {
	for code, want := range map[int]Class{0: Error, 200: Error, 400: Rejected, 401: Unauthorized, 403: Forbidden, 404: NotFound, 429: RateLimited, 500: Server, 503: Server} {
		if got := FromStatus(code); got != want {
			t.Errorf("FromStatus(%d) = %q, want %q", code, got, want)
		}
	}
}
