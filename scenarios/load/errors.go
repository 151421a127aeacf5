package load

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Client error kinds, the keys of Result.ClientErrors and the values of the
// kind label of gwsim_load_client_errors_total.
const (
	KindReset    = "reset"    // ECONNRESET or EPIPE: the peer reset the connection
	KindEOF      = "eof"      // the connection closed before a full response
	KindTimeout  = "timeout"  // Config.Timeout or another deadline expired
	KindRefused  = "refused"  // ECONNREFUSED
	KindCanceled = "canceled" // the run's context was cancelled mid-request
	KindOther    = "other"    // anything else
)

// errorKinds returns every client error kind, in report order.
func errorKinds() []string {
	return []string{KindReset, KindEOF, KindTimeout, KindRefused, KindCanceled, KindOther}
}

// ErrorKind classifies a client-side request error, looking through wrapping
// (fmt.Errorf %w, *url.Error, *net.OpError, *os.SyscallError). Checks run in
// order: reset, eof, timeout, refused, canceled, else other. A nil error
// yields "".
func ErrorKind(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return KindReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindEOF
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.Is(err, context.Canceled):
		return KindCanceled
	}
	return KindOther
}
