package centralsim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// writeError renders e in the documented error shape of rt.
func (s *Server) writeError(w http.ResponseWriter, rt *route, e *apiError) {
	code, msg := errorCode(rt.style, e.status), e.message
	if e.status == http.StatusTooManyRequests {
		msg = "Too Many Requests"
		if rt.app == appCentral {
			msg = "Too Many Requests. Rate limit exceeded."
		}
	}
	if msg == "" {
		msg = http.StatusText(e.status)
	}
	body := map[string]any{"httpStatusCode": e.status, "errorCode": code, "message": msg, "debugId": s.debugID()}
	if rt.style == styleGLPDetails {
		switch {
		case e.status == http.StatusBadRequest:
			body["errorDetails"] = []any{map[string]any{"type": "hpe.greenlake.bad_request", "issues": []any{
				map[string]any{"source": "query.parameter", "subject": e.subject, "description": e.message}}}}
		case e.status == http.StatusTooManyRequests:
			body["errorDetails"] = []any{map[string]any{"type": "hpe.greenlake.metadata", "source": rt.source,
				"metadata": map[string]any{"apiRateLimit": "Too Many Requests. Rate limit has exceeded a predefined value."}}}
		case e.status >= 500:
			body["errorDetails"] = []any{map[string]any{"type": "hpe.greenlake.retry_info", "retryAfterSeconds": 30}}
		case e.status == http.StatusUnauthorized || e.status == http.StatusForbidden:
			body["errorDetails"] = []any{map[string]any{"type": "hpe.greenlake.metadata", "source": rt.source,
				"metadata": map[string]any{"access_token": e.message}}}
		}
	}
	b, _ := json.Marshal(body)
	writeJSON(w, e.status, b)
}

func errorCode(style errorStyle, status int) string {
	switch status {
	case http.StatusBadRequest:
		switch style {
		case styleMonitoring:
			return "HPE_GL_NETWORK_MONITORING_INVALID_INPUT"
		case styleMSP:
			return "HPE_GL_NETWORK_SERVICES_INVALID_INPUT"
		}
		return "HPE_GL_ERROR_BAD_REQUEST"
	case http.StatusUnauthorized:
		return "HPE_GL_ERROR_UNAUTHORIZED"
	case http.StatusForbidden:
		return "HPE_GL_ERROR_FORBIDDEN"
	case http.StatusNotFound:
		return "HPE_GL_ERROR_NOT_FOUND"
	case http.StatusMethodNotAllowed:
		return "HPE_GL_ERROR_METHOD_NOT_ALLOWED"
	case http.StatusUnprocessableEntity:
		return "HPE_GL_UNPROCESSABLE_CONTENT"
	case http.StatusTooManyRequests:
		return "HPE_GL_ERROR_TOO_MANY_REQUESTS"
	case http.StatusInternalServerError:
		switch style {
		case styleMonitoring:
			return "HPE_GL_NETWORK_MONITORING_INTERNAL_SERVER_ERROR"
		case styleMSP:
			return "HPE_GL_NETWORK_SERVICES_INTERNAL_SERVER_ERROR"
		}
		return "HPE_GL_ERROR_INTERNAL_SERVER_ERROR"
	}
	return "HPE_GL_ERROR_SERVICE_UNAVAILABLE"
}

// fail renders an error for a handler result.
func (q *apiReq) fail(e *apiError) (int, []byte) {
	sw := &bufWriter{h: http.Header{}}
	q.s.writeError(sw, q.rt, e)
	return e.status, sw.buf
}

type bufWriter struct {
	h   http.Header
	buf []byte
}

func (b *bufWriter) Header() http.Header         { return b.h }
func (b *bufWriter) WriteHeader(int)             {}
func (b *bufWriter) Write(p []byte) (int, error) { b.buf = append(b.buf, p...); return len(p), nil }

// intParam parses an integer query parameter.
func (q *apiReq) intParam(name string, def, lo, hi int, status int) (int, *apiError) {
	raw, ok := q.query[name]
	if !ok || len(raw) == 0 {
		return def, nil
	}
	if len(raw) > 1 {
		return 0, &apiError{status: status, subject: name, message: name + " must be given once"}
	}
	v, err := strconv.Atoi(raw[0])
	if err != nil {
		return 0, &apiError{status: status, subject: name, message: "Must be a numeric value which is " + strconv.Itoa(lo) + " or greater."}
	}
	if v < lo {
		return 0, &apiError{status: status, subject: name, message: "Must be a numeric value which is " + strconv.Itoa(lo) + " or greater."}
	}
	if hi > 0 && v > hi {
		return 0, &apiError{status: status, subject: name, message: "Must be a numeric value which is " + strconv.Itoa(hi) + " or less."}
	}
	return v, nil
}

