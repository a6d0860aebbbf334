package httpcore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
)

// Prepared is a request ready to be sent, possibly several times.
type Prepared struct {
	Method string // upper case
	Path   string // "/"-rooted path without query, for logs and errors
	URL    string
	Body   []byte
	// HasBody is true when a body is sent (even an empty one).
	HasBody bool
	Header  http.Header
	// Into, when set, is the memory a 2xx body is read into (see
	// ReadBodyInto; a nil *Into, or one too small for the announced
	// length, is taken from TakeBody when the body arrives, not before;
	// the slice read is stored back, grown or not,
	// so the next request with the same Into reuses it. Response.Raw then
	// aliases it. Other answers are read into memory of their own: an
	// error, kept by the caller, never changes under it.
	Into *[]byte
}

// Target names the client in messages: Name is the error prefix
// ("central"), RelativeTo what a path is relative to ("the gateway").
type Target struct {
	Name, RelativeTo string
}

// Prepare checks path, encodes params and body and copies header (an
// Authorization header is never taken from it) into a Prepared for base
// (scheme://host[/prefix], no trailing slash). method must be upper case.
func Prepare(t Target, method, base, path string, params map[string]any, body any, header http.Header) (*Prepared, error) {
	rawQuery := ""
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, rawQuery = path[:i], path[i+1:]
	}
	if strings.Contains(path, "://") {
		return nil, fmt.Errorf("%s: path %q: give a path relative to %s, not a URL", t.Name, path, t.RelativeTo)
	}
	path = strings.TrimLeft(path, "/")
	for _, seg := range strings.Split(path, "/") {
		if seg == ".." || seg == "." {
			return nil, fmt.Errorf("%s: path %q: '.' and '..' segments are not allowed", t.Name, path)
		}
	}
	p := &Prepared{Method: method, Path: "/" + path}
	q, err := encodeParams(t, rawQuery, params)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.Grow(len(base) + len(path) + len(q) + 2)
	b.WriteString(base)
	b.WriteByte('/')
	b.WriteString((&url.URL{Path: path}).EscapedPath())
	if q != "" {
		b.WriteByte('?')
		b.WriteString(q)
	}
	p.URL = b.String()
	p.Header = make(http.Header, 3+len(header))
	p.Header["Accept"] = []string{"application/json"}
	if body != nil {
		p.HasBody = true
		if p.Body, err = EncodeBody(t.Name, body); err != nil {
			return nil, err
		}
		p.Header["Content-Type"] = []string{"application/json"} // header may override
	}
	for k, v := range header {
		if strings.EqualFold(k, "Authorization") {
			continue
		}
		p.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
	}
	return p, nil
}

func encodeParams(t Target, rawQuery string, params map[string]any) (string, error) {
	if len(params) == 0 {
		return rawQuery, nil
	}
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("%s: bad query in path: %w", t.Name, err)
	}
	AddParams(vals, params)
	return vals.Encode(), nil
}

// EncodeBody returns the bytes sent for a request body: []byte and string
// as they are, an io.Reader read to the end, anything else encoded as JSON.
func EncodeBody(name string, body any) ([]byte, error) {
	switch b := body.(type) {
	case []byte:
		return b, nil
	case string:
		return []byte(b), nil
	case io.Reader:
		data, err := io.ReadAll(b)
		if err != nil {
			return nil, fmt.Errorf("%s: reading request body: %w", name, err)
		}
		return data, nil
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("%s: encoding request body: %w", name, err)
		}
		return data, nil
	}
}

// AddParams adds params to vals: nil values (and nil pointers, slices and
// maps) are dropped, like PyCentral drops None, and slices and arrays
// repeat the key (id=a&id=b).
func AddParams(vals url.Values, params map[string]any) {
	for k, v := range params {
		addParam(vals, k, v)
	}
}

func addParam(vals url.Values, k string, v any) {
	switch x := v.(type) {
	case nil:
		return
	case string:
		vals.Add(k, x)
		return
	case []string:
		for _, s := range x {
			vals.Add(k, s)
		}
		return
	case int:
		vals.Add(k, strconv.Itoa(x))
		return
	case bool:
		vals.Add(k, strconv.FormatBool(x))
		return
	case fmt.Stringer:
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return
		}
		vals.Add(k, x.String())
		return
	}
	addReflected(vals, k, v)
}

func addReflected(vals url.Values, k string, v any) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return
		}
		addParam(vals, k, rv.Elem().Interface())
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return
		}
		for i := 0; i < rv.Len(); i++ {
			addParam(vals, k, rv.Index(i).Interface())
		}
	case reflect.Map:
		if rv.IsNil() {
			return
		}
		vals.Add(k, fmt.Sprint(v))
	default:
		vals.Add(k, fmt.Sprint(v))
	}
}

// MethodOf returns method in upper case, GET when empty.
func MethodOf(method string) string {
	if method == "" {
		return http.MethodGet
	}
	return strings.ToUpper(method)
}

// CleanPath returns p without its query, rooted at "/".
func CleanPath(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return "/" + strings.TrimLeft(p, "/")
}

// Idempotent reports whether a method may be retried after a failure that
// may have reached the server.
func Idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE":
		return true
	}
	return false
}

// RetryableStatus reports whether a 5xx status is worth a retry (not 501
// or 505).
func RetryableStatus(code int) bool {
	return code >= 500 && code != 501 && code != 505
}

// LooksJSON reports whether a body is JSON: by its content type when one
// is given and parses, else by its first byte. raw must not be empty.
func LooksJSON(ct string, raw []byte) bool {
	if ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil {
			return mt == "application/json" || strings.HasSuffix(mt, "+json")
		}
	}
	return raw[0] == '{' || raw[0] == '['
}

// SanitizeTransportErr drops the query and user information of the URL
// in a *url.Error (query strings of token requests carry secrets).
func SanitizeTransportErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery, u.User = "", nil
			return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
		}
		s := ue.URL
		if i := strings.IndexByte(s, '?'); i >= 0 {
			s = s[:i]
		}
		return &url.Error{Op: ue.Op, URL: RedactURL(s), Err: ue.Err}
	}
	return err
}
