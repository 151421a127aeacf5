package proxy

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// RetryPolicy says when the gateway sends a failed request again. Nothing
// else in gwsim retries.
type RetryPolicy string

const (
	// RetryNone never retries (Application Gateway, AWS ALB: no retry is
	// documented after a reused connection fails; modelled as none).
	RetryNone RetryPolicy = "none"
	// RetryIdempotent retries a request with an idempotent method and no
	// body once, on a new connection, when the backend failed before any
	// response byte (nginx proxy_next_upstream error; POST is not retried
	// once sent).
	RetryIdempotent RetryPolicy = "idempotent"
	// RetryResetBeforeRequest retries once, on a new connection, only when
	// the request could not be written at all (Envoy retry_on
	// reset-before-request).
	RetryResetBeforeRequest RetryPolicy = "reset-before-request"
)

// ParseRetryPolicy parses a retry policy name.
func ParseRetryPolicy(s string) (RetryPolicy, error) {
	switch RetryPolicy(s) {
	case RetryNone, RetryIdempotent, RetryResetBeforeRequest:
		return RetryPolicy(s), nil
	}
	return "", fmt.Errorf("unknown retry policy %q (want none, idempotent or reset-before-request)", s)
}

// allows reports whether the policy retries req after err.
func (rp RetryPolicy) allows(req *http.Request, err *RoundTripError) bool {
	if err == nil || err.ResponseStarted || err.Op == "dial" {
		return false
	}
	switch rp {
	case RetryIdempotent:
		return isIdempotent(req.Method) && req.ContentLength == 0
	case RetryResetBeforeRequest:
		return !err.RequestWritten && req.ContentLength == 0
	}
	return false
}

func isIdempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// Profile is a gateway's timeout and failure behaviour. Every duration is
// real-world (unscaled); see Scaled.
type Profile struct {
	Name string
	// ClientKeepAlive closes an idle client connection after this long.
	ClientKeepAlive time.Duration
	// BackendIdleTimeout closes an idle backend connection after this long;
	// 0 = no limit (kept until the backend closes it).
	BackendIdleTimeout time.Duration
	// RequestTimeout bounds one attempt, from sending to the end of the
	// response.
	RequestTimeout time.Duration
	// ClientRequestTimeout bounds a client's silence while it sends a
	// request: the request line and headers must arrive within it of the
	// request's first byte, and each read of the body must bring a byte
	// within it of the last; else the gateway answers 408 and closes the
	// connection. 0 = no limit. Application Gateway: 60 s.
	ClientRequestTimeout time.Duration
	// TimeoutStatus is the status sent when the backend timed out.
	TimeoutStatus int
	// TimeoutTriesOtherMember sends a timed-out request once more to the
	// next pool member before giving up.
	TimeoutTriesOtherMember bool
	// ClientClosedStatus is logged when the client went away first (0 =
	// logged as 0, V1).
	ClientClosedStatus int
	// Retry is the retry policy after a backend connection failure.
	Retry RetryPolicy
	// PoolOrder is the reuse order of idle backend connections.
	PoolOrder PoolOrder
	// RaceStatus is the status sent when a reused backend connection was
	// closed by the backend as the request went out (the keep-alive race);
	// 0 = 502. Envoy answers 503 (UC), AWS CLB 504.
	RaceStatus int
	// Reuse says which requests may go out on a reused backend connection;
	// "" = ReuseAlways.
	Reuse ReusePolicy
	// SilentCloseOnLaterRequest: when a backend connection closes before
	// any response byte of a request that is not the first of its client
	// connection (the keep-alive race, or a close mid-request), the gateway
	// closes the client connection without a response (and HAProxy without
	// a log line) instead of answering an error status, so that the client
	// may send the request again as after any keep-alive close (HAProxy:
	// abort_keep_alive). gwsim's own access log records it with status 0.
	SilentCloseOnLaterRequest bool
}

// ReusePolicy says which requests the gateway may send on an idle backend
// connection it reuses.
type ReusePolicy string

const (
	// ReuseAlways sends any request on any idle connection.
	ReuseAlways ReusePolicy = "always"
	// ReuseSafe sends the first request of a client connection on a new
	// backend connection, and only later ones on reused connections
	// (HAProxy's default http-reuse safe): a client that sends one request
	// per connection never meets the keep-alive race, and one that keeps
	// its connection meets it only where it can resend as after any
	// keep-alive close.
	ReuseSafe ReusePolicy = "safe"
)

