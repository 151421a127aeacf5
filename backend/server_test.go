package backend

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"testing/synctest"
	"time"
)

func TestIdleClose(t *testing.T) {
	const keepAlive = 50 * time.Millisecond
	tests := []struct {
		style CloseStyle
		want  string // how the client's read ends
	}{
		{CloseFIN, "eof"},
		{CloseRST, "rst"},
		{CloseLinger, "eof"},
	}
	for _, tt := range tests {
		t.Run(string(tt.style), func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, Config{KeepAliveTimeout: keepAlive, Close: tt.style, LingerTimeout: 200 * time.Millisecond})
			c := dial(t, ts.addr)
			sent := time.Now()
			resp, body := c.get()
			if resp.StatusCode != 200 || body != "gwsim backend ok\n" {
				t.Fatalf("response %d %q", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Keep-Alive"); got != "timeout=1" {
				t.Errorf("Keep-Alive = %q, want timeout=1", got)
			}
			if resp.Close {
				t.Errorf("response closes the connection")
			}
			n, err := c.readUntilErr()
			if n != 0 || closedHow(err) != tt.want {
				t.Fatalf("after idle: read %d bytes, %v; want 0 bytes, %s", n, err, tt.want)
			}
			// The deadline runs from the end of the response write, which
			// is after the request was sent.
			within(t, "close after request", time.Since(sent), keepAlive, 3*time.Second)

			c.c.Close() // ends the lingering drain at once
			st := ts.stop(t)
			if st.IdleCloses != 1 || st.TrapCloses != 0 || st.Connections != 1 || st.Requests != 1 || st.Responses[200] != 1 {
				t.Errorf("stats = %+v", st)
			}
			if len(st.IdleCloseLateness) != 1 {
				t.Fatalf("lateness samples = %v, want 1", st.IdleCloseLateness)
			}
			within(t, "lateness", st.IdleCloseLateness[0], 0, 2*time.Second)
		})
	}
}

// TestLingerDrain: after the lingering close's FIN the backend still reads
// (and discards) what the client sends, until LingerTimeout, then closes.
func TestLingerDrain(t *testing.T) {
	const linger = 500 * time.Millisecond
	ts := startServer(t, Config{KeepAliveTimeout: 50 * time.Millisecond, Close: CloseLinger, LingerTimeout: linger})
	c := dial(t, ts.addr)
	c.get()
	if n, err := c.readUntilErr(); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read %d bytes, %v; want EOF", n, err)
	}
	eof := time.Now()
	if _, err := c.c.Write([]byte("late request bytes\r\n")); err != nil {
		t.Fatalf("write during the drain: %v", err)
	}
	// Keep writing: the backend drains until LingerTimeout, then closes,
	// and the next writes fail (RST).
	var err error
	for err == nil && time.Since(eof) < ioTimeout {
		time.Sleep(10 * time.Millisecond)
		_, err = c.c.Write([]byte("x"))
	}
	if err == nil {
		t.Fatalf("connection still open %v after the FIN", ioTimeout)
	}
	within(t, "writes accepted after FIN for", time.Since(eof), linger/2, ioTimeout)
	if st := ts.stop(t); st.IdleCloses != 1 {
		t.Errorf("IdleCloses = %d, want 1", st.IdleCloses)
	}
}

func TestKeepAliveOff(t *testing.T) {
	ts := startServer(t, Config{})
	c := dial(t, ts.addr)
	resp, _ := c.get()
	// (http.ReadResponse turns `Connection: close` into resp.Close.)
	if !resp.Close || resp.Header.Get("Keep-Alive") != "" {
		t.Errorf("Close = %v, headers = %v; want Connection: close and no Keep-Alive", resp.Close, resp.Header)
	}
	if n, err := c.readUntilErr(); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read %d bytes, %v; want EOF", n, err)
	}
	st := ts.stop(t)
	if st.KeepAliveOffCloses != 1 || st.IdleCloses != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestMaxKeepAliveRequests(t *testing.T) {
	ts := startServer(t, Config{KeepAliveTimeout: 5 * time.Second, MaxKeepAliveRequests: 3})
	c := dial(t, ts.addr)
	for i, want := range []string{"timeout=5, max=2", "timeout=5, max=1", ""} {
		resp, _ := c.get()
		if got := resp.Header.Get("Keep-Alive"); got != want {
			t.Errorf("response %d: Keep-Alive = %q, want %q", i+1, got, want)
		}
		if last := i == 2; resp.Close != last {
			t.Errorf("response %d: Connection %q", i+1, resp.Header.Get("Connection"))
		}
	}
	if n, err := c.readUntilErr(); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read %d bytes, %v; want EOF", n, err)
	}
	st := ts.stop(t)
	if st.MaxRequestCloses != 1 || st.Requests != 3 || st.Responses[200] != 3 {
		t.Errorf("stats = %+v", st)
	}
}

