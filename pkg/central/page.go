package central

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"maps"
	"math"
	"net/http"
	"strconv"
	"sync"

	"github.com/centralmsp/centralmsp/internal/httpcore"
)

// PageStyle selects a pagination scheme.
type PageStyle int

const (
	// CursorPaging is New Central's cursor: the request carries next (1 on the
	// first page), the answer {items, count, total, next} where next is a
	// string, null on the last page.
	CursorPaging PageStyle = iota
	// OffsetPaging is offset/limit (GLP, New Central sites-health): the answer
	// is {items, count, total, offset}; offset advances by the item count.
	OffsetPaging
)

// PageSpec describes a paginated list call.
type PageSpec struct {
	App    App
	Path   string
	Params map[string]any // extra query parameters (filter, sort, ...); not modified
	Style  PageStyle
	// Limit is the page size sent as limit (0 = the server default).
	Limit int
	// MaxPages overrides the client's MaxPages guard.
	MaxPages int
	// Reuse reads every page into the memory of the one before: a page,
	// its Items and its Response.Raw are valid only until the loop body
	// returns (as bufio.Scanner.Bytes), and a caller copies what it keeps.
	// It saves an allocation per page and most of the garbage collector's
	// work for a caller that streams pages elsewhere.
	Reuse bool
}

// Page is one page of a list.
type Page[T any] struct {
	// Items are the page's items. json.RawMessage items share the memory of
	// Response.Raw (no copy per item): treat them as read-only, and copy
	// one you keep long after the page, or it keeps the whole page alive.
	Items    []T
	Number   int // 1-based
	Count    int // count field, or len(Items) when absent
	Total    int // total field, -1 when absent
	Next     string
	Offset   int // offset of the first item of this page
	Response *Response
	// Plain reports that the page's json.RawMessage items can be copied
	// as they are into one-line JSON records beside fields whose names
	// begin with '_': each item is one line (no CR or LF), its strings are
	// valid UTF-8, and none of the object items has a member whose name
	// begins with '_', escaped or not. It is false when the page does not
	// meet all three, or was not checked (items of other types, or a body
	// the strict scan leaves to encoding/json): check the items then.
	Plain bool
}

// PaginationError reports a list that cannot be read completely: a cursor
// that repeats, more pages than allowed, a total that shrank, an empty
// page before the total was reached, or (offset paging) a page the server
// served already, which is what a server that ignores offset does. Paging never loops forever and never
// truncates silently.
type PaginationError struct {
	Path   string
	Page   int
	Reason string
}

// Error implements error.
func (e *PaginationError) Error() string {
	return fmt.Sprintf("central: pagination of %s stopped at page %d: %s", e.Path, e.Page, e.Reason)
}

// Pages iterates over the pages of a list. It yields (nil, err) once on
// error and stops. Stop rules (as HPE's API references describe paging): null/empty next (cursor), a short
// page when no total is given (offset), the total reached.
func Pages[T any](ctx context.Context, c *Client, spec PageSpec) iter.Seq2[*Page[T], error] {
	return func(yield func(*Page[T], error) bool) {
		st := newPageState(c, spec)
		fail := func(n int, format string, args ...any) {
			yield(nil, &PaginationError{Path: st.path, Page: n, Reason: fmt.Sprintf(format, args...)})
		}
		var body []byte // the memory pages are read into, with Reuse
		var items []T   // the items slice, with Reuse
		if spec.Reuse {
			items = takeItems[T]()
			defer func() {
				httpcore.PutBody(body) // nil after an error: its bytes may be in it
				putItems(items)
			}()
		}
		for n := 1; ; n++ {
			if n > st.maxPages {
				fail(n, "more than %d pages (MaxPages)", st.maxPages)
				return
			}
			req := Request{Method: http.MethodGet, Path: spec.Path, App: spec.App, Params: st.query(spec.Style)}
			var env pageEnvelope[T]
			if spec.Reuse {
				req.into, env.Items = &body, items[:0]
			}
			resp, err := c.Do(ctx, req, &env)
			if err != nil {
				body = nil
				yield(nil, err)
				return
			}
			if env.Items == nil {
				fail(n, "answer has no items array")
				return
			}
			items = env.Items
			pg := &Page[T]{Items: env.Items, Number: n, Count: len(env.Items), Total: -1, Next: env.Next.s, Offset: st.offset, Response: resp, Plain: env.plain}
			if env.Count.ok {
				pg.Count = env.Count.v
			}
			if env.Total.ok {
				pg.Total = env.Total.v
			}
			if pg.Total >= 0 && st.prevTotal >= 0 && pg.Total < st.prevTotal {
				fail(n, "total shrank from %d to %d while paging; the list may be incomplete", st.prevTotal, pg.Total)
				return
			}
			if spec.Style == OffsetPaging && len(env.Items) > 0 {
				sum := pageHash(st.seed, env.Items)
				if at, ok := st.pages[sum]; ok {
					fail(n, "the page at offset %d repeats the page served at offset %d: the server ignores offset or serves a page again", st.offset, at)
					return
				}
				st.pages[sum] = st.offset
			}
			if !yield(pg, nil) {
				return
			}
			more, why := st.advance(c, spec.Style, len(env.Items), pg.Total, env.Next)
			if why != "" {
				fail(n, "%s", why)
			}
			if !more {
				return
			}
		}
	}
}

