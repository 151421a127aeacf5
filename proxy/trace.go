package proxy

import "time"

// PoolTrace observes a Pool, as net/http/httptrace.ClientTrace observes an
// HTTP client: each hook that is set runs synchronously, on the pool's
// goroutines, when the thing happens; hooks must be quick and must not
// block. The gateway's metrics and the event journal
// (scenarios/event.PoolTrace) subscribe here; Compose joins two.
type PoolTrace struct {
	// Opened: a connection was dialled.
	Opened func(ConnInfo)
	// Reused: an idle connection was taken for a request.
	Reused func(ci ConnInfo, idleFor time.Duration)
	// Closed: a connection was closed, by this side or the peer.
	Closed func(ci ConnInfo, by Initiator, reason string)
	// RequestWritten: a request was handed to the socket whole.
	RequestWritten func(ExchangeInfo)
	// ExchangeDone: an exchange ended, with its response read whole or
	// with Err.
	ExchangeDone func(ExchangeInfo)
}

// ExchangeInfo is one request-response exchange on a pooled connection.
type ExchangeInfo struct {
	Conn   ConnInfo
	Method string
	Reused bool          // the connection had served an exchange before
	Idle   time.Duration // how long it had been idle when taken (reused only)
	Status int           // the response's status; 0 when none arrived
	Err    error         // why the exchange failed; nil when it did not
}

// Compose returns a trace that calls t's hooks, then o's.
func (t PoolTrace) Compose(o PoolTrace) PoolTrace {
	return PoolTrace{
		Opened:         both(t.Opened, o.Opened),
		Reused:         both2(t.Reused, o.Reused),
		Closed:         both3(t.Closed, o.Closed),
		RequestWritten: both(t.RequestWritten, o.RequestWritten),
		ExchangeDone:   both(t.ExchangeDone, o.ExchangeDone),
	}
}

func both[A any](f, g func(A)) func(A) {
	switch {
	case f == nil:
		return g
	case g == nil:
		return f
	}
	return func(a A) { f(a); g(a) }
}

func both2[A, B any](f, g func(A, B)) func(A, B) {
	switch {
	case f == nil:
		return g
	case g == nil:
		return f
	}
	return func(a A, b B) { f(a, b); g(a, b) }
}

func both3[A, B, C any](f, g func(A, B, C)) func(A, B, C) {
	switch {
	case f == nil:
		return g
	case g == nil:
		return f
	}
	return func(a A, b B, c C) { f(a, b, c); g(a, b, c) }
}

// Trace observes a Gateway the same way: its configuration, its client
// connections, each answer it sends, and (Upstream) its backend pool.
type Trace struct {
	// Config states the profile in force: when Serve starts and after each
	// Update.
	Config func(ConfigInfo)
	// ClientOpened and ClientClosed: a client connection was accepted, and
	// closed (by, reason and how long it had been idle).
	ClientOpened func(ClientConn)
	ClientClosed func(c ClientConn, by Initiator, reason string, idle time.Duration)
	// Answered: the gateway answered a client.
	Answered func(Answer)
	// Upstream observes the backend pool.
	Upstream PoolTrace
}

// ConfigInfo is the gateway's configuration in force.
type ConfigInfo struct {
	Addr      string // the listening address; "" after an Update
	Profile   Profile
	TimeScale float64 // the scale Profile was scaled by (1 = real world)
}

// ClientConn is a client (downstream) connection.
type ClientConn struct {
	ID            uint64
	Local, Remote string
	Requests      int // requests served on it so far
}

// Answer is what the gateway sent a client, and on which upstream
// connection (zero when none was used).
type Answer struct {
	Upstream ConnInfo
	Member   string // the backend member tried last
	Peer     string // the client's ip:port
	Method   string
	Status   int
	Cause    string // a Cause; CauseNone for a success
	Err      *RoundTripError
}
