package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/gwsim/gwsim/backend"
)

// adminUnderTest is a backend's admin API served as `gwsim backend
// --admin-listen listen` serves it, on a listener the test holds.
type adminUnderTest struct {
	addr string // host:port the test connects to
	port string
}

func serveTestAdmin(t *testing.T, listen string) *adminUnderTest {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", listen, err)
	}
	t.Cleanup(func() { ln.Close() })
	reg := newRegistry()
	srv, err := backend.New(backend.Config{KeepAliveTimeout: 5 * time.Second}, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	serveAdminOn(ctx, ln, listen, reg, adminHandler(srv, 1), zap.NewNop())
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return &adminUnderTest{addr: net.JoinHostPort("127.0.0.1", port), port: port}
}

// do sends one request to the API at a.addr with the headers given (Host
// sets the Host header) and returns the status and the body.
func (a *adminUnderTest) do(t *testing.T, method, path, body string, header map[string]string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+a.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// keepAlive is the keep-alive timeout the API reports.
func (a *adminUnderTest) keepAlive(t *testing.T) string {
	t.Helper()
	code, body := a.do(t, http.MethodGet, "/admin/config", "", nil)
	var s struct {
		KeepAliveTimeout string `json:"keepalive_timeout"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &s) != nil {
		t.Fatalf("GET /admin/config: %d %s", code, body)
	}
	return s.KeepAliveTimeout
}

type adminCase struct {
	name   string
	method string
	header map[string]string
	status int
	why    string // in the one-line error
}

func (a *adminUnderTest) check(t *testing.T, tests []adminCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			change := `{"keepalive_timeout":"42s"}` // what a page would like
			if tc.status == http.StatusOK {
				change = `{"keepalive_timeout":"7s"}`
			}
			before := a.keepAlive(t)
			code, body := a.do(t, tc.method, "/admin/config", change, tc.header)
			if code != tc.status || !strings.Contains(body, tc.why) {
				t.Fatalf("%s with %v: %d %s, want %d and %q", tc.method, tc.header, code, body, tc.status, tc.why)
			}
			if tc.status != http.StatusOK {
				var e struct{ Error string }
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" || strings.Contains(e.Error, "\n") {
					t.Errorf("refusal %q is not one line of JSON {\"error\": ...}", body)
				}
				if after := a.keepAlive(t); after != before {
					t.Errorf("refused, yet the keep-alive changed from %s to %s", before, after)
				}
			}
		})
	}
}

// TestAdminRefusesWebPages: the admin API on loopback is the operator's
// tool, not a web page's. A page's cross-origin form or fetch (text/plain,
// foreign Origin) and a DNS-rebound name are refused and change nothing;
// the operator's own requests pass.
func TestAdminRefusesWebPages(t *testing.T) {
	a := serveTestAdmin(t, "127.0.0.1:0")
	jsonOnly := map[string]string{"Content-Type": "application/json"}
	with := func(kv ...string) map[string]string {
		h := map[string]string{"Content-Type": "application/json"}
		for i := 0; i+1 < len(kv); i += 2 {
			h[kv[i]] = kv[i+1]
		}
		return h
	}
	a.check(t, []adminCase{
		// Cross-origin: 403.
		{"form from a web page", http.MethodPost, map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, 403, `Origin \"http://evil.example\"`},
		{"fetch from a web page", http.MethodPatch, with("Origin", "http://evil.example"), 403, "cross-origin request refused"},
		{"page on another port", http.MethodPatch, with("Origin", "http://127.0.0.1:1"), 403, "cross-origin request refused"},
		{"https origin", http.MethodPatch, with("Origin", "https://"+a.addr), 403, "cross-origin request refused"},
		{"sandboxed page", http.MethodPatch, with("Origin", "null"), 403, "cross-origin request refused"},
		{"cross-site fetch metadata", http.MethodPatch, with("Sec-Fetch-Site", "cross-site"), 403, `Sec-Fetch-Site \"cross-site\"`},
		{"cross-origin read", http.MethodGet, with("Origin", "http://evil.example"), 403, "cross-origin request refused"},
		// Not JSON: 415.
		{"text/plain", http.MethodPatch, map[string]string{"Content-Type": "text/plain"}, 415, `PATCH needs Content-Type: application/json, got \"text/plain\"`},
		{"form encoded", http.MethodPost, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "needs Content-Type: application/json"},
		{"no content type", http.MethodPut, nil, 415, `PUT needs Content-Type: application/json, got \"\"`},
		// Host: 421.
		{"DNS rebinding", http.MethodPatch, with("Host", "evil.example:"+a.port), 421, `Host \"evil.example:` + a.port + `\" is not this admin API's address (want localhost, 127.0.0.1 or [::1], port ` + a.port + `)`},
		{"DNS rebinding read", http.MethodGet, with("Host", "evil.example:"+a.port), 421, "is not this admin API's address"},
		{"another port", http.MethodPatch, with("Host", "127.0.0.1:1"), 421, "is not this admin API's address"},
		{"no port", http.MethodPatch, with("Host", "localhost"), 421, "is not this admin API's address"},
		{"another address", http.MethodPatch, with("Host", "10.1.2.3:"+a.port), 421, "is not this admin API's address"},
		// The operator: 200.
		{"loopback address", http.MethodPatch, jsonOnly, 200, `"keepalive_timeout": "7s"`},
		{"localhost", http.MethodPatch, with("Host", "LocalHost:"+a.port), 200, "7s"},
		{"ipv6 loopback", http.MethodPatch, with("Host", "[::1]:"+a.port), 200, "7s"},
		{"json with charset", http.MethodPost, map[string]string{"Content-Type": "application/json; charset=utf-8"}, 200, "7s"},
		{"same origin", http.MethodPatch, with("Origin", "http://localhost:"+a.port, "Sec-Fetch-Site", "same-origin"), 200, "7s"},
	})
	// /metrics and /healthz are read-only and answer any Host: Prometheus
	// scrapes by service name.
	for _, path := range []string{"/healthz", "/metrics"} {
		if code, _ := a.do(t, http.MethodGet, path, "", map[string]string{"Host": "backend1:" + a.port}); code != http.StatusOK {
			t.Errorf("GET %s by name: %d", path, code)
		}
	}
	// gwsim tune and gwsim health send what passes.
	if code, out, errOut := runCLI(t, "tune", "--backend", "http://"+a.addr, "--keepalive-timeout", "120s"); code != exitOK || !strings.Contains(out, `"keepalive_timeout": "2m0s"`) {
		t.Fatalf("tune: exit %d %s %s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "tune", "--backend", "http://localhost:"+a.port); code != exitOK || !strings.Contains(out, `"keepalive_timeout": "2m0s"`) {
		t.Fatalf("tune by name: exit %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "health", "http://"+a.addr+"/healthz"); code != exitOK {
		t.Fatalf("health: exit %d %s", code, errOut)
	}
}

// TestAdminOnUnspecifiedAddress: an admin API on 0.0.0.0 (the compose
// demo's) accepts the IP address a connection arrived on and the loopback
// names, never another name; gwsim tune, given a name, sends the address.
func TestAdminOnUnspecifiedAddress(t *testing.T) {
	a := serveTestAdmin(t, "0.0.0.0:0")
	with := func(host string) map[string]string {
		return map[string]string{"Content-Type": "application/json", "Host": host}
	}
	a.check(t, []adminCase{
		{"service name", http.MethodPatch, with("backend1:" + a.port), 421, "(want localhost, 127.0.0.1 or [::1] or this host's IP address, port " + a.port + ")"},
		{"unspecified address", http.MethodPatch, with("0.0.0.0:" + a.port), 200, "7s"},
		{"the address reached", http.MethodPatch, with("127.0.0.1:" + a.port), 200, "7s"},
		{"localhost", http.MethodPatch, with("localhost:" + a.port), 200, "7s"},
	})
	if code, out, errOut := runCLI(t, "tune", "--backend", "http://localhost:"+a.port, "--keepalive-timeout", "65s"); code != exitOK || !strings.Contains(out, `"keepalive_timeout": "1m5s"`) {
		t.Fatalf("tune by name: exit %d %s %s", code, out, errOut)
	}
}

// TestDoAdminSendsTheAddressReached: given a host name, doAdmin connects
// first and sends the IP address it reached as Host; an IP address in the
// URL is sent as it is.
func TestDoAdminSendsTheAddressReached(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hosts := make(chan string, 2)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hosts <- r.Host }), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, tc := range []struct{ url, want string }{
		{"http://localhost:" + port + "/admin/config", "127.0.0.1:" + port},
		{"http://127.0.0.1:" + port + "/admin/config", "127.0.0.1:" + port},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tc.url, nil)
		resp, err := doAdmin(req)
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", tc.url, err)
		}
		resp.Body.Close()
		cancel()
		if got := <-hosts; got != tc.want {
			t.Errorf("%s: Host %q, want %q", tc.url, got, tc.want)
		}
	}
}

// TestTuneReportsARefusal: a refusal of the guard reaches the operator as
// one line with its reason.
func TestTuneReportsARefusal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMisdirectedRequest, map[string]string{"error": "Host \"x\" is not this admin API's address\nsecond line"})
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	code, _, errOut := runCLI(t, "tune", "--backend", "http://"+ln.Addr().String())
	if code != exitRuntime || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, `421 Misdirected Request: Host "x" is not this admin API's address second line`) {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
}
