package backend

import "time"

// Trace observes a backend, as net/http/httptrace.ClientTrace observes an
// HTTP client: each hook that is set is called synchronously, on the
// connection's goroutine, when the thing happens, with the moment it
// happened. Hooks must be quick and must not block. The event journal
// (scenarios/event.BackendTrace), reports and tests subscribe here; the
// backend's metrics and Stats are its own.
type Trace struct {
	// Config states the configuration in force: when Serve starts and
	// after each Update.
	Config func(ConfigInfo)
	// ConnOpened: a connection was accepted.
	ConnOpened func(ConnRef)
	// RequestReceived: a request's first byte arrived.
	RequestReceived func(ConnRef, RequestInfo)
	// ResponseWritten: a response's last byte was handed to the socket.
	ResponseWritten func(ConnRef, ResponseInfo)
	// TrapArmed: the race trap kept a connection past its keep-alive.
	TrapArmed func(ConnRef, TrapInfo)
	// Closed: the connection was closed, by either side.
	Closed func(ConnRef, CloseInfo)
}

// ConnRef names a connection (the backend's id and its ip:port pair) and
// the moment of an event on it.
type ConnRef struct {
	At            time.Time
	ID            uint64
	Local, Remote string
}

// ConfigInfo is the configuration in force, as Trace.Config states it.
type ConfigInfo struct {
	At   time.Time
	Addr string // the listening address; "" after an Update
	// KeepAlive is the idle keep-alive: -1 = no limit, 0 = off.
	KeepAlive time.Duration
	Close     CloseStyle
	RaceTrap  bool
}

// RequestInfo is a request's arrival.
type RequestInfo struct {
	Idle     time.Duration // how long the connection had been idle
	Requests int           // exchanges on the connection, this one included
}

// ResponseInfo is a response written.
type ResponseInfo struct {
	Status   int
	Requests int // exchanges on the connection, this one included
}

// TrapInfo is the race trap armed on an expired connection.
type TrapInfo struct {
	Deadline time.Time     // when the keep-alive expired
	Idle     time.Duration // idle age at the trap
}

// CloseInfo says who closed a connection, why, how and when it had been
// scheduled.
type CloseInfo struct {
	Initiator Initiator
	Reason    CloseReason
	Style     CloseStyle // "" when the peer closed
	// Deadline is when an idle close was scheduled (keep-alive expiry);
	// zero for other closes.
	Deadline time.Time
	Idle     time.Duration
	Requests int
}

// Initiator is the side that closed a connection.
type Initiator string

// Initiators.
const (
	ByBackend Initiator = "backend"
	ByPeer    Initiator = "peer"
)

// CloseReason is why the backend's connection closed: the values of the
// `reason` label of gwsim_backend_closes_total, of the `reason` log field
// and of journal close events.
type CloseReason string

// Close reasons.
const (
	CloseIdle         CloseReason = "idle"          // the keep-alive expired
	CloseTrap         CloseReason = "trap"          // the race trap closed it on the next request
	CloseMaxRequests  CloseReason = "max-requests"  // MaxKeepAliveRequests reached
	CloseKeepAliveOff CloseReason = "keepalive-off" // keep-alive off: closed after the response
	CloseFault        CloseReason = "fault"         // a fault window reset it
	ClosePeer         CloseReason = "peer"          // the peer closed first
	CloseBadRequest   CloseReason = "bad-request"   // the request was malformed
	CloseShutdown     CloseReason = "shutdown"      // the server shut down
)

// CloseReasons lists every close reason.
var CloseReasons = []CloseReason{CloseIdle, CloseTrap, CloseMaxRequests, CloseKeepAliveOff, CloseFault, ClosePeer, CloseBadRequest, CloseShutdown}

// StyleTrap is the close style of idle closes done by the race trap (the
// `style` label of gwsim_backend_idle_closes_total).
const StyleTrap CloseStyle = "trap"
