package backend

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap/zaptest"
)

// pipeConn serves one net.Pipe connection inside a synctest bubble, where
// time is virtual: the keep-alive timer is then exact to the nanosecond.
func pipeConn(t *testing.T, cfg Config) (*Server, net.Conn, *bufio.Reader) {
	t.Helper()
	srv, err := New(cfg, zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cli, srvConn := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.serveConn(ctx, srvConn)
	}()
	t.Cleanup(func() {
		cancel()
		cli.Close()
		<-done
	})
	return srv, cli, bufio.NewReader(cli)
}

func pipeGet(t *testing.T, cli net.Conn, br *bufio.Reader) *http.Response {
	t.Helper()
	if _, err := io.WriteString(cli, request("GET")); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	return resp
}

func TestKeepAliveTimerExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const keepAlive = 5 * time.Second
		srv, _, br := pipeConnGet(t, Config{KeepAliveTimeout: keepAlive, Delay: 300 * time.Millisecond})
		answered := time.Now()
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
			t.Fatalf("read %v, want EOF", err)
		}
		if got := time.Since(answered); got != keepAlive {
			t.Errorf("idle close after %v, want exactly %v", got, keepAlive)
		}
		synctest.Wait()
		st := srv.Stats()
		if st.IdleCloses != 1 || len(st.IdleCloseLateness) != 1 || st.IdleCloseLateness[0] != 0 {
			t.Errorf("stats = %+v", st)
		}
	})
}

// pipeConnGet starts a pipe connection and does one GET on it.
func pipeConnGet(t *testing.T, cfg Config) (*Server, net.Conn, *bufio.Reader) {
	t.Helper()
	srv, cli, br := pipeConn(t, cfg)
	pipeGet(t, cli, br)
	return srv, cli, br
}

// TestRaceBoundary sends the second request just before and just after the
// keep-alive deadline, the gap a sniper explores.
func TestRaceBoundary(t *testing.T) {
	const keepAlive = 5 * time.Second
	tests := []struct {
		name string
		trap bool
		gap  time.Duration
		want string // "200", "eof" (trap: closed on arrival), "closed" (write fails)
	}{
		{"before deadline", false, keepAlive - time.Millisecond, "200"},
		{"after deadline", false, keepAlive + time.Millisecond, "closed"},
		{"trap before deadline", true, keepAlive - time.Millisecond, "200"},
		{"trap after deadline", true, keepAlive + time.Millisecond, "eof"},
		{"trap long after deadline", true, time.Hour, "eof"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv, cli, br := pipeConnGet(t, Config{KeepAliveTimeout: keepAlive, RaceTrap: tt.trap})
				time.Sleep(tt.gap)
				got := ""
				if _, err := io.WriteString(cli, request("GET")); err != nil {
					got = "closed"
				} else if resp, err := http.ReadResponse(br, nil); err == nil {
					got = resp.Status[:3]
				} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					got = "eof"
				} else {
					got = err.Error()
				}
				if got != tt.want {
					t.Errorf("second request after %v: %s, want %s", tt.gap, got, tt.want)
				}
				cli.Close()
				synctest.Wait()
				if st := srv.Stats(); tt.want == "eof" && st.TrapCloses != 1 {
					t.Errorf("stats = %+v", st)
				}
			})
		})
	}
}

// TestFirstRequestWait: a new connection gets KeepAliveTimeout for its
// first request (as Apache); with keep-alive off, ReadHeaderTimeout.
func TestFirstRequestWait(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want time.Duration
	}{
		{"keep-alive", Config{KeepAliveTimeout: 5 * time.Second}, 5 * time.Second},
		{"keep-alive off", Config{ReadHeaderTimeout: 3 * time.Second}, 3 * time.Second},
		{"keep-alive off default", Config{}, DefaultReadHeaderTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				_, _, br := pipeConn(t, tt.cfg)
				start := time.Now()
				if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
					t.Fatalf("read %v, want EOF", err)
				}
				if got := time.Since(start); got != tt.want {
					t.Errorf("closed after %v, want %v", got, tt.want)
				}
			})
		})
	}
}
