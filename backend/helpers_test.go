package backend

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
)

// ioTimeout bounds every blocking step of a test so a bug fails instead of hanging.
const ioTimeout = 5 * time.Second

// testServer is a Server serving on a loopback listener.
type testServer struct {
	srv    *Server
	addr   string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	stats  Stats
}

func newServer(t testing.TB, cfg Config, reg prometheus.Registerer) *Server {
	t.Helper()
	srv, err := New(cfg, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return srv
}

// startServer starts a Server with cfg; it is stopped at cleanup at the latest.
func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	return serve(t, newServer(t, cfg, nil))
}

func serve(t testing.TB, srv *Server) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{srv: srv, addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// stop cancels Serve, waits for it (every connection goroutine has then
// ended, so the counters are final) and returns the Stats.
func (ts *testServer) stop(t testing.TB) Stats {
	t.Helper()
	ts.once.Do(func() {
		ts.cancel()
		select {
		case err := <-ts.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(ioTimeout):
			t.Fatalf("Serve did not return %v after cancel", ioTimeout)
		}
		ts.stats = ts.srv.Stats()
	})
	return ts.stats
}

// client is a raw HTTP/1.1 client connection.
type client struct {
	t  testing.TB
	c  *net.TCPConn
	br *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c.(*net.TCPConn), br: bufio.NewReader(c)}
}

func (c *client) send(raw string) {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c.c, raw); err != nil {
		c.t.Fatalf("write request: %v", err)
	}
}

// roundTrip sends raw and reads one response to a request with method.
func (c *client) roundTrip(method, raw string) (*http.Response, string) {
	c.t.Helper()
	c.send(raw)
	return c.readResponse(method)
}

func (c *client) readResponse(method string) (*http.Response, string) {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(ioTimeout))
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	return resp, string(body)
}

// get does a GET with extra header lines ("Name: value").
func (c *client) get(headers ...string) (*http.Response, string) {
	c.t.Helper()
	return c.roundTrip("GET", request("GET", headers...))
}

func request(method string, headers ...string) string {
	var b strings.Builder
	b.WriteString(method + " / HTTP/1.1\r\nHost: gwsim.test\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// readUntilErr reads until an error and returns the number of bytes read
// and the error.
func (c *client) readUntilErr() (int, error) {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(ioTimeout))
	n := 0
	buf := make([]byte, 4096)
	for {
		m, err := c.br.Read(buf)
		n += m
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.t.Fatalf("connection still open after %v", ioTimeout)
			}
			return n, err
		}
	}
}

// closedHow names how a read ended: "eof", "rst" or the error.
func closedHow(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, syscall.ECONNRESET):
		return "rst"
	}
	return err.Error()
}

// within fails unless lo <= d < hi.
func within(t testing.TB, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d >= hi {
		t.Errorf("%s = %v, want in [%v, %v)", what, d, lo, hi)
	}
}