func TestResponses(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		method     string
		raw        string
		status     int
		bodyLen    int
		header     map[string]string // "" value = absent
		wantClosed bool
	}{
		{"default", Config{KeepAliveTimeout: time.Minute}, "GET", request("GET"), 200, 17,
			map[string]string{"Server": "gwsim-backend", "Content-Type": "text/plain; charset=utf-8", "Keep-Alive": "timeout=60"}, false},
		{"status and size", Config{KeepAliveTimeout: time.Minute, Status: 503, ResponseSize: 100_000}, "GET", request("GET"), 503, 100_000,
			map[string]string{"Content-Length": "100000"}, false},
		{"head", Config{KeepAliveTimeout: time.Minute, ResponseSize: 1000}, "HEAD", request("HEAD"), 200, 0,
			map[string]string{"Content-Length": "1000"}, false},
		{"no content", Config{KeepAliveTimeout: time.Minute, Status: 204}, "GET", request("GET"), 204, 0,
			map[string]string{"Content-Length": ""}, false},
		{"client asks close", Config{KeepAliveTimeout: time.Minute}, "GET", request("GET", "Connection: close"), 200, 17,
			map[string]string{"Keep-Alive": ""}, true},
		{"http/1.0", Config{KeepAliveTimeout: time.Minute}, "GET", "GET / HTTP/1.0\r\n\r\n", 200, 17,
			map[string]string{"Keep-Alive": ""}, true},
		{"http/1.0 keep-alive", Config{KeepAliveTimeout: time.Minute}, "GET", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, 17,
			map[string]string{"Connection": "keep-alive", "Keep-Alive": "timeout=60"}, false},
		{"go preset", Config{IdleForever: true}, "GET", request("GET"), 200, 17,
			map[string]string{"Keep-Alive": "", "Connection": ""}, false},
		{"forever with max", Config{IdleForever: true, MaxKeepAliveRequests: 10}, "GET", request("GET"), 200, 17,
			map[string]string{"Keep-Alive": "max=9"}, false},
		{"post body", Config{KeepAliveTimeout: time.Minute}, "POST", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 200, 17, nil, false},
		{"chunked body", Config{KeepAliveTimeout: time.Minute}, "POST",
			"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 200, 17, nil, false},
		{"expect continue", Config{KeepAliveTimeout: time.Minute}, "POST",
			"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", 200, 17, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, tt.cfg)
			c := dial(t, ts.addr)
			c.send(tt.raw)
			resp, body := c.readResponse(tt.method)
			if resp.StatusCode == 100 { // Expect: 100-continue
				resp, body = c.readResponse(tt.method)
			}
			if resp.StatusCode != tt.status || len(body) != tt.bodyLen {
				t.Errorf("got %d with %d body bytes, want %d with %d", resp.StatusCode, len(body), tt.status, tt.bodyLen)
			}
			if resp.Header.Get("Date") == "" {
				t.Errorf("no Date header")
			}
			for k, v := range tt.header {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if resp.Close != tt.wantClosed { // Connection: close
				t.Errorf("response Close = %v, want %v", resp.Close, tt.wantClosed)
			}
			if tt.wantClosed {
				if n, err := c.readUntilErr(); n != 0 || !errors.Is(err, io.EOF) {
					t.Fatalf("read %d bytes, %v; want EOF", n, err)
				}
				return
			}
			// The connection is still usable.
			if resp, _ := c.get(); resp.StatusCode != tt.status {
				t.Errorf("second request: %d", resp.StatusCode)
			}
		})
	}
}

