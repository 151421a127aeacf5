package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
)

// rawRoundTrip writes request on a new connection to addr (host:port),
// half-closes the sending side when halfClose, and returns every byte the
// gateway sent until it closed. It fails the test if the gateway neither
// answers nor closes within 10 s.
func rawRoundTrip(t *testing.T, addr, request string, halfClose bool) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		_, _ = io.WriteString(c, request)
		if halfClose {
			_ = c.(*net.TCPConn).CloseWrite()
		}
	}()
	got, err := io.ReadAll(c)
	if err != nil && !isReset(err) {
		t.Fatalf("reading the answer to %q: %v (got %q)", firstLine(request), err, got)
	}
	return string(got)
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "connection reset") }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func hostPort(url string) string {
	return strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
}

// accessLines returns the access-log lines as maps.
func accessLines(logs *observer.ObservedLogs) []map[string]any {
	var out []map[string]any
	for _, e := range logs.FilterMessage("access").All() {
		out = append(out, e.ContextMap())
	}
	return out
}

// strayBackend serves keep-alive requests and puts extra bytes after each
// complete response, in the same write: a second, unsolicited response
// (mode "second-response"), or a body on a 204 (mode "204-body"). Each
// response names the request's path.
func strayBackend(t *testing.T, mode string) string {
	return serveRaw(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			var reply string
			switch mode {
			case "second-response":
				reply = fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(req.URL.Path), req.URL.Path) +
					"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTRAY"
			case "204-body":
				reply = fmt.Sprintf("HTTP/1.1 204 No Content\r\nX-Path: %s\r\n\r\nSTRAY-BODY", req.URL.Path)
			}
			if _, err := io.WriteString(c, reply); err != nil {
				return
			}
		}
	})
}

// TestStrayBackendBytesNeverReachAnotherClient (issue 8.1): bytes a backend
// sends after a complete response make the connection unusable; they are
// never read as another request's response. Every request, from many
// concurrent clients, gets its own answer.
func TestStrayBackendBytesNeverReachAnotherClient(t *testing.T) {
	for _, mode := range []string{"second-response", "204-body"} {
		t.Run(mode, func(t *testing.T) {
			addr := strayBackend(t, mode)
			reg := prometheus.NewRegistry()
			gw, url := runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{addr}}, nil, reg)
			const clients, each = 8, 30
			var wg sync.WaitGroup
			errs := make(chan string, clients*each)
			for c := range clients {
				wg.Go(func() {
					client := proxy.NewPool(proxy.PoolConfig{})
					defer client.Close()
					for i := range each {
						path := fmt.Sprintf("/c%d-r%d", c, i)
						req, _ := http.NewRequest("GET", url+path[1:], nil)
						resp, err := client.RoundTrip(req)
						if err != nil {
							errs <- fmt.Sprintf("%s: %v", path, err)
							continue
						}
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						switch {
						case mode == "second-response" && (resp.StatusCode != 200 || string(body) != path):
							errs <- fmt.Sprintf("%s: got %d %q", path, resp.StatusCode, body)
						case mode == "204-body" && (resp.StatusCode != 204 || resp.Header.Get("X-Path") != path):
							errs <- fmt.Sprintf("%s: got %d X-Path %q", path, resp.StatusCode, resp.Header.Get("X-Path"))
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			var bad []string
			for e := range errs {
				bad = append(bad, e)
			}
			if len(bad) > 0 {
				t.Fatalf("%d of %d requests did not get their own answer, e.g. %v", len(bad), clients*each, bad[:min(5, len(bad))])
			}
			if st := gw.Stats(); len(st.Causes) != 0 {
				t.Errorf("failures %v, want none", st.Causes)
			}
			// Every connection that carried stray bytes was closed on return.
			if n := testutil.ToFloat64(mustCounter(t, reg, "gwsim_proxy_upstream_closes_total", "reason", proxy.ReasonUnsolicited)); n < 1 {
				t.Errorf("no connection closed for unsolicited bytes")
			}
		})
	}
}

// mustCounter finds the series of metric name with label=value.
func mustCounter(t *testing.T, reg *prometheus.Registry, name, label, value string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "found"})
	c.Add(total)
	return c
}

// TestClientRequestTimeout (issue 8.2): a client that stalls in its head or
// in its body gets 408 after the profile's client request time-out
// (scaled like the other durations), counted and logged as client-timeout.
func TestClientRequestTimeout(t *testing.T) {
	_, addr := runBackend(t, backend.Config{KeepAliveTimeout: time.Minute})
	p := profile(t, "appgw-v2")
	if p.ClientRequestTimeout != 60*time.Second {
		t.Fatalf("appgw-v2 client request time-out %s, want 60s (http-response-codes: 408)", p.ClientRequestTimeout)
	}
	p = p.Scaled(0.005) // 300 ms
	if p.ClientRequestTimeout != 300*time.Millisecond {
		t.Fatalf("scaled client request time-out %s, want 300ms", p.ClientRequestTimeout)
	}
	core, logs := observer.New(zap.InfoLevel)
	gw, url := runGateway(t, proxy.Config{Profile: p, Backends: []string{addr}}, zap.New(core), nil)
	for name, request := range map[string]string{
		"head": "GET / HTTP/1.1\r\nHost: x\r\n",
		"body": "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
	} {
		t.Run(name, func(t *testing.T) {
			got := rawRoundTrip(t, hostPort(url), request, false)
			if !strings.HasPrefix(got, "HTTP/1.1 408 ") {
				t.Fatalf("stalled %s: got %q, want 408", name, got)
			}
		})
	}
	if c := gw.Stats().Causes; c[proxy.CauseClientTimeout] != 2 {
		t.Fatalf("causes %v, want 2 × client-timeout", c)
	}
	for _, l := range accessLines(logs) {
		if l["httpStatus"] != int64(408) || l["cause"] != proxy.CauseClientTimeout {
			t.Errorf("access log %v", l)
		}
	}
}

// TestClientFramingErrorsAreTheClients (issue 8.3): a malformed chunked
// body on a warm pool is the client's fault: 400, cause
// client-bad-request, never the keep-alive race.
func TestClientFramingErrorsAreTheClients(t *testing.T) {
	_, addr := runBackend(t, backend.Config{KeepAliveTimeout: time.Minute})
	gw, url := runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{addr}}, nil, nil)
	client := proxy.NewPool(proxy.PoolConfig{})
	defer client.Close()
	// Rounds, because the pool once hung here when the reader of the
	// warmed connection had not yet seen the end of the warm-up exchange.
	const rounds = 20
	for i := range rounds {
		if code, _ := send(t, client, "GET", url, nil); code != 200 { // warms the pool
			t.Fatalf("round %d: warm-up: %d", i, code)
		}
		got := rawRoundTrip(t, hostPort(url), "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot hex\r\n0\r\n\r\n", false)
		if !strings.HasPrefix(got, "HTTP/1.1 400 ") {
			t.Fatalf("round %d: bad chunked body: got %q, want 400", i, got)
		}
	}
	c := gw.Stats().Causes
	if c[proxy.CauseClientBadRequest] != rounds || c[proxy.CauseKeepaliveRace] != 0 {
		t.Fatalf("causes %v, want %d client-bad-request and no race", c, rounds)
	}
}

