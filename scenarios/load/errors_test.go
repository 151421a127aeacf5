package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout (custom)" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestErrorKind(t *testing.T) {
	opErr := func(op string, err error) error {
		return &net.OpError{Op: op, Net: "tcp", Err: err}
	}
	urlErr := func(err error) error {
		return &url.Error{Op: "Get", URL: "http://127.0.0.1:1/", Err: err}
	}
	reset := opErr("read", os.NewSyscallError("read", syscall.ECONNRESET))
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"ECONNRESET bare", syscall.ECONNRESET, KindReset},
		{"ECONNRESET in OpError", reset, KindReset},
		{"ECONNRESET in url.Error", urlErr(reset), KindReset},
		{"ECONNRESET wrapped twice", fmt.Errorf("round trip: %w", urlErr(reset)), KindReset},
		{"EPIPE on write", opErr("write", os.NewSyscallError("write", syscall.EPIPE)), KindReset},
		{"io.EOF", io.EOF, KindEOF},
		{"io.EOF in url.Error", urlErr(io.EOF), KindEOF},
		{"unexpected EOF wrapped", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), KindEOF},
		{"os deadline in OpError", opErr("read", os.ErrDeadlineExceeded), KindTimeout},
		{"context deadline wrapped", fmt.Errorf("send: %w", context.DeadlineExceeded), KindTimeout},
		{"context deadline in url.Error", urlErr(context.DeadlineExceeded), KindTimeout},
		{"custom net.Error timeout", urlErr(timeoutError{}), KindTimeout},
		{"ECONNREFUSED on dial", opErr("dial", os.NewSyscallError("connect", syscall.ECONNREFUSED)), KindRefused},
		{"ECONNREFUSED in url.Error", urlErr(opErr("dial", os.NewSyscallError("connect", syscall.ECONNREFUSED))), KindRefused},
		{"context canceled", fmt.Errorf("send: %w", context.Canceled), KindCanceled},
		{"plain error", errors.New("boom"), KindOther},
		{"plain error in url.Error", urlErr(errors.New("malformed HTTP response")), KindOther},
		{"OpError without cause", opErr("read", errors.New("use of closed network connection")), KindOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorKind(tt.err); got != tt.want {
				t.Errorf("ErrorKind(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
