package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
)

// The two fuzz targets drive a real gateway over loopback sockets: one with
// a backend that sends arbitrary bytes, one with a client that does. Both
// keep an iteration short (the gateway's time-outs are a few hundred
// milliseconds, every socket has a 2 s deadline) and check what must hold
// whatever the peer does: every request gets exactly one outcome within the
// bound, what the client receives parses as HTTP/1.1 and is what the access
// log says, the counts add up, no bytes cross from one request to another,
// and the gateway leaves no goroutine behind when it shuts down.

const (
	// fuzzRequestTimeout and fuzzClientRequestTimeout are the gateway's
	// time-outs in the backend target: a backend that never finishes is
	// answered within them.
	fuzzRequestTimeout       = 300 * time.Millisecond
	fuzzClientRequestTimeout = 300 * time.Millisecond
	// fuzzDeadline bounds every client socket: an outcome later than this
	// is a finding.
	fuzzDeadline = 2 * time.Second
	// fuzzPathMarker in a fuzzed backend reply is replaced by the path of
	// the request it answers.
	fuzzPathMarker = "{PATH}"
	// fuzzTagLen is the length of a request's tag (its path), so seeds can
	// state Content-Length for a body that echoes it.
	fuzzTagLen = 13
	// fuzzMaxReply bounds a fuzzed reply (and a fuzzed client input), so
	// one iteration stays short.
	fuzzMaxReply = 64 << 10
)

// fuzzProfile is appgw-v2 with short time-outs.
func fuzzProfile(t testing.TB, requestTimeout, clientRequestTimeout, clientKeepAlive time.Duration) proxy.Profile {
	t.Helper()
	p, err := proxy.LookupProfile("appgw-v2")
	if err != nil {
		t.Fatal(err)
	}
	p.RequestTimeout = requestTimeout
	p.ClientRequestTimeout = clientRequestTimeout
	if clientKeepAlive > 0 {
		p.ClientKeepAlive = clientKeepAlive
	}
	return p
}

// fuzzGateway is a gateway serving on a loopback listener for one fuzz
// iteration, with its access log observed.
type fuzzGateway struct {
	gw     *proxy.Gateway
	addr   string
	logs   *observer.ObservedLogs
	cancel context.CancelFunc
	served chan struct{}
}