// rawItems keeps the items slices of finished Reuse iterations of
// json.RawMessage pages (what the collector streams), so a list of one
// page, the usual dataset, does not allocate one.
var rawItems = sync.Pool{New: func() any { return new([]json.RawMessage) }}

// takeItems is a pooled items slice for a Reuse iteration, or nil for
// item types other than json.RawMessage.
func takeItems[T any]() []T {
	var items []T
	if p, ok := any(&items).(*[]json.RawMessage); ok {
		*p = (*rawItems.Get().(*[]json.RawMessage))[:0]
	}
	return items
}

// putItems gives back a slice from takeItems, cleared so the pool does
// not keep the pages its items pointed into.
func putItems[T any](items []T) {
	if p, ok := any(&items).(*[]json.RawMessage); ok && cap(*p) > 0 && cap(*p) <= 1<<16 {
		clear((*p)[:cap(*p)])
		b := (*p)[:0]
		rawItems.Put(&b)
	}
}

// pageState is the position of one Pages iteration and what it has seen,
// for the stop rules and the checks against a server that pages wrongly.
type pageState struct {
	path        string
	base        map[string]any // the query without next and offset
	maxPages    int
	next        string // cursor paging: the cursor to ask for
	offset      int    // offset paging: the offset to ask for
	pageSize    int    // the limit asked for, else the first page's length
	seenCursors map[string]bool
	// pages holds, for offset paging, every page's items, by hash, and the
	// offset they were first served at. A page with exactly the items of an
	// earlier page is that page again: the server ignores offset or cycles.
	// (A list that changes while it is read shifts items between pages;
	// only a shift by whole pages looks the same, and then the caller gets
	// an error and reads again, never a silent loop.)
	pages           map[uint64]int
	seed            maphash.Seed // pageHash's, random: a server cannot aim at a collision
	seen, prevTotal int
}

// newPageState reads the starting cursor, offset and limit from spec.
func newPageState(c *Client, spec PageSpec) *pageState {
	st := &pageState{path: cleanPath(spec.Path), maxPages: spec.MaxPages, next: "1", pageSize: spec.Limit,
		seenCursors: map[string]bool{}, pages: map[uint64]int{}, prevTotal: -1,
		seed: maphash.MakeSeed()}
	if st.maxPages <= 0 {
		st.maxPages = c.maxPages
	}
	st.base = maps.Clone(spec.Params)
	if st.base == nil {
		st.base = map[string]any{}
	}
	if v, ok := st.base["next"]; ok && v != nil {
		st.next = fmt.Sprint(v)
	}
	if v, ok := st.base["offset"]; ok && v != nil {
		if n, err := strconv.Atoi(fmt.Sprint(v)); err == nil && n >= 0 {
			st.offset = n
		}
	}
	delete(st.base, "next")
	delete(st.base, "offset")
	if spec.Limit > 0 {
		st.base["limit"] = spec.Limit
	}
	if v, ok := st.base["limit"]; ok && st.pageSize <= 0 && v != nil {
		if n, err := strconv.Atoi(fmt.Sprint(v)); err == nil && n > 0 {
			st.pageSize = n
		}
	}
	return st
}

// query is the next page's query.
func (st *pageState) query(style PageStyle) map[string]any {
	q := maps.Clone(st.base)
	if style == CursorPaging {
		q["next"] = st.next
		st.seenCursors[st.next] = true
	} else {
		q["offset"] = st.offset
	}
	return q
}

