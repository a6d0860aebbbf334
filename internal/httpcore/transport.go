package httpcore

import "net/http"

// IdleConnsPerHost is how many idle connections a client's own transport
// keeps per host. net/http's default keeps 2 (and 100 in all): a
// collector with many tenants in flight, each with several datasets,
// has hundreds of requests to one host at once, and over HTTP/1.1 every
// answer beyond the idle limit closed its connection and the next
// request dialled (and, over TLS, shook hands) again. Each idle
// connection holds two goroutines and their buffers: 512 cost the
// 1,000-tenant benchmark about 15 MB of peak RSS more than 128 for no
// CPU it could measure. (Over HTTP/2 one connection carries them all.)
const IdleConnsPerHost = 128

// NewTransport is the transport of a client that owns its HTTP client:
// net/http's default transport with IdleConnsPerHost idle connections
// per host and no limit on their total.
func NewTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = IdleConnsPerHost
	return tr
}
