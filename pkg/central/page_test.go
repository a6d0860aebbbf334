package central

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

type item struct {
	ID string `json:"id"`
}

func items(ids ...string) []map[string]any {
	out := []map[string]any{}
	for _, id := range ids {
		out = append(out, map[string]any{"id": id})
	}
	return out
}

func collect[T any](t *testing.T, c *Client, spec PageSpec) ([]T, error) {
	t.Helper()
	var got []T
	for it, err := range Items[T](t.Context(), c, spec) {
		if err != nil {
			return got, err
		}
		got = append(got, it)
	}
	return got, nil
}

func ids(xs []item) string {
	var s []string
	for _, x := range xs {
		s = append(s, x.ID)
	}
	return strings.Join(s, ",")
}

func TestCursorPaging(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	c := testClient(t, api, newClock())
	var queries []string
	api.setAPI(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		queries = append(queries, q.Encode())
		switch q.Get("next") {
		case "1":
			writeJSON(w, 200, map[string]any{"items": items("a", "b"), "count": 2, "total": 5, "next": "2"})
		case "2":
			writeJSON(w, 200, map[string]any{"items": items("c", "d"), "count": 2, "total": 5, "next": 3}) // numeric cursor
		case "3":
			writeJSON(w, 200, map[string]any{"items": items("e"), "count": 1, "total": 5, "next": nil})
		}
	})
	got, err := collect[item](t, c, PageSpec{Path: "network-monitoring/v1/aps", Limit: 2, Params: map[string]any{"filter": "status eq 'ONLINE'", "sort": nil}})
	if err != nil || ids(got) != "a,b,c,d,e" {
		t.Fatalf("got %v err %v", ids(got), err)
	}
	want := []string{"filter=status+eq+%27ONLINE%27&limit=2&next=1", "filter=status+eq+%27ONLINE%27&limit=2&next=2", "filter=status+eq+%27ONLINE%27&limit=2&next=3"}
	if strings.Join(queries, " ") != strings.Join(want, " ") {
		t.Errorf("queries = %v", queries)
	}
	// Page metadata.
	n := 0
	for pg, err := range Pages[item](t.Context(), c, PageSpec{Path: "x", Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if pg.Number != n || pg.Total != 5 || pg.Response == nil {
			t.Errorf("page %+v", pg)
		}
	}
	if n != 3 {
		t.Errorf("%d pages", n)
	}
}

func TestCursorGuards(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		h      http.HandlerFunc
		max    int
		reason string
	}{
		"repeated cursor": {func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"items": items("x"), "next": "2"})
		}, 0, `cursor "2" repeated`},
		"max pages": {func(w http.ResponseWriter, r *http.Request) {
			n, _ := strconv.Atoi(r.URL.Query().Get("next"))
			writeJSON(w, 200, map[string]any{"items": items("x"), "next": strconv.Itoa(n + 1)})
		}, 4, "more than 4 pages"},
		"empty page before total": {func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"items": items(), "total": 10, "next": "9"})
		}, 0, "before total 10"},
		"total shrank": {seq(
			func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, map[string]any{"items": items("a"), "total": 10, "next": "2"})
			},
			func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, map[string]any{"items": items("b"), "total": 3, "next": "3"})
			}), 0, "total shrank from 10 to 3"},
		"no items": {func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"devices": items("a")})
		}, 0, "no items array"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			api := newTestAPI(t)
			c := testClient(t, api, newClock())
			api.setAPI(tc.h)
			_, err := collect[item](t, c, PageSpec{Path: "p", MaxPages: tc.max})
			var pe *PaginationError
			if !errors.As(err, &pe) || !strings.Contains(pe.Reason, tc.reason) || pe.Path != "/p" {
				t.Errorf("err = %v, want reason %q", err, tc.reason)
			}
		})
	}
}

func TestOffsetPaging(t *testing.T) {
	t.Parallel()
	all := []string{"a", "b", "c", "d", "e", "f", "g"}
	serve := func(withTotal bool, serverMax int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
			lim, _ := strconv.Atoi(r.URL.Query().Get("limit"))
			if lim == 0 || lim > serverMax {
				lim = serverMax
			}
			end := min(off+lim, len(all))
			page := all[min(off, len(all)):end]
			body := map[string]any{"items": items(page...), "count": len(page), "offset": off}
			if withTotal {
				body["total"] = len(all)
			}
			writeJSON(w, 200, body)
		}
	}
	for _, tc := range []struct {
		name      string
		h         http.HandlerFunc
		limit     int
		wantCalls int64
	}{
		{"total reached", serve(true, 100), 3, 3},             // 3+3+1
		{"short page without total", serve(false, 100), 3, 3}, // 3+3+1(short)
		{"exact multiple without total", serve(false, 100), 7, 2},
		{"server caps limit, total keeps going", serve(true, 2), 5, 4}, // 2+2+2+1
		{"no limit, page size learnt", serve(false, 4), 0, 2},          // 4 then 3 (short)
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := newTestAPI(t)
			c := testClient(t, api, newClock())
			api.setAPI(tc.h)
			got, err := collect[item](t, c, PageSpec{App: AppGLP, Path: "devices/v1/devices", Style: OffsetPaging, Limit: tc.limit})
			if err != nil || ids(got) != "a,b,c,d,e,f,g" {
				t.Fatalf("got %q err %v", ids(got), err)
			}
			if api.apiCalls.Load() != tc.wantCalls {
				t.Errorf("calls = %d, want %d", api.apiCalls.Load(), tc.wantCalls)
			}
		})
	}
	t.Run("empty page before total", func(t *testing.T) {
		t.Parallel()
		api := newTestAPI(t)
		c := testClient(t, api, newClock())
		api.setAPI(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"items": items(), "total": 50})
		})
		_, err := collect[item](t, c, PageSpec{App: AppGLP, Path: "x", Style: OffsetPaging, Limit: 10})
		var pe *PaginationError
		if !errors.As(err, &pe) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestPagingStopsOnBreakAndError(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	c := testClient(t, api, newClock())
	api.setAPI(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("next"))
		if n == 3 {
			writeJSON(w, 403, map[string]any{"errorCode": "HPE_GL_ERROR_FORBIDDEN", "message": "nope"})
			return
		}
		writeJSON(w, 200, map[string]any{"items": items("x", "y"), "next": strconv.Itoa(n + 1)})
	})
	for range Items[item](t.Context(), c, PageSpec{Path: "p"}) {
		break
	}
	if api.apiCalls.Load() != 1 {
		t.Errorf("break: %d calls", api.apiCalls.Load())
	}
	got, err := collect[item](t, c, PageSpec{Path: "p"})
	var ae *APIError
	if len(got) != 4 || !errors.As(err, &ae) || ae.StatusCode != 403 {
		t.Errorf("got %d items, err %v", len(got), err)
	}
}

