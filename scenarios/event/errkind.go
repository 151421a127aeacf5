package event

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Error kinds: how an exchange failed, as seen by the side that saw it.
const (
	ErrReset    = "reset"    // ECONNRESET or EPIPE: the peer reset the connection
	ErrEOF      = "eof"      // the connection closed before a full response
	ErrTimeout  = "timeout"  // a deadline expired
	ErrRefused  = "refused"  // ECONNREFUSED
	ErrCanceled = "canceled" // the caller cancelled
	ErrOther    = "other"    // anything else
)

// ErrKind classifies a network error, looking through wrapping
// (fmt.Errorf %w, *url.Error, *net.OpError, *os.SyscallError). Checks run in
// order: reset, eof, timeout, refused, canceled, else other. A nil error
// yields "".
func ErrKind(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ErrReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrEOF
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return ErrTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, context.Canceled):
		return ErrCanceled
	}
	return ErrOther
}
