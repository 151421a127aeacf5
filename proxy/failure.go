package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"syscall"
	"time"
)

// Causes: the fixed set of reasons a request did not get a 2xx from the
// backend. They are metric label values and report keys.
const (
	CauseNone                   = "none"                       // the backend answered
	CauseKeepaliveRace          = "keepalive-race"             // a reused idle connection was closed by the backend as the request went out
	CauseBackendResetMidRequest = "backend-reset-mid-request"  // the backend closed a connection it was serving (not an idle reuse)
	CauseBackendMalformed       = "backend-malformed-response" // the backend's response did not parse
	CauseBackendTimeout         = "backend-timeout"            // no complete answer within the request timeout
	CauseConnectRefused         = "connect-refused"            // the dial was refused
	CauseConnectFailed          = "connect-failed"             // the dial failed otherwise (timeout, unreachable)
	CauseNoLiveBackend          = "no-live-backend"            // no member to send to
	CauseClientClosed           = "client-closed"              // the client went away first
	CauseClientBadRequest       = "client-bad-request"         // the client's request did not parse or broke HTTP/1.1's rules (400, 431, 505)
	CauseClientTimeout          = "client-timeout"             // the client stalled while sending its request (408)
	CauseGatewayShutdown        = "gateway-shutdown"           // the gateway shut down before the backend answered (503)
)

// Causes lists every cause, for metrics and reports.
var Causes = []string{CauseNone, CauseKeepaliveRace, CauseBackendResetMidRequest, CauseBackendMalformed,
	CauseBackendTimeout, CauseConnectRefused, CauseConnectFailed, CauseNoLiveBackend, CauseClientClosed,
	CauseClientBadRequest, CauseClientTimeout, CauseGatewayShutdown}

// error_info values of the Application Gateway V2 access log (its documentation: docs/presets.md).
const (
	ErrorInfoNone             = "ERRORINFO_NO_ERROR"
	ErrorInfoClosedConnection = "ERRORINFO_UPSTREAM_CLOSED_CONNECTION"
	ErrorInfoTimedOut         = "ERRORINFO_UPSTREAM_TIMED_OUT"
	ErrorInfoNoLive           = "ERRORINFO_UPSTREAM_NO_LIVE"
	ErrorInfoClientClosed     = "ERRORINFO_CLIENT_CLOSED_REQUEST"
	// 4xx values of the V2 access log for requests the gateway refuses
	// itself (monitoring data reference). Assumption: a stalled request
	// (408) and an oversized head (431) are logged as invalid requests.
	ErrorInfoInvalidRequest       = "ERRORINFO_INVALID_REQUEST"
	ErrorInfoInvalidVersion       = "ERRORINFO_INVALID_VERSION"
	ErrorInfoNoHostHeader         = "ERRORINFO_HTTP_NO_HOST_HEADER"
	ErrorInfoInvalidContentLength = "ERRORINFO_INVALID_CONTENT_LENGTH"
	// ErrorInfoGatewayShutdown is gwsim's own: Application Gateway
	// documents no value for a request cut by its own shutdown.
	ErrorInfoGatewayShutdown = "GWSIM_GATEWAY_SHUTDOWN"
)

// errNoLiveBackend is returned when the gateway has no member to use.
var errNoLiveBackend = errors.New("no backend member configured")

// Failure is what the gateway answers for a failed exchange.
type Failure struct {
	Status    int    // HTTP status sent to the client (or logged, for client-closed)
	ErrorInfo string // V2 access log error_info
	Cause     string // one of Causes
}

// classify maps a failed exchange to the gateway's answer. clientGone is
// true when the client's own request context ended first. raceWindow is the
// longest time from taking a reused connection to its failure that still
// counts as the keep-alive race: in the race the backend's FIN or RST left
// before the request arrived, so it is back within one round trip; a backend
// that held the request and cut the connection later did something else.
// This is the one place failures become statuses.
func classify(p Profile, err error, clientGone bool, raceWindow time.Duration) Failure {
	if clientGone {
		return Failure{Status: p.ClientClosedStatus, ErrorInfo: ErrorInfoClientClosed, Cause: CauseClientClosed}
	}
	if errors.Is(err, errNoLiveBackend) {
		return Failure{Status: http.StatusBadGateway, ErrorInfo: ErrorInfoNoLive, Cause: CauseNoLiveBackend}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return Failure{Status: p.TimeoutStatus, ErrorInfo: ErrorInfoTimedOut, Cause: CauseBackendTimeout}
	}
	var rt *RoundTripError
	if !errors.As(err, &rt) {
		return Failure{Status: http.StatusBadGateway, ErrorInfo: ErrorInfoClosedConnection, Cause: CauseBackendResetMidRequest}
	}
	switch {
	case rt.Op == "dial" && errors.Is(err, syscall.ECONNREFUSED):
		// Assumption: a refused connect is reported like no live upstream.
		return Failure{Status: http.StatusBadGateway, ErrorInfo: ErrorInfoNoLive, Cause: CauseConnectRefused}
	case rt.Op == "dial":
		return Failure{Status: http.StatusBadGateway, ErrorInfo: ErrorInfoNoLive, Cause: CauseConnectFailed}
	case rt.ResponseStarted && !isConnClosed(err):
		return Failure{Status: http.StatusBadGateway, ErrorInfo: ErrorInfoClosedConnection, Cause: CauseBackendMalformed}
	case rt.Reused && !rt.ResponseStarted && rt.Elapsed <= raceWindow:
		return Failure{Status: p.raceStatus(), ErrorInfo: ErrorInfoClosedConnection, Cause: CauseKeepaliveRace}
	}
	return Failure{Status: http.StatusBadGateway, ErrorInfo: ErrorInfoClosedConnection, Cause: CauseBackendResetMidRequest}
}

// isConnClosed reports whether err is the peer closing or resetting.
func isConnClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}
