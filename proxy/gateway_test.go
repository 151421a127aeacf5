package proxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
)

// listen returns a loopback listener.
func loopbackListener(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// runBackend runs a gwsim backend until the test ends.
func runBackend(t testing.TB, cfg backend.Config) (*backend.Server, string) {
	t.Helper()
	srv, err := backend.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln := loopbackListener(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv, ln.Addr().String()
}

// runGateway runs a gateway until the test ends.
func runGateway(t *testing.T, cfg proxy.Config, log *zap.Logger, reg prometheus.Registerer) (*proxy.Gateway, string) {
	t.Helper()
	gw, err := proxy.New(cfg, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	ln := loopbackListener(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = gw.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return gw, "http://" + ln.Addr().String() + "/"
}

func profile(t *testing.T, name string) proxy.Profile {
	t.Helper()
	p, err := proxy.LookupProfile(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// send does one request through client and returns the status and body.
func send(t *testing.T, client http.RoundTripper, method, url string, body []byte) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, b
}

// waitFor polls cond (a state change another goroutine makes) for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRaceTrap: against a race-trap backend every reused request meets the
// race, deterministically. With no retry each is a 502
// ERRORINFO_UPSTREAM_CLOSED_CONNECTION with cause keepalive-race; with the
// idempotent policy a GET is sent again on a new connection and succeeds,
// and a POST still gets its 502.
func TestRaceTrap(t *testing.T) {
	for _, style := range []backend.CloseStyle{backend.CloseFIN, backend.CloseRST, backend.CloseLinger} {
		for _, retry := range []proxy.RetryPolicy{proxy.RetryNone, proxy.RetryIdempotent} {
			t.Run(string(style)+"/"+string(retry), func(t *testing.T) {
				be, addr := runBackend(t, backend.Config{KeepAliveTimeout: 50 * time.Millisecond, Close: style, RaceTrap: true})
				p := profile(t, "appgw-v2")
				p.Retry = retry
				core, logs := observer.New(zap.InfoLevel)
				gw, url := runGateway(t, proxy.Config{Profile: p, Backends: []string{addr}}, zap.New(core), nil)
				client := proxy.NewPool(proxy.PoolConfig{})
				defer client.Close()

				const rounds = 4
				for i := 0; i < rounds; i++ {
					method, body := http.MethodGet, []byte(nil)
					if i%2 == 1 {
						method, body = http.MethodPost, []byte("payload")
					}
					// A fresh backend connection serves the first request...
					if code, _ := send(t, client, http.MethodGet, url, nil); code != 200 {
						t.Fatalf("round %d: first request on a new connection: %d", i, code)
					}
					// ...its keep-alive expires under the trap...
					waitFor(t, "the trap to arm", func() bool { return allArmed(be) })
					// ...and the gateway reuses it.
					code, _ := send(t, client, method, url, body)
					want := 502
					if retry == proxy.RetryIdempotent && method == http.MethodGet {
						want = 200
					}
					if code != want {
						t.Fatalf("round %d: reused %s got %d, want %d", i, method, code, want)
					}
				}
				st := gw.Stats()
				races := st.Races()
				if len(races) != rounds {
					t.Fatalf("%d races recorded, want %d: %+v", len(races), rounds, st.Failures)
				}
				for _, r := range races {
					// The backend's 50 ms run from the end of its write, the
					// gateway's idle time from when it finished reading the
					// response: shorter by the transit, never by more than a
					// few milliseconds.
					if r.ConnRequests < 2 || r.IdleFor < 40*time.Millisecond {
						t.Errorf("race %+v: want a reused connection idle about 50ms", r)
					}
				}
				want502 := int64(rounds)
				if retry == proxy.RetryIdempotent {
					want502 = rounds / 2
					if st.Retries != rounds/2 {
						t.Errorf("retries %d, want %d", st.Retries, rounds/2)
					}
				} else if st.Retries != 0 {
					t.Errorf("retries %d with policy none", st.Retries)
				}
				if st.Responses[502] != want502 || st.Causes[proxy.CauseKeepaliveRace] != want502 {
					t.Fatalf("responses %v causes %v: want %d × 502 keepalive-race", st.Responses, st.Causes, want502)
				}
				// A lingering close counts when its drain ends.
				waitFor(t, "the backend's trap closes", func() bool { return be.Stats().TrapCloses == rounds })
				var logged int
				for _, e := range logs.FilterMessage("access").All() {
					f := e.ContextMap()
					if f["httpStatus"] == int64(502) {
						logged++
						if f["error_info"] != proxy.ErrorInfoClosedConnection || f["cause"] != proxy.CauseKeepaliveRace || f["serverStatus"] != "-" {
							t.Errorf("access log of a race: %v", f)
						}
					}
				}
				if int64(logged) != want502 {
					t.Errorf("%d access-log lines with 502, want %d", logged, want502)
				}
			})
		}
	}
}

// allArmed reports whether every open connection of the backend has expired
// under the race trap.
func allArmed(be *backend.Server) bool {
	st := be.Stats()
	open := st.Connections - st.IdleCloses - st.MaxRequestCloses - st.KeepAliveOffCloses - st.FaultCloses
	return open > 0 && st.TrapsArmed-st.TrapCloses == open
}

// echoBackend answers with the request's body and headers it saw.
func echoBackend(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln := loopbackListener(t)
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestGatewayStreamsBodiesAndStripsHopHeaders(t *testing.T) {
	addr := echoBackend(t, func(w http.ResponseWriter, r *http.Request) {
		for _, h := range []string{"Connection", "Keep-Alive", "X-Hop", "Te", "Upgrade"} {
			if v := r.Header.Get(h); v != "" {
				http.Error(w, "hop-by-hop header forwarded: "+h, 400)
				return
			}
		}
		if r.Header.Get("X-Forwarded-For") == "" {
			http.Error(w, "no X-Forwarded-For", 400)
			return
		}
		w.Header().Set("X-End-To-End", "kept")
		_, _ = io.Copy(w, r.Body)
	})
	_, url := runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{addr}}, nil, nil)
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Connection", "X-Hop, keep-alive")
	req.Header.Set("X-Hop", "1")
	req.Header.Set("Te", "trailers")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d err %v body %.100s", resp.StatusCode, err, got)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("echoed %d bytes, want the %d sent", len(got), len(body))
	}
	if resp.Header.Get("X-End-To-End") != "kept" {
		t.Fatalf("response headers %v: end-to-end headers must stay", resp.Header)
	}
}

// TestGatewayTimeouts: a hung backend times out; V1 answers 502 at once, V2
// tries the other member and then answers 504.
func TestGatewayTimeouts(t *testing.T) {
	hang := backend.Config{KeepAliveTimeout: time.Minute, Faults: []backend.Fault{{Kind: backend.FaultHang, Duration: time.Hour}}}
	for _, tc := range []struct {
		profile  string
		status   int
		attempts int64
	}{{"appgw-v1", 502, 1}, {"appgw-v2", 504, 2}} {
		t.Run(tc.profile, func(t *testing.T) {
			b1, a1 := runBackend(t, hang)
			b2, a2 := runBackend(t, hang)
			p := profile(t, tc.profile)
			p.RequestTimeout = 50 * time.Millisecond
			gw, url := runGateway(t, proxy.Config{Profile: p, Backends: []string{a1, a2}}, nil, nil)
			client := proxy.NewPool(proxy.PoolConfig{})
			defer client.Close()
			if code, _ := send(t, client, "GET", url, nil); code != tc.status {
				t.Fatalf("status %d, want %d", code, tc.status)
			}
			st := gw.Stats()
			if st.Causes[proxy.CauseBackendTimeout] != 1 {
				t.Fatalf("causes %v, want one backend-timeout", st.Causes)
			}
			if got := b1.Stats().Connections + b2.Stats().Connections; got != tc.attempts {
				t.Fatalf("%d backend connections, want %d attempts", got, tc.attempts)
			}
		})
	}
}

func TestGatewayConnectFailures(t *testing.T) {
	ln := loopbackListener(t)
	dead := ln.Addr().String()
	ln.Close() // nothing listens here now: connection refused
	reg := prometheus.NewRegistry()
	gw, url := runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{dead}}, nil, reg)
	client := proxy.NewPool(proxy.PoolConfig{})
	defer client.Close()
	if code, body := send(t, client, "GET", url, nil); code != 502 || !strings.Contains(string(body), proxy.ErrorInfoNoLive) {
		t.Fatalf("refused backend: %d %q", code, body)
	}
	if c := gw.Stats().Causes; c[proxy.CauseConnectRefused] != 1 {
		t.Fatalf("causes %v, want connect-refused", c)
	}
	want := `
# HELP gwsim_proxy_responses_total Responses the gateway sent (or logged, for client-closed), by status code and cause (none when the backend answered).
# TYPE gwsim_proxy_responses_total counter
gwsim_proxy_responses_total{cause="connect-refused",code="502",profile="appgw-v2"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gwsim_proxy_responses_total"); err != nil {
		t.Fatal(err)
	}

	_, url = runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2")}, nil, nil)
	if code, _ := send(t, client, "GET", url, nil); code != 502 {
		t.Fatalf("no members: %d, want 502", code)
	}
}

// TestGatewayClientClosed: a client that gives up before the backend answers
// is logged 499 by V2 with cause client-closed.
func TestGatewayClientClosed(t *testing.T) {
	_, addr := runBackend(t, backend.Config{KeepAliveTimeout: time.Minute, Delay: 5 * time.Second})
	core, logs := observer.New(zap.InfoLevel)
	gw, url := runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{addr}}, zap.New(core), nil)
	client := proxy.NewPool(proxy.PoolConfig{})
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if _, err := client.RoundTrip(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("client error %v, want its own deadline", err)
	}
	waitFor(t, "the access log line", func() bool { return logs.FilterMessage("access").Len() == 1 })
	f := logs.FilterMessage("access").All()[0].ContextMap()
	if f["httpStatus"] != int64(499) || f["error_info"] != proxy.ErrorInfoClientClosed || f["cause"] != proxy.CauseClientClosed {
		t.Fatalf("access log %v", f)
	}
	if c := gw.Stats().Causes; c[proxy.CauseClientClosed] != 1 {
		t.Fatalf("causes %v", c)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	p := profile(t, "appgw-v2")
	for name, cfg := range map[string]proxy.Config{
		"bad member":        {Profile: p, Backends: []string{"no-port"}},
		"negative latency":  {Profile: p, LinkLatency: -time.Millisecond},
		"zero profile":      {},
		"negative max conn": {Profile: p, MaxConnsPerMember: -1},
	} {
		if _, err := proxy.New(cfg, nil, nil); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	for _, s := range []string{"", "always", "LIFO "} {
		if _, err := proxy.ParseRetryPolicy(s); err == nil {
			t.Errorf("ParseRetryPolicy(%q) accepted", s)
		}
	}
	if _, err := proxy.LookupProfile("appgw-v3"); err == nil || !strings.Contains(err.Error(), "appgw-v1 or appgw-v2") {
		t.Errorf("LookupProfile(appgw-v3): %v", err)
	}

}

// TestGatewayMetricsAndAccessLog: one fresh exchange, then one reuse into
// the race trap; the race metrics and the V2 access-log fields say so.
func TestGatewayMetricsAndAccessLog(t *testing.T) {
	be, addr := runBackend(t, backend.Config{KeepAliveTimeout: 30 * time.Millisecond, Close: backend.CloseFIN, RaceTrap: true})
	reg := prometheus.NewRegistry()
	core, logs := observer.New(zap.InfoLevel)
	_, url := runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{addr}}, zap.New(core), reg)
	client := proxy.NewPool(proxy.PoolConfig{})
	defer client.Close()
	if code, _ := send(t, client, "GET", url, nil); code != 200 {
		t.Fatalf("fresh: %d", code)
	}
	waitFor(t, "the trap to arm", func() bool { return allArmed(be) })
	if code, _ := send(t, client, "GET", url, nil); code != 502 {
		t.Fatalf("reused: %d", code)
	}
	want := `
# HELP gwsim_proxy_responses_total Responses the gateway sent (or logged, for client-closed), by status code and cause (none when the backend answered).
# TYPE gwsim_proxy_responses_total counter
gwsim_proxy_responses_total{cause="keepalive-race",code="502",profile="appgw-v2"} 1
gwsim_proxy_responses_total{cause="none",code="200",profile="appgw-v2"} 1
# HELP gwsim_proxy_upstream_closes_total Backend connections closed, by the side that closed first (gateway, backend) and reason.
# TYPE gwsim_proxy_upstream_closes_total counter
gwsim_proxy_upstream_closes_total{initiator="gateway",profile="appgw-v2",reason="request-failed"} 1
# HELP gwsim_proxy_upstream_reuses_total Requests sent on an idle backend connection taken from the pool.
# TYPE gwsim_proxy_upstream_reuses_total counter
gwsim_proxy_upstream_reuses_total{profile="appgw-v2"} 1
# HELP gwsim_proxy_upstream_connections Backend connections open now (busy and idle).
# TYPE gwsim_proxy_upstream_connections gauge
gwsim_proxy_upstream_connections{profile="appgw-v2"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gwsim_proxy_responses_total",
		"gwsim_proxy_upstream_closes_total", "gwsim_proxy_upstream_reuses_total", "gwsim_proxy_upstream_connections"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "gwsim_proxy_upstream_idle_before_reuse_seconds"); n != 1 {
		t.Fatalf("idle-before-reuse histogram: %d series", n)
	}
	lines := logs.FilterMessage("access").All()
	if len(lines) != 2 {
		t.Fatalf("%d access-log lines, want 2", len(lines))
	}
	for _, k := range []string{"clientIP", "clientPort", "httpMethod", "requestUri", "httpStatus", "serverStatus", "serverRouted",
		"upstreamSourcePort", "timeTaken", "serverResponseLatency", "receivedBytes", "sentBytes", "error_info", "cause", "conn_id"} {
		if _, ok := lines[1].ContextMap()[k]; !ok {
			t.Errorf("access log lacks %s: %v", k, lines[1].ContextMap())
		}
	}
	if f := lines[0].ContextMap(); f["error_info"] != proxy.ErrorInfoNone || f["serverStatus"] != "200" {
		t.Errorf("success line %v", f)
	}
}

// TestGatewayTune: a live change of the backend idle timeout and retry
// policy reaches the pool and the gauge; a bad value changes nothing.
func TestGatewayTune(t *testing.T) {
	reg := prometheus.NewRegistry()
	gw, err := proxy.New(proxy.Config{Profile: profile(t, "appgw-v2").Scaled(0.01), Backends: []string{"127.0.0.1:1"}}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]json.RawMessage{"backend_idle_timeout": json.RawMessage(`"30s"`), "retry": json.RawMessage(`"idempotent"`)}
	if err := gw.Tune(fields, 0.01); err != nil {
		t.Fatal(err)
	}
	if gw.Pool().IdleTimeout() != 300*time.Millisecond || gw.Profile().Retry != proxy.RetryIdempotent {
		t.Fatalf("pool idle %s, retry %s", gw.Pool().IdleTimeout(), gw.Profile().Retry)
	}
	if st := gw.Settings(0.01); st.BackendIdleTimeout != "30s" || st.ClientKeepAlive != "1m15s" {
		t.Fatalf("settings %+v", st)
	}
	want := `
# HELP gwsim_proxy_backend_idle_timeout_seconds The backend idle timeout in force, in wall seconds (0 = no limit).
# TYPE gwsim_proxy_backend_idle_timeout_seconds gauge
gwsim_proxy_backend_idle_timeout_seconds{profile="appgw-v2"} 0.3
# HELP gwsim_proxy_config_changes_total Live configuration changes applied through the admin API (dashboards show them as annotations).
# TYPE gwsim_proxy_config_changes_total counter
gwsim_proxy_config_changes_total{profile="appgw-v2"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gwsim_proxy_backend_idle_timeout_seconds", "gwsim_proxy_config_changes_total"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []map[string]json.RawMessage{
		{"retry": json.RawMessage(`"always"`)},
		{"backend_idle_timeout": json.RawMessage(`"soon"`)},
		{"client_keepalive_timeout": json.RawMessage(`"1s"`)},
		{"bogus": json.RawMessage(`1`)},
	} {
		if err := gw.Tune(bad, 1); err == nil {
			t.Errorf("Tune(%v) accepted", bad)
		}
	}
	if gw.Profile().Retry != proxy.RetryIdempotent {
		t.Error("a rejected change altered the profile")
	}
}

// rawBackend answers every connection with reply after reading the
// request head, then closes.
func rawBackend(t *testing.T, reply string) string {
	return serveRaw(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		_, _ = io.WriteString(c, reply)
	})
}

// serveRaw runs handle on every connection to a loopback listener (and
// closes the connection after it) until the test ends; it returns the
// listener's address.
func serveRaw(t *testing.T, handle func(c net.Conn)) string {
	t.Helper()
	ln := loopbackListener(t)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// TestGatewayBadBackendResponses: a response that does not parse is a 502
// backend-malformed-response; a body cut short after the head cuts the
// client connection (the status already went out) and is logged as
// backend-reset-mid-request.
func TestGatewayBadBackendResponses(t *testing.T) {
	garbage := rawBackend(t, "SMTP ready\r\n\r\n")
	gw, url := runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{garbage}}, nil, nil)
	client := proxy.NewPool(proxy.PoolConfig{})
	defer client.Close()
	if code, _ := send(t, client, "GET", url, nil); code != 502 {
		t.Fatalf("garbage response: %d, want 502", code)
	}
	if c := gw.Stats().Causes; c[proxy.CauseBackendMalformed] != 1 {
		t.Fatalf("causes %v, want backend-malformed-response", c)
	}

	short := rawBackend(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
	gw, url = runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{short}}, nil, nil)
	req, _ := http.NewRequest("GET", url, nil)
	// The gateway aborts the client connection: the client sees a broken
	// body, or nothing at all when the head was still in the gateway's
	// write buffer.
	resp, err := client.RoundTrip(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatalf("short body: the client got a complete response %d", resp.StatusCode)
	}
	waitFor(t, "the exchange to be counted", func() bool { return gw.Stats().Causes[proxy.CauseBackendResetMidRequest] == 1 })
}

// TestAccessLogReceivedBytes: receivedBytes is what the gateway read of the
// request, head and body, as Application Gateway counts it, not the
// declared Content-Length: two pipelined requests each count their own.
func TestAccessLogReceivedBytes(t *testing.T) {
	_, addr := runBackend(t, backend.Config{KeepAliveTimeout: 10 * time.Second, Close: backend.CloseFIN})
	core, logs := observer.New(zap.InfoLevel)
	_, url := runGateway(t, proxy.Config{Profile: profile(t, "appgw-v2"), Backends: []string{addr}}, zap.New(core), nil)
	host := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
	post := "POST /upload HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 11\r\n\r\nhello world"
	get := "GET /next HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n"
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, post+get); err != nil { // one write: the second head sits in the buffer while the first is read
		t.Fatal(err)
	}
	if _, err := io.ReadAll(c); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two access-log lines", func() bool { return logs.FilterMessage("access").Len() == 2 })
	lines := logs.FilterMessage("access").All()
	for i, want := range []int64{int64(len(post)), int64(len(get))} {
		if got := lines[i].ContextMap()["receivedBytes"]; got != want {
			t.Errorf("request %d: receivedBytes = %v, want %d (head and body as sent)", i, got, want)
		}
	}
}
