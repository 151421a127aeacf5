// Package backend is gwsim's toy HTTP/1.1 backend server.
//
// It runs its own connection loop instead of net/http.Server so that the
// behaviour the keep-alive race depends on is exact and observable: the
// idle keep-alive timer (measured from the end of the last response write),
// the maximum number of requests per connection, the close style (FIN, RST
// or Apache's lingering close), keep-alive off (`Connection: close` on
// every response), fault windows (hang, reset) and the race trap, which
// closes an expired connection the moment the next request arrives so a
// real race's bytes can be produced deterministically.
//
// Presets reproduce real servers' defaults (Apache, nginx, Node.js, Go);
// every value carries its source. Metrics go to a caller-given
// prometheus.Registerer and logs to a caller-given *zap.Logger.
package backend