// ParseReusePolicy parses a reuse policy name ("" = always).
func ParseReusePolicy(s string) (ReusePolicy, error) {
	switch ReusePolicy(s) {
	case "", ReuseAlways:
		return ReuseAlways, nil
	case ReuseSafe:
		return ReuseSafe, nil
	}
	return "", fmt.Errorf("unknown reuse policy %q (want always or safe)", s)
}

// newConnFor reports whether the request'th request of a client connection
// (1 = its first) must go out on a new backend connection.
func (p Profile) newConnFor(request int) bool {
	return p.Reuse == ReuseSafe && request <= 1
}

// raceStatus is the status answered for the keep-alive race.
func (p Profile) raceStatus() int {
	if p.RaceStatus == 0 {
		return http.StatusBadGateway
	}
	return p.RaceStatus
}

// LookupProfile returns the built-in profile (preset) name; see
// presets.go for the values and their sources.
func LookupProfile(name string) (Profile, error) {
	p, ok := profiles[name]
	if !ok {
		var others []string
		for _, n := range ProfileNames() {
			if !strings.HasPrefix(n, "appgw-") {
				others = append(others, n)
			}
		}
		return Profile{}, fmt.Errorf("unknown gateway profile %q (want appgw-v1 or appgw-v2 for Application Gateway, or %s)", name, strings.Join(others, ", "))
	}
	return p, nil
}

// ProfileNames lists the built-in profiles, sorted.
func ProfileNames() []string {
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Scaled returns p with every timeout multiplied by f (time scale); f <= 0
// or 1 returns p unchanged.
func (p Profile) Scaled(f float64) Profile {
	if f <= 0 || f == 1 {
		return p
	}
	p.ClientKeepAlive = scalePositive(p.ClientKeepAlive, f)
	p.BackendIdleTimeout = scalePositive(p.BackendIdleTimeout, f)
	p.RequestTimeout = scalePositive(p.RequestTimeout, f)
	p.ClientRequestTimeout = scalePositive(p.ClientRequestTimeout, f)
	return p
}

// ScaleDuration multiplies d by f.
func ScaleDuration(d time.Duration, f float64) time.Duration {
	return time.Duration(float64(d) * f)
}

// scalePositive scales d, keeping a positive duration at least 1 ns (a
// scaled limit never turns into "no limit").
func scalePositive(d time.Duration, f float64) time.Duration {
	if d <= 0 {
		return d
	}
	return max(ScaleDuration(d, f), 1)
}

// Validate checks the profile's values.
func (p Profile) Validate() error {
	switch {
	case p.ClientKeepAlive < 0:
		return fmt.Errorf("client keep-alive timeout must be >= 0, got %s", p.ClientKeepAlive)
	case p.BackendIdleTimeout < 0:
		return fmt.Errorf("backend idle timeout must be >= 0, got %s", p.BackendIdleTimeout)
	case p.RequestTimeout <= 0:
		return fmt.Errorf("request timeout must be > 0, got %s", p.RequestTimeout)
	case p.ClientRequestTimeout < 0:
		return fmt.Errorf("client request timeout must be >= 0, got %s", p.ClientRequestTimeout)
	case p.TimeoutStatus < 400 || p.TimeoutStatus > 599:
		// A gateway's own answer is an error status; a 1xx would reach the
		// client as an interim response followed by nothing, a 2xx or 3xx
		// would hide the failure.
		return fmt.Errorf("timeout status must be an error status 400..599, got %d", p.TimeoutStatus)
	case p.RaceStatus != 0 && (p.RaceStatus < 400 || p.RaceStatus > 599):
		return fmt.Errorf("race status must be an error status 400..599, got %d", p.RaceStatus)
	case p.ClientClosedStatus != 0 && (p.ClientClosedStatus < 400 || p.ClientClosedStatus > 599):
		return fmt.Errorf("client closed status must be 0 or 400..599, got %d", p.ClientClosedStatus)
	}
	if _, err := ParseRetryPolicy(string(p.Retry)); err != nil {
		return err
	}
	if _, err := ParsePoolOrder(string(p.PoolOrder)); err != nil {
		return err
	}
	if _, err := ParseReusePolicy(string(p.Reuse)); err != nil {
		return err
	}
	return nil
}