// filterItems applies the filter query parameter.
func (q *apiReq) filterItems(items []json.RawMessage, allowed map[string]string, ops string, status int) ([]json.RawMessage, *apiError) {
	raw := q.query.Get("filter")
	if raw == "" {
		return items, nil
	}
	if len(raw) > 2048 {
		return nil, &apiError{status: status, subject: "filter", message: "filter is too long"}
	}
	f, err := ParseFilter(raw)
	if err == nil {
		err = f.check(allowed, ops)
	}
	if err != nil {
		return nil, &apiError{status: status, subject: "filter", message: err.Error()}
	}
	out := make([]json.RawMessage, 0, len(items))
	for _, it := range items {
		var m map[string]any
		if json.Unmarshal(it, &m) == nil && f.Match(m) {
			out = append(out, it)
		}
	}
	return out, nil
}

// appendItems writes {"items":[...] (without the closing brace).
func appendItems(b []byte, items []json.RawMessage) []byte {
	b = append(b, `{"items":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return append(b, ']')
}

func pageBuf(items []json.RawMessage) []byte {
	n := 96
	for _, it := range items {
		n += len(it) + 1
	}
	return make([]byte, 0, n)
}

func pageWindow(items []json.RawMessage, offset, limit int) []json.RawMessage {
	if offset >= len(items) {
		return nil
	}
	return items[offset:min(len(items), offset+limit)]
}

// offsetPage starts an offset-paginated body: the items, then count, offset
// and total; the caller appends any further fields and the closing brace.
func offsetPage(page []json.RawMessage, offset, total int) []byte {
	b := appendItems(pageBuf(page), page)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(len(page)), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, int64(offset), 10)
	b = append(b, `,"total":`...)
	return strconv.AppendInt(b, int64(total), 10)
}

// offsetList reads limit (default def, at most hi) and offset, filters the
// dataset's items and returns the start of the page's offset-paged body
// (the caller closes it) and whether items remain after the page.
func (q *apiReq) offsetList(dataset string, def, hi int, allowed map[string]string, ops string) (body []byte, more bool, e *apiError) {
	limit, e := q.intParam("limit", def, 1, hi, http.StatusBadRequest)
	if e != nil {
		return nil, false, e
	}
	offset, e := q.intParam("offset", 0, 0, 0, http.StatusBadRequest)
	if e != nil {
		return nil, false, e
	}
	items, e := q.filterItems(q.s.dataOf(q.ws).sets[dataset], allowed, ops, http.StatusBadRequest)
	if e != nil {
		return nil, false, e
	}
	page := pageWindow(items, offset, limit)
	return offsetPage(page, offset, len(items)), offset+len(page) < len(items), nil
}

// glpList serves an offset-paginated GLP collection of the caller's workspace.
func glpList(dataset string, def, hi int, allowed map[string]string) func(q *apiReq) (int, []byte) {
	return func(q *apiReq) (int, []byte) {
		b, more, e := q.offsetList(dataset, def, hi, allowed, "")
		if e != nil {
			return q.fail(e)
		}
		if dataset == DatasetAuditLogs || dataset == DatasetAuditLogsV2 {
			b = append(b, `,"remainingRecords":`...)
			b = strconv.AppendBool(b, more)
		}
		return http.StatusOK, append(b, '}')
	}
}

// tenantLists builds the MSP-level tenant collections once.
func (s *Server) tenantLists() ([]json.RawMessage, []json.RawMessage) {
	s.listsOnce.Do(func() {
		for _, ts := range s.tenants {
			t := ts.sizes()
			created := baseTime.AddDate(0, 0, -400+t.Index%365)
			s.mspTenants = append(s.mspTenants, mustJSON(map[string]any{
				"id": t.ID, "type": "workspace", "workspaceName": t.Name, "generation": 1,
				"createdAt": ts3339(created), "updatedAt": ts3339(created.Add(time.Duration(t.Index) * time.Hour)),
				"createdBy": "admin@msp.example.com", "resourceUri": "/workspaces/v1/workspaces/" + t.HexID,
				"inventoryOwnership": t.Ownership,
			}))
			own := "TENANT"
			if t.Ownership == "MSP_OWNED_INVENTORY" {
				own = "MSP"
			}
			poor := t.Devices / 10
			s.listTenants = append(s.listTenants, mustJSON(map[string]any{
				"tenantId": t.CentralID, "tenantName": t.Name, "totalSites": t.Sites, "degradedSites": min(t.Sites, poor),
				"deviceHealthStatus": map[string]int{"total": t.Devices, "good": t.Devices - poor, "fair": 0, "poor": poor},
				"alerts":             map[string]int{"total": poor, "critical": poor, "major": 0, "minor": 0},
				"deviceOwnership":    own, "createdTime": created.UnixMilli(), "lastUpdatedTime": created.Add(time.Hour).UnixMilli(),
			}))
		}
		if s.mspTenants == nil {
			s.mspTenants, s.listTenants = []json.RawMessage{}, []json.RawMessage{}
		}
	})
	return s.mspTenants, s.listTenants
}

func (q *apiReq) requireMSP() *apiError {
	if q.claims.Kind != KindMSP {
		return &apiError{status: http.StatusForbidden, message: "Permission is denied to perform requested operation: an MSP token is required"}
	}
	return nil
}

// handleMSPTenants serves GET /workspaces/v1/msp-tenants (validation errors
// are 422, as the workspace service declares no 400).
func handleMSPTenants(q *apiReq) (int, []byte) {
	if e := q.requireMSP(); e != nil {
		return q.fail(e)
	}
	const bad = http.StatusUnprocessableEntity
	limit, e := q.intParam("limit", 300, 1, 300, bad)
	if e != nil {
		return q.fail(e)
	}
	offset, e := q.intParam("offset", 0, 0, 0, bad)
	if e != nil {
		return q.fail(e)
	}
	all, _ := q.s.tenantLists()
	items, e := q.filterItems(all, map[string]string{"id": "", "createdAt": "", "updatedAt": "", "workspaceName": "",
		"createdBy": "", "inventoryOwnership": ""}, "", bad)
	if e != nil {
		return q.fail(e)
	}
	page := pageWindow(items, offset, limit)
	b := offsetPage(page, offset, len(items))
	return http.StatusOK, append(b, '}')
}

// cursorParams parses limit and next of a Central cursor endpoint.
func (q *apiReq) cursorParams(def, hi int, required bool) (limit, page int, e *apiError) {
	if required {
		for _, p := range []string{"limit", "next"} {
			if q.query.Get(p) == "" {
				return 0, 0, badParam(p, "query parameter "+p+" is required")
			}
		}
	}
	limit, e = q.intParam("limit", def, 0, hi, http.StatusBadRequest)
	if e != nil {
		return 0, 0, e
	}
	if limit == 0 {
		if required {
			return 0, 0, badParam("limit", "limit must be at least 1")
		}
		limit = def
	}
	page, e = q.intParam("next", 1, 1, 0, http.StatusBadRequest)
	return limit, page, e
}

func cursorPage(items []json.RawMessage, limit, page int) []byte {
	off := (page - 1) * limit
	if page-1 > len(items)/max(limit, 1) {
		off = len(items)
	}
	win := pageWindow(items, off, limit)
	b := appendItems(pageBuf(win), win)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(len(win)), 10)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, int64(len(items)), 10)
	if off+len(win) < len(items) {
		b = append(b, `,"next":"`...)
		b = strconv.AppendInt(b, int64(page+1), 10)
		b = append(b, `"}`...)
	} else {
		b = append(b, `,"next":null}`...)
	}
	return b
}