// TestMalformedBackendStatuses: a status below 100 and a 101 nobody asked
// for are malformed responses (502), not interim ones to skip.
func TestMalformedBackendStatuses(t *testing.T) {
	for _, reply := range []string{
		"HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 12) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	} {
		addr := rawBackend(t, reply)
		gw, url := runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{addr}}, nil, nil)
		got := rawRoundTrip(t, hostPort(url), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false)
		if !strings.HasPrefix(got, "HTTP/1.1 502 ") {
			t.Errorf("backend %q: client got %q, want 502", firstLine(reply), got)
		}
		if c := gw.Stats().Causes; c[proxy.CauseBackendMalformed] != 1 {
			t.Errorf("backend %q: causes %v", firstLine(reply), c)
		}
	}
}

// TestGatewayNeverInventsAnAnswer (issue 8.4): what the client receives is
// what the gateway decided and logged. A client that half-closes after a
// whole GET is treated as gone (as nginx does): it receives nothing, and
// the log says 499. A backend body cut short reaches the client as the
// head and the bytes that came, then a close; the log says the status
// sent, the cause, and the bytes sent.
func TestGatewayNeverInventsAnAnswer(t *testing.T) {
	t.Run("half-close", func(t *testing.T) {
		_, addr := runBackend(t, backend.Config{KeepAliveTimeout: time.Minute, Delay: 5 * time.Second})
		core, logs := observer.New(zap.InfoLevel)
		_, url := runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{addr}}, zap.New(core), nil)
		got := rawRoundTrip(t, hostPort(url), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", true)
		if got != "" {
			t.Fatalf("the client got %q, want nothing", got)
		}
		waitFor(t, "the access log line", func() bool { return len(accessLines(logs)) == 1 })
		if l := accessLines(logs)[0]; l["httpStatus"] != int64(499) || l["cause"] != proxy.CauseClientClosed || l["sentBytes"] != int64(0) {
			t.Fatalf("access log %v", l)
		}
	})
	t.Run("short-body", func(t *testing.T) {
		short := rawBackend(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
		core, logs := observer.New(zap.InfoLevel)
		_, url := runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{short}}, zap.New(core), nil)
		got := rawRoundTrip(t, hostPort(url), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false)
		if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(got, "only part") {
			t.Fatalf("the client got %q, want the head and the 9 bytes that came", got)
		}
		waitFor(t, "the access log line", func() bool { return len(accessLines(logs)) == 1 })
		l := accessLines(logs)[0]
		if l["httpStatus"] != int64(200) || l["cause"] != proxy.CauseBackendResetMidRequest || l["sentBytes"] != int64(len(got)) {
			t.Fatalf("access log %v, client got %d bytes", l, len(got))
		}
	})
}