func startFuzzGateway(t testing.TB, p proxy.Profile, member string) *fuzzGateway {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	gw, err := proxy.New(proxy.Config{Profile: p, Backends: []string{member}}, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &fuzzGateway{gw: gw, addr: ln.Addr().String(), logs: logs, cancel: cancel, served: make(chan struct{})}
	go func() { defer close(g.served); _ = gw.Serve(ctx, ln) }()
	return g
}

// stop shuts the gateway down and waits, bounded, for Serve to return.
func (g *fuzzGateway) stop(t testing.TB) {
	t.Helper()
	g.cancel()
	select {
	case <-g.served:
	case <-time.After(10 * time.Second):
		t.Fatalf("Serve did not return within 10s of its shutdown; goroutines:\n%s", allStacks())
	}
}

// responsesTotal is the number of responses the gateway counted.
func responsesTotal(gw *proxy.Gateway) int64 {
	var n int64
	for _, c := range gw.Stats().Responses {
		n += c
	}
	return n
}

// pollUntil polls cond (a state another goroutine changes) for up to
// within; it reports whether cond became true.
func pollUntil(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

func allStacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// gatewayGoroutines returns the goroutines running gateway code (a frame
// of package proxy, not proxy_test), by id, with their stacks.
func gatewayGoroutines() map[string]string {
	out := map[string]string{}
	for _, g := range strings.Split(string(allStacks()), "\n\n") {
		if !strings.Contains(g, "github.com/gwsim/gwsim/proxy.") {
			continue
		}
		if f := strings.Fields(g); len(f) > 1 && f[0] == "goroutine" {
			out[f[1]] = g
		}
	}
	return out
}

// checkNoLeak fails t if, once the gateway has shut down, goroutines
// running gateway code that were not there before (before) remain. Those
// that end on their own (a connection's reader seeing its close) are given
// a bounded poll; only one that stays is a leak.
func checkNoLeak(t testing.TB, before map[string]string) {
	t.Helper()
	var extra []string
	ok := pollUntil(5*time.Second, func() bool {
		extra = extra[:0]
		for id, g := range gatewayGoroutines() {
			if _, old := before[id]; !old {
				extra = append(extra, g)
			}
		}
		return len(extra) == 0
	})
	if !ok {
		t.Fatalf("%d gateway goroutines still running 5s after shutdown:\n%s", len(extra), strings.Join(extra, "\n\n"))
	}
}

// ---------------------------------------------------------------------------
// FuzzGatewayBackendResponses

// fuzzBackend is a raw TCP backend: after each request (head and body) it
// sends reply, with fuzzPathMarker replaced by the request's path, in the
// writes chunkReply makes, then does what its close style says.
type fuzzBackend struct {
	ln    net.Listener
	reply []byte
	split int
	shape uint8
	close backendClose

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startFuzzBackend(t testing.TB, reply []byte, split uint16, shape, closeMode uint8) *fuzzBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fuzzBackend{ln: ln, reply: reply, split: int(split), shape: shape, close: parseBackendClose(closeMode), conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.accept()
	return b
}

func (b *fuzzBackend) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns[c] = struct{}{}
		b.wg.Add(1)
		b.mu.Unlock()
		go b.serve(c)
	}
}

func (b *fuzzBackend) serve(c net.Conn) {
	defer b.wg.Done()
	defer c.Close()
	br := bufio.NewReader(c)
	for first := true; ; first = false {
		if b.close.style == closeIdle && !first {
			// A keep-alive timer, as a real backend's: no next request
			// within it closes the connection.
			_ = c.SetReadDeadline(time.Now().Add(b.close.idle))
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		reply := bytes.ReplaceAll(b.reply, []byte(fuzzPathMarker), []byte(req.URL.Path))
		for i, w := range chunkReply(reply, b.split, b.shape) {
			if d := time.Duration(b.shape&3) * time.Millisecond; i == 1 && d > 0 {
				time.Sleep(d) // the fuzzed pause between the first write and the rest
			}
			if _, err := c.Write(w); err != nil {
				return
			}
		}
		switch b.close.style {
		case closeFIN:
			return
		case closeRST:
			_ = c.(*net.TCPConn).SetLinger(0)
			return
		case closeLinger:
			_ = c.(*net.TCPConn).CloseWrite()
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			_, _ = io.Copy(io.Discard, br)
			return
		}
	}
}

// backendClose is what the fuzzed backend does after each reply.
type backendClose struct {
	style string
	idle  time.Duration // closeIdle: the keep-alive timer
}

const (
	closeIdle   = "idle"   // keep the connection; close it (FIN) when no request comes within idle
	closeFIN    = "fin"    // close at once
	closeRST    = "rst"    // reset at once
	closeLinger = "linger" // half-close, drain for up to 50 ms, close (Apache)
	closeHang   = "hang"   // keep the connection open for good: the gateway's time-out decides
)

// parseBackendClose maps the fuzzed byte to a close style: 31 in its low
// five bits hangs (rare, as each hanging request costs the gateway's
// request time-out), else the low five bits modulo 6 pick keep-alive with
// a timer of 5 ms × (1 + the top three bits) (5..40 ms; weight 3), FIN,
// RST or lingering close.
func parseBackendClose(m uint8) backendClose {
	if m&31 == 31 {
		return backendClose{style: closeHang}
	}
	switch (m & 31) % 6 {
	case 3:
		return backendClose{style: closeFIN}
	case 4:
		return backendClose{style: closeRST}
	case 5:
		return backendClose{style: closeLinger}
	}
	return backendClose{style: closeIdle, idle: time.Duration(1+m>>5) * 5 * time.Millisecond}
}

// stop closes the listener and every connection and waits for the
// backend's goroutines.
func (b *fuzzBackend) stop() {
	_ = b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// chunkReply cuts reply into the writes the backend makes: the first
// split%(len+1) bytes, then the rest in one write, or (shape bit 2) in
// pieces of (shape>>3)+1 bytes. The backend pauses shape&3 ms between the
// first write and the second.
func chunkReply(reply []byte, split int, shape uint8) [][]byte {
	if len(reply) == 0 {
		return nil
	}
	k := split % (len(reply) + 1)
	var out [][]byte
	if k > 0 {
		out = append(out, reply[:k])
	}
	rest := reply[k:]
	if shape&4 == 0 {
		if len(rest) > 0 {
			out = append(out, rest)
		}
		return out
	}
	step := int(shape>>3) + 1
	for len(rest) > 0 {
		n := min(step, len(rest))
		out = append(out, rest[:n])
		rest = rest[n:]
	}
	return out
}

// firstFinalResponse parses reply as the gateway's pool does (skipping 1xx
// interim responses other than 101) and returns the status of the first
// final response and where it ends in reply (-1 when its body is cut
// short); ok is false when no final response head parses.
func firstFinalResponse(reply []byte, method string) (status, end int, ok bool) {
	rd := bytes.NewReader(reply)
	br := bufio.NewReader(rd)
	req := &http.Request{Method: method}
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return 0, 0, false
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				return resp.StatusCode, -1, true
			}
			return resp.StatusCode, len(reply) - rd.Len() - br.Buffered(), true
		}
	}
}

