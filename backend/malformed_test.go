package backend

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap/zaptest"
)

func TestMalformedRequests(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		status int
	}{
		{"garbage line", "garbage\r\n\r\n", 400},
		{"binary", "\x00\x01\x02\xff\r\n\r\n", 400},
		{"no version", "GET /\r\n\r\n", 400},
		{"bad version", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400},
		{"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400},
		{"bad header line", "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400},
		{"bad method", "G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"negative length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
		{"two lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
		{"unknown transfer encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
		{"bad chunk", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
		{"huge header", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 200<<10) + "\r\n\r\n", 400},
		{"many headers", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Many: 1\r\n", 20_000) + "\r\n", 400},
		{"huge request line", "GET /" + strings.Repeat("a", 200<<10) + " HTTP/1.1\r\n\r\n", 400},
		{"header timeout", "GET / HTTP/1.1\r\nHost: x\r\n", 408},
		{"body stalled", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", 408},
		{"chunked body stalled", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 408},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, Config{KeepAliveTimeout: time.Minute, ReadHeaderTimeout: 200 * time.Millisecond})
			c := dial(t, ts.addr)
			go io.WriteString(c.c, tt.raw) // may block or fail once the backend stops reading
			resp, _ := c.readResponse("GET")
			if resp.StatusCode != tt.status || !resp.Close {
				t.Errorf("got %d (Connection %q), want %d with Connection: close",
					resp.StatusCode, resp.Header.Get("Connection"), tt.status)
			}
			if n, err := c.readUntilErr(); n != 0 || !errors.Is(err, io.EOF) {
				t.Errorf("after the error response: read %d bytes, %v; want EOF", n, err)
			}
			c.c.Close()
			if st := ts.stop(t); st.BadRequests != 1 || st.Responses[tt.status] != 1 || st.Requests != 0 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

// FuzzConn feeds arbitrary bytes to one connection (over net.Pipe, inside
// a synctest bubble so timeouts take no real time): the backend must not
// panic, must close the connection and must write only HTTP/1.1 responses.
func FuzzConn(f *testing.F) {
	for _, seed := range []string{
		"",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nTrailer: x\r\n\r\n",
		"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
		"garbage\r\n\r\n",
		"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n",
		"\x00\x01\x02",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		synctest.Test(t, func(t *testing.T) {
			srv, err := New(Config{KeepAliveTimeout: time.Second, MaxKeepAliveRequests: 5, Delay: time.Millisecond},
				zaptest.NewLogger(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			cli, srvConn := net.Pipe()
			done := make(chan struct{})
			go func() {
				defer close(done)
				srv.serveConn(ctx, srvConn)
			}()
			go cli.Write(in) // fails once the backend closes
			out, _ := io.ReadAll(cli)
			<-done
			cli.Close()
			if len(out) > 0 && !bytes.HasPrefix(out, []byte("HTTP/1.1 ")) {
				t.Fatalf("output %q is not an HTTP/1.1 response", out)
			}
		})
	})
}

// writeFailConn is a connection whose peer sent in and then vanished:
// reads return in, then EOF; every write fails.
type writeFailConn struct {
	r      *bytes.Reader
	writes int
}

func (c *writeFailConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *writeFailConn) Write([]byte) (int, error) {
	c.writes++
	return 0, syscall.EPIPE
}
func (c *writeFailConn) Close() error { return nil }
func (c *writeFailConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8081}
}
func (c *writeFailConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *writeFailConn) SetDeadline(time.Time) error      { return nil }
func (c *writeFailConn) SetReadDeadline(time.Time) error  { return nil }
func (c *writeFailConn) SetWriteDeadline(time.Time) error { return nil }

// TestContinueWriteFails: when the interim "100 Continue" cannot be
// written the client is gone, so the backend closes at once: it neither
// reads the body nor counts the request nor tries to answer it.
func TestContinueWriteFails(t *testing.T) {
	srv := newServer(t, Config{KeepAliveTimeout: time.Minute}, nil)
	nc := &writeFailConn{r: bytes.NewReader([]byte("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"))}
	srv.serveConn(t.Context(), nc)
	if st := srv.Stats(); st.Requests != 0 || len(st.Responses) != 0 || nc.writes != 1 {
		t.Fatalf("after a failed 100 Continue: %d request(s) counted, responses %v, %d write(s); want 0, none, 1",
			st.Requests, st.Responses, nc.writes)
	}
}