// advance moves past a yielded page of items items: more is false when the
// list ended; why, when set, says how paging broke.
func (st *pageState) advance(c *Client, style PageStyle, items, total int, next flexToken) (more bool, why string) {
	st.seen += items
	st.prevTotal = total
	if st.pageSize <= 0 {
		st.pageSize = items
	}
	if style == CursorPaging {
		return st.advanceCursor(c, items, total, next)
	}
	if items == 0 {
		if total >= 0 && st.offset < total {
			return false, fmt.Sprintf("empty page at offset %d before total %d was reached", st.offset, total)
		}
		return false, ""
	}
	st.offset += items
	if total >= 0 {
		// A short page with more to come: the server capped limit.
		return st.offset < total, ""
	}
	return items >= st.pageSize, ""
}

// advanceCursor is advance for cursor paging.
func (st *pageState) advanceCursor(c *Client, items, total int, next flexToken) (more bool, why string) {
	totalReached := total >= 0 && st.seen >= total
	if !next.ok || next.s == "" || totalReached {
		if total >= 0 && st.seen < total {
			c.log.Warn("list ended before its total", "path", st.path, "items", st.seen, "total", total)
		}
		return false, ""
	}
	if items == 0 {
		if total >= 0 {
			return false, fmt.Sprintf("empty page with next=%q before total %d was reached (%d items)", next.s, total, st.seen)
		}
		return false, ""
	}
	if st.seenCursors[next.s] {
		return false, fmt.Sprintf("cursor %q repeated", next.s)
	}
	st.next = next.s
	return true, ""
}

// pageHash is a 64-bit hash of a page's items, each length-prefixed; it
// is 0 for an item that cannot be encoded. A seeded maphash, not a
// cryptographic hash: it runs over every byte of every offset page, where
// sha256 cost several percent of the collector's CPU. With a random seed
// a server cannot aim at a collision, and a chance one among a list's
// pages (about n²/2⁶⁵ for n pages) would end the list with an error,
// never lose items silently.
func pageHash[T any](seed maphash.Seed, items []T) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	for _, it := range items {
		b, ok := any(it).(json.RawMessage)
		if !ok {
			var err error
			if b, err = json.Marshal(it); err != nil {
				return 0
			}
		}
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	return h.Sum64()
}

// Items iterates over every item of a list, page by page. It yields
// (zero, err) once on error and stops.
func Items[T any](ctx context.Context, c *Client, spec PageSpec) iter.Seq2[T, error] {
	return ItemsOf(Pages[T](ctx, c, spec))
}

// ItemsOf flattens a page iterator (of this package or of pkg/classic) into
// its items. It yields (zero, err) once on error and stops.
func ItemsOf[T any](pages iter.Seq2[*Page[T], error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for pg, err := range pages {
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range pg.Items {
				if !yield(it, nil) {
					return
				}
			}
		}
	}
}

// pageEnvelope is the common list envelope of GLP and New Central.
type pageEnvelope[T any] struct {
	Items  []T       `json:"items"`
	Count  flexInt   `json:"count"`
	Total  flexInt   `json:"total"`
	Offset flexInt   `json:"offset"`
	Next   flexToken `json:"next"`
	plain  bool      // Page.Plain, set by splitRawPage
}

// decodePage decodes one list page.
func decodePage[T any](raw []byte) (*pageEnvelope[T], error) {
	var env pageEnvelope[T]
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, err
	}
	if env.Items == nil {
		return nil, errors.New("no items array")
	}
	return &env, nil
}

// flexInt accepts a JSON number, a numeric string or null.
type flexInt struct {
	v  int
	ok bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*f = flexInt{}
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	x, err := strconv.ParseFloat(string(b), 64)
	if err != nil || x < 0 || x > math.MaxInt32 || x != math.Trunc(x) {
		return fmt.Errorf("not a count: %.40q", b)
	}
	*f = flexInt{v: int(x), ok: true}
	return nil
}

// flexToken accepts a JSON string, a number or null (the next cursor).
type flexToken struct {
	s  string
	ok bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexToken) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = flexToken{}
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexToken{s: s, ok: s != ""}
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("next is neither string, number nor null")
	}
	*f = flexToken{s: n.String(), ok: true}
	return nil
}