// cursorList serves a Central monitoring collection with the next cursor.
func cursorList(dataset string, def int) func(q *apiReq) (int, []byte) {
	return func(q *apiReq) (int, []byte) {
		limit, page, e := q.cursorParams(def, 1000, false)
		if e != nil {
			return q.fail(e)
		}
		items := q.s.dataOf(q.ws).sets[dataset]
		if dataset == DatasetDeviceInventory {
			switch sa := q.query.Get("site-assigned"); sa {
			case "":
			case "ASSIGNED", "UNASSIGNED":
				var out []json.RawMessage
				for _, it := range items {
					if strings.Contains(string(it), `"siteId":""`) == (sa == "UNASSIGNED") {
						out = append(out, it)
					}
				}
				items = out
			default:
				return q.fail(badParam("site-assigned", "site-assigned must be ASSIGNED or UNASSIGNED"))
			}
		}
		items, e = q.filterItems(items, nil, "eq in", http.StatusBadRequest)
		if e != nil {
			return q.fail(e)
		}
		return http.StatusOK, cursorPage(items, limit, page)
	}
}

// handleSitesHealth serves the offset-paginated sites-health collection.
func handleSitesHealth(q *apiReq) (int, []byte) {
	b, _, e := q.offsetList(DatasetSitesHealth, 100, 1000, nil, "eq in")
	if e != nil {
		return q.fail(e)
	}
	b = append(b, `,"response":{"code":"200","message":"OK","status":"Success"}}`...)
	return http.StatusOK, b
}

// handleListTenants serves GET /network-msp/v1/list-tenants (MSP token only;
// limit <= 100 and next both required).
func handleListTenants(q *apiReq) (int, []byte) {
	if e := q.requireMSP(); e != nil {
		return q.fail(e)
	}
	limit, page, e := q.cursorParams(10, 100, true)
	if e != nil {
		return q.fail(e)
	}
	_, all := q.s.tenantLists()
	all = q.s.withAlerts(all)
	items, e := q.filterItems(all, map[string]string{"tenantName": "eq", "deviceOwnership": "in"}, "eq in", http.StatusBadRequest)
	if e != nil {
		return q.fail(e)
	}
	return http.StatusOK, cursorPage(items, limit, page)
}
