package load

import "github.com/gwsim/gwsim/scenarios/event"

// Client error kinds, the keys of Result.ClientErrors and the values of the
// kind label of gwsim_load_client_errors_total (the event package's error
// kinds).
const (
	KindReset    = event.ErrReset    // ECONNRESET or EPIPE: the peer reset the connection
	KindEOF      = event.ErrEOF      // the connection closed before a full response
	KindTimeout  = event.ErrTimeout  // Config.Timeout or another deadline expired
	KindRefused  = event.ErrRefused  // ECONNREFUSED
	KindCanceled = event.ErrCanceled // the run's context was cancelled mid-request
	KindOther    = event.ErrOther    // anything else
)

// errorKinds returns every client error kind, in report order.
func errorKinds() []string {
	return []string{KindReset, KindEOF, KindTimeout, KindRefused, KindCanceled, KindOther}
}

// ErrorKind classifies a client-side request error (see event.ErrKind).
func ErrorKind(err error) string { return event.ErrKind(err) }