// TestFrontRejectsAreAnsweredLoggedCounted (issues 8.5, 8.6): requests the
// gateway refuses itself get the right status and a close, one access-log
// line and a count.
func TestFrontRejectsAreAnsweredLoggedCounted(t *testing.T) {
	_, addr := runBackend(t, backend.Config{KeepAliveTimeout: time.Minute})
	for _, tc := range []struct {
		name, request string
		status        int
	}{
		{"bad header line", "GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400},
		{"bad version", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"no host in 1.1", "GET / HTTP/1.1\r\n\r\n", 400},
		{"head over 1 MiB", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 1<<20+8192) + "\r\n\r\n", 431},
		{"content-length with transfer-encoding", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400},
		{"bad content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			core, logs := observer.New(zap.InfoLevel)
			_, url := runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{addr}}, zap.New(core), reg)
			got := rawRoundTrip(t, hostPort(url), tc.request, false)
			if want := fmt.Sprintf("HTTP/1.1 %d ", tc.status); !strings.HasPrefix(got, want) || !strings.Contains(got, "Connection: close\r\n") {
				t.Fatalf("got %q, want %q with Connection: close", got[:min(len(got), 200)], want)
			}
			waitFor(t, "the access log line", func() bool { return len(accessLines(logs)) == 1 })
			if l := accessLines(logs)[0]; l["httpStatus"] != int64(tc.status) || l["cause"] != proxy.CauseClientBadRequest {
				t.Fatalf("access log %v", l)
			}
			want := fmt.Sprintf(`
# HELP gwsim_proxy_responses_total Responses the gateway sent (or logged, for client-closed), by status code and cause (none when the backend answered).
# TYPE gwsim_proxy_responses_total counter
gwsim_proxy_responses_total{cause="client-bad-request",code="%d",profile="appgw-v2"} 1
`, tc.status)
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gwsim_proxy_responses_total"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// earlyAnswerBackend answers every request 413 as soon as its head arrived,
// without reading the body, and closes.
func earlyAnswerBackend(t *testing.T) string {
	return serveRaw(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbig!")
	})
}

// TestEarlyBackendAnswerReachesClient (issue 8.6): a backend that refuses
// an upload before it ends (413) is heard: the client gets the 413, not a
// 502, and the connection closes (the rest of the body is not read).
func TestEarlyBackendAnswerReachesClient(t *testing.T) {
	addr := earlyAnswerBackend(t)
	gw, url := runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{addr}}, nil, nil)
	const size = 8 << 20
	request := fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size) + strings.Repeat("u", size)
	got := rawRoundTrip(t, hostPort(url), request, false)
	if !strings.HasPrefix(got, "HTTP/1.1 413 ") || !strings.HasSuffix(got, "big!") || !strings.Contains(got, "Connection: close\r\n") {
		t.Fatalf("got %q, want the backend's 413 and a close", got)
	}
	if st := gw.Stats(); st.Responses[413] != 1 || len(st.Causes) != 0 {
		t.Fatalf("responses %v causes %v", st.Responses, st.Causes)
	}
}

// TestShutdownAnswersInFlight (issue 8.9): on shutdown a request still
// waiting for its backend when the grace ends is answered 503
// gateway-shutdown, not cut with EOF, and Serve returns.
func TestShutdownAnswersInFlight(t *testing.T) {
	be, addr := runBackend(t, backend.Config{KeepAliveTimeout: time.Minute, Delay: time.Minute})
	core, logs := observer.New(zap.InfoLevel)
	gw, err := proxy.New(proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{addr}, ShutdownGrace: 100 * time.Millisecond}, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln := loopbackListener(t)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the request to reach the backend", func() bool { return be.Stats().Requests == 1 })
	cancel()
	got, _ := io.ReadAll(c)
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 503 ")) {
		t.Fatalf("in-flight request at shutdown: got %q, want 503", got)
	}
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if l := accessLines(logs); len(l) != 1 || l[0]["cause"] != proxy.CauseGatewayShutdown {
		t.Fatalf("access log %v", l)
	}
}