// A server that ignores offset and sends no total serves its first page
// forever: paging stops on the second page with a *PaginationError instead
// of running to MaxPages (gigabytes for a collector on a big list).
func TestOffsetIgnoredStops(t *testing.T) {
	t.Parallel()
	for _, raw := range []bool{false, true} {
		t.Run("raw="+strconv.FormatBool(raw), func(t *testing.T) {
			t.Parallel()
			api := newTestAPI(t)
			c := testClient(t, api, newClock())
			api.setAPI(func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, map[string]any{"items": items("a", "b", "c"), "count": 3})
			})
			spec := PageSpec{App: AppGLP, Path: "x", Style: OffsetPaging, Limit: 3}
			var err error
			var n int
			if raw {
				var got []json.RawMessage
				got, err = collect[json.RawMessage](t, c, spec)
				n = len(got)
			} else {
				var got []item
				got, err = collect[item](t, c, spec)
				n = len(got)
			}
			var pe *PaginationError
			if !errors.As(err, &pe) || pe.Page != 2 || !strings.Contains(pe.Reason, "ignores offset") {
				t.Fatalf("err = %v, want a PaginationError at page 2", err)
			}
			if n != 3 || api.apiCalls.Load() != 2 {
				t.Errorf("%d items in %d calls, want 3 in 2", n, api.apiCalls.Load())
			}
		})
	}
	// A server that cycles back to an earlier page (not the previous one).
	t.Run("cycle", func(t *testing.T) {
		t.Parallel()
		api := newTestAPI(t)
		c := testClient(t, api, newClock())
		api.setAPI(func(w http.ResponseWriter, r *http.Request) {
			off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
			page := [][]string{{"a", "b"}, {"c", "d"}}[(off/2)%2]
			writeJSON(w, 200, map[string]any{"items": items(page...)})
		})
		_, err := collect[item](t, c, PageSpec{App: AppGLP, Path: "x", Style: OffsetPaging, Limit: 2})
		var pe *PaginationError
		if !errors.As(err, &pe) || pe.Page != 3 {
			t.Fatalf("err = %v, want a PaginationError at page 3", err)
		}
	})
}

// With Reuse, every page is read into the memory of the one before (the
// items a caller sees are the page's own, while the loop body runs);
// without it, an earlier page's items stay intact after later pages.
func TestPagesReuseSharesOneBody(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	c := testClient(t, api, newClock())
	api.setAPI(func(w http.ResponseWriter, r *http.Request) {
		off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		ids := []string{"a" + strconv.Itoa(off), "b" + strconv.Itoa(off)}
		writeJSON(w, 200, map[string]any{"items": items(ids...), "total": 6})
	})
	read := func(reuse bool) (seen []string, first []json.RawMessage, bodies map[*byte]bool) {
		bodies = map[*byte]bool{}
		spec := PageSpec{Path: "x", Style: OffsetPaging, Limit: 2, Reuse: reuse}
		for pg, err := range Pages[json.RawMessage](t.Context(), c, spec) {
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range pg.Items {
				seen = append(seen, string(it))
			}
			if first == nil {
				first = pg.Items
			}
			bodies[&pg.Response.Raw[0]] = true
		}
		return seen, first, bodies
	}
	want := `{"id":"a0"} {"id":"b0"} {"id":"a2"} {"id":"b2"} {"id":"a4"} {"id":"b4"}`
	seen, _, bodies := read(true)
	if got := strings.Join(seen, " "); got != want {
		t.Fatalf("Reuse: items %s, want %s", got, want)
	}
	if len(bodies) != 1 {
		t.Errorf("Reuse: the 3 pages were read into %d bodies, want 1", len(bodies))
	}
	seen, first, bodies := read(false)
	if got := strings.Join(seen, " "); got != want {
		t.Fatalf("items %s, want %s", got, want)
	}
	if len(bodies) != 3 || string(first[0]) != `{"id":"a0"}` {
		t.Errorf("without Reuse: %d bodies (want 3), first page's item now %s", len(bodies), first[0])
	}
}