func TestDelay(t *testing.T) {
	const delay = 100 * time.Millisecond
	ts := startServer(t, Config{KeepAliveTimeout: time.Minute, Delay: delay})
	c := dial(t, ts.addr)
	start := time.Now()
	c.get()
	within(t, "response time", time.Since(start), delay, 3*time.Second)
}

func TestRaceTrap(t *testing.T) {
	tests := []struct {
		style CloseStyle
		want  string
	}{
		{CloseFIN, "eof"},
		{CloseRST, "rst"},
		{CloseLinger, "eof"},
	}
	for _, tt := range tests {
		t.Run(string(tt.style), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, Config{KeepAliveTimeout: 50 * time.Millisecond, RaceTrap: true, Close: tt.style}, nil)
			armed := make(chan struct{}, 1)
			srv.onTrapArmed = func() { armed <- struct{}{} }
			ts := serve(t, srv)
			c := dial(t, ts.addr)
			c.get()
			select {
			case <-armed:
			case <-time.After(ioTimeout):
				t.Fatal("race trap not armed")
			}
			// The expired connection stays open...
			c.c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
			if _, err := c.br.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("expired connection: read %v, want it to stay open", err)
			}
			// ...until a request arrives: closed without an answer.
			c.send(request("GET"))
			if n, err := c.readUntilErr(); n != 0 || closedHow(err) != tt.want {
				t.Fatalf("trapped request: read %d bytes, %v; want 0 bytes, %s", n, err, tt.want)
			}
			c.c.Close()
			st := ts.stop(t)
			if st.TrapCloses != 1 || st.IdleCloses != 1 || st.Requests != 1 || st.Responses[200] != 1 {
				t.Errorf("stats = %+v", st)
			}
			if len(st.IdleCloseLateness) != 1 || st.IdleCloseLateness[0] < 0 {
				t.Errorf("lateness = %v", st.IdleCloseLateness)
			}
		})
	}
}