// TestClientProtocolFeatures: what the client loop must keep doing that
// net/http did: pipelining (answers in order), HTTP/1.0 with and without
// keep-alive, obs-fold, Expect: 100-continue, a head just under 1 MiB, and
// a large streamed upload.
func TestClientProtocolFeatures(t *testing.T) {
	_, addr := runBackend(t, backend.Config{KeepAliveTimeout: time.Minute})
	_, url := runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{addr}}, nil, nil)
	gw := hostPort(url)
	statuses := func(got string) []string {
		var out []string
		for _, line := range strings.Split(got, "\n") {
			if strings.HasPrefix(line, "HTTP/1.1 ") {
				out = append(out, strings.TrimSuffix(line, "\r"))
			}
		}
		return out
	}
	t.Run("pipelining", func(t *testing.T) {
		got := rawRoundTrip(t, gw, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false)
		if s := statuses(got); len(s) != 3 || s[0] != "HTTP/1.1 200 OK" || s[2] != "HTTP/1.1 200 OK" {
			t.Fatalf("pipelined: %q", s)
		}
	})
	t.Run("http/1.0", func(t *testing.T) {
		got := rawRoundTrip(t, gw, "GET / HTTP/1.0\r\n\r\n", false)
		if !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.Contains(got, "Connection: close\r\n") {
			t.Fatalf("HTTP/1.0: %q", got)
		}
		got = rawRoundTrip(t, gw, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n", false)
		if s := statuses(got); len(s) != 2 || !strings.Contains(got, "Connection: keep-alive\r\n") {
			t.Fatalf("HTTP/1.0 keep-alive: %q", got)
		}
	})
	t.Run("obs-fold", func(t *testing.T) {
		got := rawRoundTrip(t, gw, "GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\nConnection: close\r\n\r\n", false)
		if !strings.HasPrefix(got, "HTTP/1.1 200 ") {
			t.Fatalf("obs-fold: %q", got)
		}
	})
	t.Run("head near 1 MiB", func(t *testing.T) {
		// The toy backend takes heads up to 64 KiB; net/http's server takes 1 MiB.
		big := echoBackend(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
		_, url := runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{big}}, nil, nil)
		got := rawRoundTrip(t, hostPort(url), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "+strings.Repeat("b", 1<<20-200)+"\r\n\r\n", false)
		if !strings.HasPrefix(got, "HTTP/1.1 200 ") {
			t.Fatalf("1 MiB head: %q", got[:min(len(got), 100)])
		}
	})
	t.Run("expect 100-continue", func(t *testing.T) {
		c, err := net.Dial("tcp", gw)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("before the body: %q %v, want 100 Continue", line, err)
		}
		if _, err := io.WriteString(c, "hello"); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(br)
		if !strings.Contains(string(rest), "HTTP/1.1 200 ") {
			t.Fatalf("after the body: %q", rest)
		}
	})
	t.Run("streamed upload", func(t *testing.T) {
		const size = 64 << 20 // above the 1 MiB replay limit: streamed, never buffered whole
		client := proxy.NewPool(proxy.PoolConfig{})
		defer client.Close()
		req, _ := http.NewRequest("POST", url, io.LimitReader(zeros{}, size))
		req.ContentLength = size
		resp, err := client.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("upload: %d", resp.StatusCode)
		}
	})
}

// zeros reads as endless zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestClientThatStopsReading: a client that stops reading its answer
// cannot hold the gateway: each write to it must complete within the
// client request time-out, then the exchange ends, logged client-timeout
// with the status that went out.
func TestClientThatStopsReading(t *testing.T) {
	huge := echoBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(256<<20))
		buf := make([]byte, 1<<20)
		for range 256 {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	})
	p := profile(t, "appgw-v2")
	p.ClientRequestTimeout = 300 * time.Millisecond
	core, logs := observer.New(zap.InfoLevel)
	_, url := runGateway(t, proxy.Config{Profile: p, Backends: []string{huge}}, zap.New(core), nil)
	c, err := net.Dial("tcp", hostPort(url))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The client reads nothing.
	waitFor(t, "the gateway to give up on the client", func() bool { return len(accessLines(logs)) == 1 })
	if l := accessLines(logs)[0]; l["httpStatus"] != int64(200) || l["cause"] != proxy.CauseClientTimeout {
		t.Fatalf("access log %v", l)
	}
}
