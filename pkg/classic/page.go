package classic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"maps"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/centralmsp/centralmsp/pkg/central"
)

// PageSpec describes a Classic offset/limit list call, e.g.
//
//	{Path: "/monitoring/v2/aps", Limit: 1000,
//	 Params: map[string]any{"calculate_total": true}}               // key "aps"
//	{Path: "/monitoring/v1/switches"}                               // key "switches"
//	{Path: "/platform/device_inventory/v1/devices", Limit: 50,
//	 Params: map[string]any{"sku_type": "all"}}                     // key "devices"
//	{Path: "/msp_api/v1/customers", Limit: 100}                     // key "customers"
type PageSpec struct {
	Path string
	// Key is the answer's items array (default: the last path segment,
	// which is right for aps, switches, gateways, devices, customers, sites).
	Key string
	// Params are extra query parameters; offset and limit are managed.
	Params map[string]any
	// Limit is the page size sent as limit (0 = the server's default; the
	// first page's length is then taken as the page size).
	Limit int
	// MaxPages overrides Options.MaxPages.
	MaxPages int
}

// Pages iterates over the pages of a Classic list with offset/limit. Pages
// are central.Page values (Next is unused). It yields (nil, err) once on
// error and stops. It stops after a short page, an empty page, or when the
// total (when the answer has one) is reached; a list that cannot be read
// completely (missing items key, total shrinking, empty page before the
// total, too many pages) ends in a *central.PaginationError, never in a
// silent truncation.
func Pages[T any](ctx context.Context, c *Client, spec PageSpec) iter.Seq2[*central.Page[T], error] {
	return func(yield func(*central.Page[T], error) bool) {
		st := newPageStart(c, spec)
		p, key, maxPages, base, offset, pageSize := st.path, st.key, st.maxPages, st.base, st.offset, st.pageSize
		fail := func(n int, format string, args ...any) {
			yield(nil, &central.PaginationError{Path: p, Page: n, Reason: fmt.Sprintf(format, args...)})
		}
		prevTotal := -1
		for n := 1; ; n++ {
			if n > maxPages {
				fail(n, "more than %d pages (MaxPages)", maxPages)
				return
			}
			q := maps.Clone(base)
			q["offset"] = offset
			resp, err := c.doNoFill(ctx, central.Request{Method: http.MethodGet, Path: spec.Path, Params: q})
			if err != nil {
				yield(nil, err)
				return
			}
			items, count, total, err := decodeClassicPage[T](resp.Raw, key)
			if err != nil {
				fail(n, "%v", err)
				return
			}
			pg := &central.Page[T]{Items: items, Number: n, Count: len(items), Total: total, Offset: offset, Response: resp}
			if count >= 0 {
				pg.Count = count
			}
			if total >= 0 && prevTotal >= 0 && total < prevTotal {
				fail(n, "total shrank from %d to %d while paging; the list may be incomplete", prevTotal, total)
				return
			}
			if len(items) == 0 {
				if total >= 0 && offset < total {
					fail(n, "empty page at offset %d before total %d was reached", offset, total)
					return
				}
				if n == 1 { // an empty list is still one (empty) page
					yield(pg, nil)
				}
				return
			}
			if !yield(pg, nil) {
				return
			}
			prevTotal = total
			offset += len(items)
			if pageSize <= 0 {
				pageSize = len(items)
			}
			if total >= 0 {
				if offset >= total {
					return
				}
				continue // more to come even after a short page: the server capped limit
			}
			if len(items) < pageSize {
				return
			}
		}
	}
}

// pageStart is where a Pages iteration begins: the path, the items key, the
// page cap, the query without offset, the starting offset and the limit.
type pageStart struct {
	path, key        string
	maxPages         int
	base             map[string]any
	offset, pageSize int
}

// newPageStart reads the starting offset and limit from spec.
func newPageStart(c *Client, spec PageSpec) pageStart {
	st := pageStart{path: "/" + strings.TrimLeft(strings.SplitN(spec.Path, "?", 2)[0], "/"), key: spec.Key,
		maxPages: spec.MaxPages, base: maps.Clone(spec.Params), pageSize: spec.Limit}
	if st.key == "" {
		st.key = path.Base(st.path)
	}
	if st.maxPages <= 0 {
		st.maxPages = c.core.maxPage
	}
	if st.base == nil {
		st.base = map[string]any{}
	}
	if v, ok := st.base["offset"]; ok && v != nil {
		if n, err := strconv.Atoi(fmt.Sprint(v)); err == nil && n >= 0 {
			st.offset = n
		}
	}
	delete(st.base, "offset")
	if st.pageSize > 0 {
		st.base["limit"] = st.pageSize
	} else if v, ok := st.base["limit"]; ok && v != nil {
		if n, err := strconv.Atoi(fmt.Sprint(v)); err == nil && n > 0 {
			st.pageSize = n
		}
	}
	return st
}

// Items iterates over every item of a Classic list, page by page. It
// yields (zero, err) once on error and stops.
func Items[T any](ctx context.Context, c *Client, spec PageSpec) iter.Seq2[T, error] {
	return central.ItemsOf(Pages[T](ctx, c, spec))
}

// decodeClassicPage reads {<key>: [...], "count": n, "total": n}. count and
// total are -1 when absent or null.
func decodeClassicPage[T any](raw []byte, key string) (items []T, count, total int, err error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, -1, -1, fmt.Errorf("answer is not a JSON object")
	}
	arr, ok := env[key]
	if !ok || bytes.Equal(bytes.TrimSpace(arr), []byte("null")) {
		return nil, -1, -1, fmt.Errorf("answer has no %q array", key)
	}
	if err := json.Unmarshal(arr, &items); err != nil {
		return nil, -1, -1, fmt.Errorf("%q: %v", key, err)
	}
	if items == nil {
		items = []T{}
	}
	num := func(name string) (int, error) {
		v, ok := env[name]
		if !ok {
			return -1, nil
		}
		s := strings.Trim(strings.TrimSpace(string(v)), `"`)
		if s == "null" || s == "" {
			return -1, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || f > math.MaxInt32 || f != math.Trunc(f) {
			return -1, fmt.Errorf("%s is not a count", name)
		}
		return int(f), nil
	}
	if count, err = num("count"); err != nil {
		return nil, -1, -1, err
	}
	if total, err = num("total"); err != nil {
		return nil, -1, -1, err
	}
	return items, count, total, nil
}