func TestRaceTrapPeerClosesFirst(t *testing.T) {
	srv := newServer(t, Config{KeepAliveTimeout: 20 * time.Millisecond, RaceTrap: true}, nil)
	armed := make(chan struct{}, 1)
	srv.onTrapArmed = func() { armed <- struct{}{} }
	ts := serve(t, srv)
	c := dial(t, ts.addr)
	c.get()
	<-armed
	c.c.Close()
	// Serve's shutdown waits for the connection goroutine, which must have
	// seen the peer's close and not counted a trap close.
	if st := ts.stop(t); st.TrapCloses != 0 || st.IdleCloses != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestFaults(t *testing.T) {
	t.Run("reset", func(t *testing.T) {
		t.Parallel()
		ts := startServer(t, Config{KeepAliveTimeout: time.Minute, Faults: []Fault{{FaultReset, 0, time.Hour}}})
		c := dial(t, ts.addr)
		c.send(request("GET"))
		if n, err := c.readUntilErr(); n != 0 || closedHow(err) != "rst" {
			t.Fatalf("read %d bytes, %v; want 0 bytes, rst", n, err)
		}
		if st := ts.stop(t); st.FaultCloses != 1 || st.Requests != 0 {
			t.Errorf("stats = %+v", st)
		}
	})
	t.Run("hang", func(t *testing.T) {
		t.Parallel()
		const window = 300 * time.Millisecond
		before := time.Now() // the window starts after this
		ts := startServer(t, Config{KeepAliveTimeout: time.Minute, Faults: []Fault{{FaultHang, 0, window}}})
		c := dial(t, ts.addr)
		c.send(request("GET"))
		if n, err := c.readUntilErr(); n != 0 || closedHow(err) != "rst" {
			t.Fatalf("read %d bytes, %v; want 0 bytes, rst", n, err)
		}
		within(t, "hang", time.Since(before), window, ioTimeout)
		if st := ts.stop(t); st.FaultCloses != 1 {
			t.Errorf("stats = %+v", st)
		}
	})
	t.Run("before and after the window", func(t *testing.T) {
		t.Parallel()
		// In a synctest bubble, over net.Pipe: the window's edges are exact.
		synctest.Test(t, func(t *testing.T) {
			const window = 200 * time.Millisecond
			srv := newServer(t, Config{KeepAliveTimeout: time.Minute, Faults: []Fault{
				{FaultReset, 0, window}, {FaultReset, time.Hour, time.Hour}}}, nil)
			get := func() string { // a GET on a new connection: its status, or "closed"
				cli, nc := net.Pipe()
				done := make(chan struct{})
				go func() { defer close(done); srv.serveConn(t.Context(), nc) }()
				defer func() { cli.Close(); <-done }()
				if _, err := io.WriteString(cli, request("GET")); err != nil {
					return "closed"
				}
				resp, err := http.ReadResponse(bufio.NewReader(cli), nil)
				if err != nil {
					return "closed"
				}
				return resp.Status[:3]
			}
			// Fault windows count from New here (Serve is not called).
			for _, tc := range []struct {
				at   time.Duration
				want string
			}{
				{0, "closed"},
				{window - time.Nanosecond, "closed"},
				{window, "200"},
				{time.Hour - time.Nanosecond, "200"},
				{time.Hour, "closed"},
			} {
				time.Sleep(tc.at - srv.Elapsed())
				if got := get(); got != tc.want {
					t.Errorf("GET at %v: %s, want %s", tc.at, got, tc.want)
				}
			}
			if st := srv.Stats(); st.FaultCloses != 3 || st.Responses[200] != 2 {
				t.Errorf("stats = %+v", st)
			}
		})
	})
}

// TestShutdown: Serve returns promptly on cancel, closing connections in
// every state (idle, inside a delay, hanging in a fault, lingering, reading
// a partial request).
func TestShutdown(t *testing.T) {
	get := func(t *testing.T, c *client) { c.get() }
	send := func(raw string) func(*testing.T, *client) {
		return func(t *testing.T, c *client) { c.send(raw) }
	}
	tests := []struct {
		name string
		cfg  Config
		prep func(*testing.T, *client)
	}{
		{"idle forever", Config{IdleForever: true}, get},
		{"idle keep-alive", Config{KeepAliveTimeout: time.Hour}, get},
		{"in delay", Config{KeepAliveTimeout: time.Hour, Delay: time.Hour}, send(request("GET"))},
		{"hang fault", Config{KeepAliveTimeout: time.Hour, Faults: []Fault{{FaultHang, 0, time.Hour}}}, send(request("GET"))},
		{"partial request", Config{KeepAliveTimeout: time.Hour, ReadHeaderTimeout: time.Hour}, send("GET / HT")},
		{"lingering", Config{Close: CloseLinger, LingerTimeout: time.Hour}, func(t *testing.T, c *client) {
			c.get()
			if _, err := c.readUntilErr(); !errors.Is(err, io.EOF) { // the FIN: now draining
				t.Fatalf("read %v, want EOF", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, tt.cfg, nil)
			requested := make(chan struct{}, 10)
			srv.onRequest = func() { requested <- struct{}{} }
			ts := serve(t, srv)
			c := dial(t, ts.addr)
			tt.prep(t, c)
			select {
			case <-requested: // the connection is being served
			case <-time.After(ioTimeout):
				t.Fatal("request never arrived")
			}
			start := time.Now()
			st := ts.stop(t)
			within(t, "shutdown", time.Since(start), 0, 2*time.Second)
			if st.Connections != 1 {
				t.Errorf("stats = %+v", st)
			}
			if _, err := c.readUntilErr(); err == nil {
				t.Errorf("connection open after shutdown")
			}
		})
	}
}

func TestServeTwice(t *testing.T) {
	ts := startServer(t, Config{})
	dial(t, ts.addr).get() // Serve is running
	if err := ts.srv.Serve(t.Context(), nil); err == nil {
		t.Fatal("second Serve succeeded")
	}
}
