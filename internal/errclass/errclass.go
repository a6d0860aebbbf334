// Package errclass is the one error-class vocabulary: the coarse, stable
// categories recorded in run manifests and results (collector.ErrorInfo),
// in token-cache entries and refresher results (tokencache), and used by
// alarms and Athena queries. The strings are stored, so they never change.
//
// It imports nothing of this module, so every package can use it without an
// import cycle (collector imports tokencache; both classify errors).
package errclass

// Class is an error's category.
type Class string

// Classes a collection run records (collector.Classify).
const (
	Login         Class = "login"          // token request or exchange failed
	Unauthorized  Class = "unauthorized"   // 401 (and, for the collector, 403) from the API
	RateLimited   Class = "rate_limited"   // 429s outlasted the retry budget
	APIError      Class = "api_error"      // other non-2xx, or an unusable answer
	Pagination    Class = "pagination"     // inconsistent paging (repeated cursor, ...)
	Timeout       Class = "timeout"        // deadline or cancellation
	NotFound      Class = "not_found"      // a requested tenant does not exist (404)
	NotConfigured Class = "not_configured" // the credentials do not cover the app
	Sink          Class = "sink"           // writing the output failed
	Incomplete    Class = "incomplete"     // a joined run misses shards
	Internal      Class = "internal"       // anything else, including panics
)

// Classes a token exchange records (tokencache entries and refresher
// results); they name the HTTP status more finely than a run does.
const (
	Canceled  Class = "canceled"  // the context was canceled
	Network   Class = "network"   // no HTTP answer
	Forbidden Class = "forbidden" // 403
	Server    Class = "server"    // 5xx
	Rejected  Class = "rejected"  // other 4xx
	Error     Class = "error"     // no status known
	Pending   Class = "pending"   // a new tenant not yet exchanged
)

// FromStatus maps an HTTP status of a token exchange to its class.
func FromStatus(code int) Class {
	switch {
	case code == 401:
		return Unauthorized
	case code == 403:
		return Forbidden
	case code == 404:
		return NotFound
	case code == 429:
		return RateLimited
	case code >= 500:
		return Server
	case code >= 400:
		return Rejected
	}
	return Error
}