// fuzzRequest is one request the client sends, tagged by its path.
type fuzzRequest struct {
	method, tag string
	raw         string
}

// fuzzOutcome is what the client got for a request.
type fuzzOutcome struct {
	req      fuzzRequest
	resp     *http.Response // nil when no head parsed
	body     []byte
	complete bool  // the body was read to its end
	err      error // the head's or the body's error
	reused   bool  // sent on a connection that carried an earlier request
}

func (o fuzzOutcome) String() string {
	if o.resp == nil {
		return fmt.Sprintf("%s %s: no response (%v)", o.req.method, o.req.tag, o.err)
	}
	return fmt.Sprintf("%s %s: %d complete=%v body %q err %v", o.req.method, o.req.tag, o.resp.StatusCode, o.complete,
		truncate(o.body, 200), o.err)
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// carries reports whether o's head or body names tag.
func (o fuzzOutcome) carries(tag string) bool {
	if o.resp == nil {
		return false
	}
	if strings.Contains(o.resp.Status, tag) || bytes.Contains(o.body, []byte(tag)) {
		return true
	}
	for k, vv := range o.resp.Header {
		if strings.Contains(k, tag) {
			return true
		}
		for _, v := range vv {
			if strings.Contains(v, tag) {
				return true
			}
		}
	}
	return false
}

// fuzzClient sends requests one after another, reusing its connection while
// the gateway keeps it open, and records each outcome. A connection it
// retires is half-closed and read to its end: nothing may follow the last
// response on it.
type fuzzClient struct {
	t     *testing.T
	addr  string
	c     net.Conn
	br    *bufio.Reader
	sent  int // requests on c
	fails []string
}

func (fc *fuzzClient) failf(format string, args ...any) {
	fc.fails = append(fc.fails, fmt.Sprintf(format, args...))
}

func (fc *fuzzClient) do(r fuzzRequest) fuzzOutcome {
	o := fuzzOutcome{req: r}
	if fc.c == nil {
		c, err := net.Dial("tcp", fc.addr)
		if err != nil {
			fc.t.Fatalf("dial the gateway: %v", err)
		}
		fc.c, fc.br, fc.sent = c, bufio.NewReader(c), 0
	}
	o.reused = fc.sent > 0
	fc.sent++
	_ = fc.c.SetDeadline(time.Now().Add(fuzzDeadline))
	if _, err := io.WriteString(fc.c, r.raw); err != nil {
		// The gateway closed a connection it had kept alive: the head
		// read below says what came of the request.
		o.err = err
	}
	resp, err := http.ReadResponse(fc.br, &http.Request{Method: r.method})
	for err == nil && resp.StatusCode == http.StatusContinue {
		// The gateway's own interim answer to Expect: 100-continue.
		resp, err = http.ReadResponse(fc.br, &http.Request{Method: r.method})
	}
	if err != nil {
		o.err = err
		fc.retire(false)
		return o
	}
	o.resp = resp
	o.body, o.err = io.ReadAll(resp.Body)
	o.complete = o.err == nil
	switch {
	case !o.complete:
		fc.retire(true) // the gateway closes after a partial response
	case resp.Close || resp.StatusCode == http.StatusSwitchingProtocols:
		fc.retire(true)
	case fc.br.Buffered() > 0:
		b, _ := fc.br.Peek(fc.br.Buffered())
		fc.failf("%s %s: %d bytes after its complete response: %q", r.method, r.tag, len(b), truncate(b, 200))
		fc.retire(false)
	}
	return o
}

// retire half-closes the connection and reads it to its end (check: it
// must end, within the deadline, with nothing more), then closes it.
func (fc *fuzzClient) retire(check bool) {
	if fc.c == nil {
		return
	}
	defer func() { _ = fc.c.Close(); fc.c, fc.br = nil, nil }()
	if !check {
		return
	}
	_ = fc.c.(*net.TCPConn).CloseWrite()
	_ = fc.c.SetDeadline(time.Now().Add(fuzzDeadline))
	rest, err := io.ReadAll(fc.br)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		fc.failf("the gateway did not close the connection within %s of the client's half-close", fuzzDeadline)
	case len(rest) > 0:
		fc.failf("%d bytes after the last response on a connection: %q", len(rest), truncate(rest, 200))
	}
}

