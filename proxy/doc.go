// Package proxy is gwsim's gateway: a reverse proxy that mimics a load
// balancer's timeouts and failure behaviour (Azure Application Gateway V1 and
// V2 first) so that the HTTP/1.1 keep-alive race with a backend happens for
// real, on real sockets.
//
// Its backend connections live in Pool, an HTTP/1.1 connection pool that
// never retries behind the caller's back (Go's http.Transport silently
// replays idempotent requests that fail on a reused connection, which hides
// the race). A goroutine per connection watches it while idle so a FIN or
// RST removes it; a request that takes the connection in the instant before
// that meets the race and gets a 502 with error_info
// ERRORINFO_UPSTREAM_CLOSED_CONNECTION. Retries happen only when a
// RetryPolicy says so. WithLatency injects link latency in user space so the
// race window is about one round trip wide.
package proxy
