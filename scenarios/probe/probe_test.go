package probe

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gwsim/gwsim/backend"
)

// serve runs a toy backend with cfg until the test ends and returns its URL.
func serve(t *testing.T, cfg backend.Config) *url.URL {
	t.Helper()
	srv, err := backend.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	u, _ := url.Parse("http://" + addr.String() + "/")
	return u
}

// TestProbeToyBackend: each close style, keep-alive off, a request limit
// and an advertised value that differs from the close, measured on gwsim's
// toy backend, whose behaviour is known exactly. The idle close is timed
// from the answer's arrival, so it is never later than the keep-alive by
// more than the backend timer's lateness, and never earlier than it by
// more than the answer's delivery: half to twice the keep-alive holds on
// any machine that can run the test.
func TestProbeToyBackend(t *testing.T) {
	const ka = 150 * time.Millisecond
	for _, tc := range []struct {
		name  string
		cfg   backend.Config
		style string
		late  string
		max   int
		adv   time.Duration
	}{
		{"fin", backend.Config{KeepAliveTimeout: ka, Close: backend.CloseFIN, MaxKeepAliveRequests: 7}, StyleFIN, LateReset, 7, time.Second},
		{"linger", backend.Config{KeepAliveTimeout: ka, Close: backend.CloseLinger, LingerTimeout: 2 * time.Second}, StyleLinger, LateDrained, 0, time.Second},
		{"rst", backend.Config{KeepAliveTimeout: ka, Close: backend.CloseRST, AdvertisedKeepAlive: 5 * time.Second}, StyleRST, "", 0, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Run(context.Background(), Options{URL: serve(t, tc.cfg), Connections: 3, MaxWait: 10 * time.Second, MaxRequests: 50})
			if err != nil {
				t.Fatal(err)
			}
			if !r.KeepAlive || len(r.IdleCloses) == 0 || r.Median < ka/2 || r.Median > 2*ka {
				t.Fatalf("keep-alive %v, idle closes %v (median %s), want about %s", r.KeepAlive, r.IdleCloses, r.Median, ka)
			}
			if r.Style != tc.style || r.LateRequest != tc.late {
				t.Errorf("style %q, late request %q; want %q, %q", r.Style, r.LateRequest, tc.style, tc.late)
			}
			if r.MaxRequests != tc.max || r.Advertised != tc.adv {
				t.Errorf("max requests %d, advertised %s; want %d, %s", r.MaxRequests, r.Advertised, tc.max, tc.adv)
			}
		})
	}
}

// TestProbeNoCloseAndOff: a server that keeps idle connections past the
// wait, and one with keep-alive off, are answers too.
func TestProbeNoCloseAndOff(t *testing.T) {
	r, err := Run(context.Background(), Options{URL: serve(t, backend.Config{IdleForever: true}), Connections: 2, MaxWait: 100 * time.Millisecond, MaxRequests: 20})
	if err != nil {
		t.Fatal(err)
	}
	if !r.KeepAlive || len(r.IdleCloses) != 0 || r.NoCloseWithin != 100*time.Millisecond || r.MaxRequests != 0 || r.Advertised != -1 {
		t.Fatalf("never closes: %+v", r)
	}
	for _, v := range Verdicts(r) {
		if v.Gateway == "appgw-v2" && v.Verdict != "unknown" {
			t.Errorf("appgw-v2 (60 s) behind a server that kept 100 ms: %+v, want unknown", v)
		}
	}
	r, err = Run(context.Background(), Options{URL: serve(t, backend.Config{}), Connections: 2, MaxWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.KeepAlive || len(r.IdleCloses) != 0 {
		t.Fatalf("keep-alive off: %+v", r)
	}
	if y := BackendYAML(r); !strings.Contains(y, "keepalive_off: true") {
		t.Errorf("backend section %q", y)
	}
}

// TestProbeVerdictsAndYAML: the verdicts are the race rule's with the
// median as the keep-alive, and the backend section states what was
// measured.
func TestProbeVerdictsAndYAML(t *testing.T) {
	r := &Result{URL: "http://x/", KeepAlive: true, IdleCloses: []time.Duration{5 * time.Second}, Median: 5 * time.Second,
		Style: StyleLinger, Advertised: 5 * time.Second, MaxRequests: 100}
	got := map[string]Verdict{}
	for _, v := range Verdicts(r) {
		got[v.Gateway] = v
	}
	if v := got["appgw-v2"]; v.Verdict != "unsafe" || v.Recommended != 90*time.Second {
		t.Errorf("appgw-v2: %+v", v)
	}
	if v := got["appgw-v1"]; v.Verdict != "unsafe" || v.Recommended != 300*time.Second {
		t.Errorf("appgw-v1: %+v", v)
	}
	y := BackendYAML(r)
	for _, want := range []string{"keepalive_timeout: 5s", "advertised_keepalive: 5s", "max_keepalive_requests: 100", "close: linger"} {
		if !strings.Contains(y, want) {
			t.Errorf("backend section lacks %q:\n%s", want, y)
		}
	}
}

// TestProbeBadURL: a URL gwsim cannot probe is an error, not a hang.
func TestProbeBadURL(t *testing.T) {
	for _, s := range []string{"ftp://x/", "127.0.0.1:80", "http:///x"} {
		u, _ := url.Parse(s)
		if _, err := Run(context.Background(), Options{URL: u}); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
	// Nothing listens: every connection fails, and the probe says so.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	u, _ := url.Parse("http://" + addr + "/")
	if _, err := Run(context.Background(), Options{URL: u, Connections: 2}); err == nil || !strings.Contains(err.Error(), "no connection got an answer") {
		t.Errorf("closed port: %v", err)
	}
}

// TestProbeGoTLS probes a real Go net/http server over https (its
// IdleTimeout 200 ms): the idle close is found through TLS, and the raw
// connection under it shows a full close (a request after it is reset).
func TestProbeGoTLS(t *testing.T) {
	const idle = 200 * time.Millisecond
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.Config.IdleTimeout = idle
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL + "/")
	r, err := Run(context.Background(), Options{URL: u, Connections: 3, MaxWait: 10 * time.Second, MaxRequests: 20, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if !r.KeepAlive || len(r.IdleCloses) == 0 || r.Median < idle/2 || r.Median > 5*idle {
		t.Fatalf("keep-alive %v, idle closes %v: want about %s", r.KeepAlive, r.IdleCloses, idle)
	}
	if r.Style != StyleFIN || r.LateRequest != LateReset || r.Advertised != -1 || r.MaxRequests != 0 {
		t.Errorf("style %q, late %q, advertised %s, max requests %d: want fin, reset, none, none", r.Style, r.LateRequest, r.Advertised, r.MaxRequests)
	}
	// Without --insecure the test server's certificate is refused: an
	// error that says so, not an answer.
	if _, err := Run(context.Background(), Options{URL: u, Connections: 1, MaxWait: time.Second}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unverified certificate: %v", err)
	}
}