// FuzzGatewayBackendResponses: a backend sends arbitrary bytes (split
// into writes, with a pause, then keeping, closing or resetting the
// connection) in answer to a GET, a POST with a body and a GET, HEAD or
// POST with Expect: 100-continue. Checked:
// (a) each request gets one outcome within the bound: a response that
// parses, with the backend's status (as the access log's serverStatus and
// as the reply parses) or the gateway's own 4xx/5xx (the log's error_info
// in its body), or a head and part of a body then a close, logged with
// that status and a failure cause; (b) no response carries another
// request's path (bytes meant for one request never reach another); (c)
// the gateway counts and logs each request exactly once; (d) no gateway
// goroutine outlives its shutdown; and nothing panics.
func FuzzGatewayBackendResponses(f *testing.F) {
	const (
		// close modes (parseBackendClose): keep-alive with a 20 ms
		// timer, FIN, RST, lingering close, hang.
		keep, fin, rst, linger, hang = 3 << 5, 3, 4, 5, 31
		cl13                         = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{PATH}"
		chunked13                    = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nd\r\n{PATH}\r\n0\r\n\r\n"
	)
	for _, s := range []struct {
		reply            string
		split            uint16
		shape, closeMode uint8
	}{
		{cl13, 0, 0, keep},
		{cl13, 0, 0, fin},
		{cl13, 0, 0, rst},
		{cl13, 0, 0, linger},
		{cl13, 0, 0, 0},                               // a 5 ms keep-alive timer: the race when the gateway is late
		{cl13, 10, 2, keep},                           // head cut mid-line, 2 ms pause
		{cl13, 40, 1, keep},                           // the body a millisecond after the head
		{chunked13, 0, 0, keep},                       // chunked
		{chunked13, 1, 4, keep},                       // chunked, byte by byte
		{chunked13, 45, 4 | 3<<3, fin},                // chunked, 4-byte pieces, then FIN
		{"HTTP/1.1 200 OK\r\n\r\n{PATH}", 0, 0, fin},  // close-delimited
		{"HTTP/1.1 200 OK\r\n\r\n{PATH}", 0, 0, keep}, // close-delimited, closed by the keep-alive timer
		{"HTTP/1.1 200 OK\r\n\r\n{PATH}", 0, 0, hang}, // close-delimited, never closed: time-out after the head
		{"HTTP/1.0 200 OK\r\n\r\n{PATH}", 0, 0, fin},  // HTTP/1.0, close-delimited
		{"HTTP/1.0 200 OK\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\n{PATH}", 0, 0, keep},
		{"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{PATH}", 0, 0, keep},
		{"HTTP/1.1 204 No Content\r\nX-Path: {PATH}\r\n\r\nSTRAY{PATH}", 0, 0, keep}, // 204 with a body
		{"HTTP/1.1 304 Not Modified\r\nX-Path: {PATH}\r\n\r\nSTRAY", 0, 0, keep},
		{cl13 + cl13, 0, 0, keep}, // two responses in one write
		{cl13 + cl13, 0, 0, fin},
		{cl13 + "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTRAY", 0, 0, keep},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{PATH}", 0, 0, keep}, // more body than Content-Length
		{"HTTP/1.1 100 Continue\r\n\r\n" + cl13, 0, 0, keep},               // 100 Continue, then 200
		{"HTTP/1.1 100 Continue\r\n\r\n" + cl13, 25, 2, keep},
		{"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + chunked13, 0, 0, keep},
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", 0, 0, keep},
		{"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 13\r\n\r\n{PATH}", 0, 0, keep},
		{"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", 0, 0, keep},
		{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", 0, 0, fin}, // body cut short
		{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", 0, 0, rst},
		{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", 0, 0, linger},
		{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", 0, 0, hang},     // body stalls: time-out
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, 0, keep}, // bad chunk size
		{"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\nd\r\n{PATH}\r\n0\r\n\r\n", 0, 0, keep},
		{"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Length: 14\r\n\r\n{PATH}", 0, 0, keep},
		{"SMTP ready\r\n\r\n", 0, 0, keep}, // garbage
		{"\x00\x01\x02\xff", 0, 0, fin},
		{"", 0, 0, fin}, // EOF before any byte
		{"", 0, 0, rst},
		{"HTTP/1.1 200 OK\r\nContent-Le", 0, 0, fin},                                // a head cut short
		{"HTTP/1.1 200 OK\r\nContent-Le", 0, 0, hang},                               // a head that stalls
		{"HTTP/1.1 200 OK\r\nX-Endless: " + strings.Repeat("a", 8<<10), 0, 0, keep}, // an endless header
		{"HTTP/1.1 200 OK\r\nContent-Length: 40000\r\n\r\n" + strings.Repeat("{PATH}x", 5000) + strings.Repeat("y", 5000), 0, 0, keep},
	} {
		f.Add([]byte(s.reply), s.split, s.shape, s.closeMode, uint8(0))
	}
	// The third request a HEAD (a body after the head is the backend's
	// stray bytes) or a POST with Expect: 100-continue.
	for _, s := range []struct {
		reply            string
		shape, closeMode uint8
		third            uint8
	}{
		{cl13, 0, keep, 1},
		{"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n", 0, keep, 1},
		{cl13, 0, fin, 1},
		{chunked13, 0, keep, 1},
		{"HTTP/1.1 200 OK\r\n\r\n{PATH}", 0, fin, 1},
		{cl13, 0, keep, 2},
		{"HTTP/1.1 100 Continue\r\n\r\n" + cl13, 1, keep, 2},
		{"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n", 0, keep, 2},
	} {
		f.Add([]byte(s.reply), uint16(0), s.shape, s.closeMode, s.third)
	}
	f.Fuzz(func(t *testing.T, reply []byte, split uint16, shape, closeMode, third uint8) {
		if len(reply) > fuzzMaxReply {
			t.Skip("reply too long for one iteration")
		}
		before := gatewayGoroutines()
		be := startFuzzBackend(t, reply, split, shape, closeMode)
		defer be.stop()
		g := startFuzzGateway(t, fuzzProfile(t, fuzzRequestTimeout, fuzzClientRequestTimeout, 0), be.ln.Addr().String())
		stopped := false
		defer func() {
			if !stopped {
				g.stop(t)
			}
		}()

		nonce := rand.Uint32()
		var reqs []fuzzRequest
		thirdMethod := []string{http.MethodGet, http.MethodHead, "POST+expect"}[third%3]
		for i, method := range []string{http.MethodGet, http.MethodPost, thirdMethod} {
			tag := fmt.Sprintf("/t-%08x-%d", nonce, i)
			if len(tag) != fuzzTagLen {
				t.Fatalf("tag %q is not %d bytes", tag, fuzzTagLen)
			}
			raw := method + " " + tag + " HTTP/1.1\r\nHost: fuzz\r\n\r\n"
			switch method {
			case http.MethodPost:
				raw = method + " " + tag + " HTTP/1.1\r\nHost: fuzz\r\nContent-Length: 4\r\n\r\nping"
			case "POST+expect":
				method = http.MethodPost
				raw = method + " " + tag + " HTTP/1.1\r\nHost: fuzz\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nping"
			}
			reqs = append(reqs, fuzzRequest{method: method, tag: tag, raw: raw})
		}
		client := &fuzzClient{t: t, addr: g.addr}
		var outs []fuzzOutcome
		for _, r := range reqs {
			outs = append(outs, client.do(r))
		}
		client.retire(true)
		counted := pollUntil(3*time.Second, func() bool { return responsesTotal(g.gw) >= int64(len(reqs)) })
		g.stop(t)
		stopped = true
		be.stop()

		// The bytes the backend sent for a request may be read as the
		// next request's response only when the gateway could not know
		// they were there: bytes after the first response that arrive in
		// a later write, or beyond the pool's read buffer (1 KiB, its
		// poolReadBuffer). Then (b) and the backend's status are not
		// checked.
		tolerate := func(r fuzzRequest) bool {
			rep := bytes.ReplaceAll(reply, []byte(fuzzPathMarker), []byte(r.tag))
			_, end, ok := firstFinalResponse(rep, r.method)
			trailing := ok && end >= 0 && end < len(rep)
			return trailing && (len(chunkReply(rep, int(split), shape)) > 1 || len(rep) > 1<<10)
		}
		mayLeak := false
		for _, r := range reqs {
			mayLeak = mayLeak || tolerate(r)
		}

		fails := client.fails
		failf := func(format string, args ...any) { fails = append(fails, fmt.Sprintf(format, args...)) }
		// (c) Counted and logged exactly once each.
		if !counted {
			failf("the gateway counted %d responses within 3s, want %d", responsesTotal(g.gw), len(reqs))
		} else if n := responsesTotal(g.gw); n != int64(len(reqs)) {
			failf("the gateway counted %d responses (%v), want %d", n, g.gw.Stats().Responses, len(reqs))
		}
		lines := accessLines(g.logs)
		byURI := map[string][]map[string]any{}
		for _, l := range lines {
			uri, _ := l["requestUri"].(string)
			byURI[uri] = append(byURI[uri], l)
		}
		if len(lines) != len(reqs) {
			failf("%d access-log lines, want %d: %v", len(lines), len(reqs), lines)
		}
		for _, o := range outs {
			r := o.req
			ls := byURI[r.tag]
			if len(ls) != 1 {
				failf("%s %s: %d access-log lines, want 1", r.method, r.tag, len(ls))
				continue
			}
			l := ls[0]
			logged, _ := l["httpStatus"].(int64)
			serverStatus, _ := l["serverStatus"].(string)
			cause, _ := l["cause"].(string)
			errorInfo, _ := l["error_info"].(string)
			// (a) One outcome, and it is what the log says.
			if o.resp == nil {
				failf("%s: the client got no response; the log says %v", o, l)
				continue
			}
			code := o.resp.StatusCode
			if int64(code) != logged {
				failf("%s: the log says status %d (%v)", o, logged, l)
			}
			if !o.complete {
				if errors.Is(o.err, os.ErrDeadlineExceeded) {
					failf("%s: the body neither ended nor was cut within %s", o, fuzzDeadline)
				}
				if cause == proxy.CauseNone {
					failf("%s: a partial response logged as a success: %v", o, l)
				}
			}
			if serverStatus == "-" {
				if code < 400 || code > 599 {
					failf("%s: the gateway's own answer has status %d, want 400..599", o, code)
				}
				if cause == proxy.CauseClientBadRequest {
					failf("%s: a well-formed request answered as the client's fault: %v", o, l)
				}
				if o.complete && r.method != http.MethodHead && !bytes.Contains(o.body, []byte(errorInfo)) {
					failf("%s: the gateway's answer does not name the logged error_info %s", o, errorInfo)
				}
			} else {
				if serverStatus != strconv.Itoa(code) {
					failf("%s: the log says serverStatus %s", o, serverStatus)
				}
				rep := bytes.ReplaceAll(reply, []byte(fuzzPathMarker), []byte(r.tag))
				if want, _, ok := firstFinalResponse(rep, r.method); !mayLeak && (!ok || want != code) {
					failf("%s: the backend's reply has status %d (parsed %v), the client got %d", o, want, ok, code)
				}
			}
			// (b) Nothing of another request.
			for _, other := range reqs {
				if other.tag != r.tag && o.carries(other.tag) && !mayLeak {
					failf("%s: carries %s, another request's path", o, other.tag)
				}
			}
		}
		if len(fails) > 0 {
			var desc []string
			for _, o := range outs {
				desc = append(desc, o.String())
			}
			t.Fatalf("reply %q (split %d, shape %#x, close %+v, third %s):\n  %s\noutcomes:\n  %s\naccess log:\n  %v",
				reply, split, shape, parseBackendClose(closeMode), thirdMethod, strings.Join(fails, "\n  "), strings.Join(desc, "\n  "), lines)
		}
		// (d) No goroutine left behind.
		checkNoLeak(t, before)
	})
}

// ---------------------------------------------------------------------------
// FuzzGatewayClientRequests

const (
	// The client target's gateway time-outs: a stalled head or body is
	// answered 408 within fuzzClientTimeout, an idle connection closed
	// within fuzzClientKeepAlive.
	fuzzClientTimeout   = 50 * time.Millisecond
	fuzzClientKeepAlive = 30 * time.Millisecond
)

// FuzzGatewayClientRequests: a client writes arbitrary bytes (in one or two
// writes, half-closing or not) to a gateway with a well-behaved backend.
// Checked: the gateway answers and closes within the bound; everything it
// sends parses as a sequence of HTTP/1.1 responses (interim 100s aside),
// framed by the method the access log names; the n-th response has the
// status of the n-th access-log line, and the gateway's own answers are
// 4xx/5xx naming the logged error_info; the access-log lines are exactly the
// responses the client received plus the requests logged as client-closed
// (499) after them; the stats count every line; no gateway goroutine
// outlives its shutdown; and nothing panics.
func FuzzGatewayClientRequests(f *testing.F) {
	for _, s := range []struct {
		data      string
		split     uint16
		halfClose bool
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, false},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, true},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 7, false},
		{"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nHEAD /c HTTP/1.1\r\nHost: x\r\n\r\n", 0, false},
		{"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n", 30, true},
		{"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n", 0, false},
		{"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 0, false},
		{"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 0, false},
		{"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel", 0, false}, // body stalls: 408
		{"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel", 0, true},  // body cut: 499
		{"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 0, false},
		{"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, false},
		{"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot hex\r\n0\r\n\r\n", 0, false}, // bad chunk size
		{"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 0, false},
		{"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 0, false}, // CL+TE
		{"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 0, false},
		{"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 0, false},
		{"POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello", 60, false},
		{"POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", 0, true},  // 100, then 499
		{"POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", 0, false}, // 100, then 408
		{"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, false},
		{"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 0, false},
		{"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 0, false},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n", 0, false}, // HTTP/1.0 keep-alive
		{"GET / HTTP/1.0\r\n\r\n", 0, false},
		{"GET / HTTP/1.1\r\n\r\n", 0, false},                               // no Host
		{"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 0, false},                    // a later 1.x
		{"GET / HTTP/1.10\r\nHost: x\r\n\r\n", 0, false},                   // 1xx version
		{"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 0, false},                    // 505
		{"GET / HTTP/0.9\r\n\r\n", 0, false},                               //
		{"GET / HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\n\r\n", 0, false}, // obs-fold
		{"GET / HTTP/1.1\nHost: x\n\n", 0, false},                          // bare LF
		{"GET / HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n", 0, false},
		{"GET / HTTP/1.1\r\nHost: x\r\n", 0, false}, // head stalls: 408
		{"GET / HTTP/1.1\r\nHost: x\r\n", 0, true},  // head cut: 499
		{"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 0, false},
		{"GET http://other/abs HTTP/1.1\r\nHost: x\r\n\r\n", 0, false},
		{"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", 0, false},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, false},
		{"garbage\r\n\r\n", 0, false},
		{"\x00\x01\x02", 0, true},
		{"", 0, true},
		{"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, false},
	} {
		f.Add([]byte(s.data), s.split, s.halfClose)
	}
	_, member := runBackend(f, backend.Config{KeepAliveTimeout: time.Minute})

	f.Fuzz(func(t *testing.T, data []byte, split uint16, halfClose bool) {
		if len(data) > fuzzMaxReply {
			t.Skip("input too long for one iteration")
		}
		before := gatewayGoroutines()
		g := startFuzzGateway(t, fuzzProfile(t, fuzzRequestTimeout, fuzzClientTimeout, fuzzClientKeepAlive), member)
		stopped := false
		defer func() {
			if !stopped {
				g.stop(t)
			}
		}()

		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(fuzzDeadline))
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			k := int(split) % (len(data) + 1)
			if _, err := c.Write(data[:k]); err != nil {
				return
			}
			if _, err := c.Write(data[k:]); err != nil {
				return
			}
			if halfClose {
				_ = c.(*net.TCPConn).CloseWrite()
			}
		}()
		got, readErr := io.ReadAll(c)
		_ = c.Close()
		<-wrote
		if errors.Is(readErr, os.ErrDeadlineExceeded) {
			t.Fatalf("input %q (split %d, half-close %v): the gateway neither answered nor closed within %s; got %q",
				data, split, halfClose, fuzzDeadline, truncate(got, 500))
		}
		// A reset (the gateway closed with client bytes unread) may
		// destroy responses in flight: then the client's responses need
		// only be a prefix of what the gateway logged.
		reset := readErr != nil
		g.stop(t)
		stopped = true

		lines := accessLines(g.logs)
		var fails []string
		failf := func(format string, args ...any) { fails = append(fails, fmt.Sprintf(format, args...)) }
		if n := responsesTotal(g.gw); n != int64(len(lines)) {
			failf("the gateway counted %d responses (%v) but logged %d lines", n, g.gw.Stats().Responses, len(lines))
		}
		br := bufio.NewReader(bytes.NewReader(got))
		var resps []string
		i := 0 // the response (and access-log line) being read
		for ; br.Buffered() > 0 || peekMore(br); i++ {
			method := http.MethodGet
			var l map[string]any
			if i < len(lines) {
				l = lines[i]
				if m, _ := l["httpMethod"].(string); m != "-" {
					method = m
				}
			}
			resp, err := http.ReadResponse(br, &http.Request{Method: method})
			for err == nil && resp.StatusCode == http.StatusContinue {
				// Interim, not logged; the client may end the request
				// (499) before the final response.
				if !peekMore(br) {
					break
				}
				resp, err = http.ReadResponse(br, &http.Request{Method: method})
			}
			if err == nil && resp.StatusCode == http.StatusContinue {
				break
			}
			if err != nil {
				if !reset {
					failf("response %d does not parse as HTTP/1.1 (%v); the rest: %q", i, err, truncate(restOf(br), 300))
				}
				break
			}
			body, berr := io.ReadAll(resp.Body)
			resps = append(resps, fmt.Sprintf("%d %q (%v)", resp.StatusCode, truncate(body, 120), berr))
			if l == nil {
				failf("response %d (%d %q) has no access-log line", i, resp.StatusCode, truncate(body, 200))
				continue
			}
			logged, _ := l["httpStatus"].(int64)
			serverStatus, _ := l["serverStatus"].(string)
			cause, _ := l["cause"].(string)
			errorInfo, _ := l["error_info"].(string)
			if int64(resp.StatusCode) != logged {
				failf("response %d has status %d, its access-log line %d: %v", i, resp.StatusCode, logged, l)
			}
			if serverStatus == "-" {
				if resp.StatusCode < 400 || resp.StatusCode > 599 {
					failf("response %d: the gateway's own answer has status %d, want 400..599", i, resp.StatusCode)
				}
				if berr == nil && method != http.MethodHead && !bytes.Contains(body, []byte(errorInfo)) {
					failf("response %d: the gateway's answer %q does not name the logged error_info %s", i, body, errorInfo)
				}
			} else if serverStatus != strconv.Itoa(resp.StatusCode) {
				failf("response %d: status %d, the log's serverStatus %s", i, resp.StatusCode, serverStatus)
			}
			if berr == nil && resp.Close && peekMore(br) {
				i++
				failf("%d bytes after response %d, which said Connection: close: %q", br.Buffered(), i-1, truncate(restOf(br), 200))
				break
			}
			if berr != nil {
				i++
				if !reset {
					if cause == proxy.CauseNone {
						failf("response %d is cut short (%v) but logged as a success: %v", i-1, berr, l)
					}
					if rest := restOf(br); len(rest) > 0 {
						failf("%d bytes after a response cut short: %q", len(rest), truncate(rest, 200))
					}
				}
				break
			}
		}
		// Lines after the responses the client got: requests it never
		// got an answer to, which the gateway must have logged as the
		// client's close.
		for j := i; j < len(lines) && !reset; j++ {
			if cause, _ := lines[j]["cause"].(string); cause != proxy.CauseClientClosed {
				failf("access-log line %d has no response the client received: %v", j, lines[j])
			}
		}
		if len(fails) > 0 {
			t.Fatalf("input %q (split %d, half-close %v):\n  %s\nresponses: %v\naccess log:\n  %v\nreceived: %q",
				data, split, halfClose, strings.Join(fails, "\n  "), resps, lines, truncate(got, 2000))
		}
		checkNoLeak(t, before)
	})
}

// peekMore reports whether br has another byte.
func peekMore(br *bufio.Reader) bool {
	_, err := br.Peek(1)
	return err == nil
}

func restOf(br *bufio.Reader) []byte {
	b, _ := io.ReadAll(br)
	return b
}
