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

// TestKeepAliveTickExact: with a tick, an idle connection closes at the
// first tick (a whole multiple of Tick since the server started) at or
// after its keep-alive expired: from KeepAliveTimeout to a tick later
// after its last answer, never earlier, as Gunicorn's gthread worker and
// Tomcat's poller do.
func TestKeepAliveTickExact(t *testing.T) {
	for _, tt := range []struct {
		delay, want time.Duration // answered delay after the start; closed want after the answer
	}{
		{0, 2 * time.Second},                              // the expiry falls on a tick
		{300 * time.Millisecond, 2700 * time.Millisecond}, // the next tick, 700 ms past the expiry
		{999 * time.Millisecond, 2001 * time.Millisecond}, // 1 ms past
	} {
		synctest.Test(t, func(t *testing.T) {
			srv, _, br := pipeConnGet(t, Config{KeepAliveTimeout: 2 * time.Second, Tick: time.Second, Delay: tt.delay})
			answered := time.Now()
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				t.Fatalf("read %v, want EOF", err)
			}
			if got := time.Since(answered); got != tt.want {
				t.Errorf("answered %v after the start: idle close after %v, want exactly %v", tt.delay, got, tt.want)
			}
			synctest.Wait()
			if st := srv.Stats(); st.IdleCloses != 1 || st.IdleCloseLateness[0] != 0 {
				t.Errorf("stats = %+v: want one idle close, on time (at the tick)", st)
			}
		})
	}
}

func TestNextTick(t *testing.T) {
	start := time.Unix(1000, 0)
	for _, tt := range []struct{ at, tick, want time.Duration }{
		{1500 * time.Millisecond, 0, 1500 * time.Millisecond},
		{1500 * time.Millisecond, time.Second, 2 * time.Second},
		{2 * time.Second, time.Second, 2 * time.Second},
		{-time.Second, time.Second, 0},
		{1, 2 * time.Second, 2 * time.Second},
	} {
		if got := nextTick(start.Add(tt.at), start, tt.tick).Sub(start); got != tt.want {
			t.Errorf("nextTick(start+%v, tick %v) = start+%v, want start+%v", tt.at, tt.tick, got, tt.want)
		}
	}
}
