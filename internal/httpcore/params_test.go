package httpcore

import (
	"net/url"
	"testing"
)

func TestAddParams(t *testing.T) {
	var nilPtr *int
	n := 7
	vals := url.Values{}
	AddParams(vals, map[string]any{
		"limit": 100, "next": nil, "ptr": nilPtr, "deref": &n, "flag": true,
		"id": []string{"a", "b"}, "ints": []int{1, 2}, "filter": "siteName eq 'O''Brien'",
	})
	want := "deref=7&filter=siteName+eq+%27O%27%27Brien%27&flag=true&id=a&id=b&ints=1&ints=2&limit=100"
	if got := vals.Encode(); got != want {
		t.Fatalf("AddParams encoded %q, want %q (nil values dropped, slices repeat the key)", got, want)
	}
}
