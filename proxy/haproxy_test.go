package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
)

// TestReuseSafeAndSilentClose: the haproxy preset's two behaviours, on
// the race trap (every reuse of an expired backend connection meets the
// race). With reuse safe, a client connection's first request goes out on
// a new backend connection (no race, 200) even with an expired idle one in
// the pool; its later request reuses it, meets the race, and the client
// connection closes without a response (the client sees EOF), logged with
// status 0. With reuse always, the first request reuses and meets the race,
// answered 502 (the silent close is for later requests only).
func TestReuseSafeAndSilentClose(t *testing.T) {
	be, addr := runBackend(t, backend.Config{KeepAliveTimeout: 50 * time.Millisecond, Close: backend.CloseFIN, RaceTrap: true})
	p := profile(t, "haproxy")
	if p.Reuse != proxy.ReuseSafe || !p.SilentCloseOnLaterRequest {
		t.Fatalf("haproxy preset: reuse %q, silent close %v; want safe, true", p.Reuse, p.SilentCloseOnLaterRequest)
	}
	core, logs := observer.New(zap.InfoLevel)
	gw, url := runGateway(t, proxy.Config{Profile: p, Backends: []string{addr}}, zap.New(core), nil)
	client := proxy.NewPool(proxy.PoolConfig{})
	defer client.Close()
	do := func(close bool) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Close = close
		resp, err := client.RoundTrip(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	must := func(step string, close bool, want int) {
		t.Helper()
		if code, err := do(close); err != nil || code != want {
			t.Fatalf("%s: status %d, error %v; want %d", step, code, err, want)
		}
	}

	// One client connection, two requests: the first on a new backend
	// connection, the second, after the backend's keep-alive, on it.
	must("first request of a client connection", false, 200)
	waitFor(t, "the trap to arm", func() bool { return allArmed(be) })
	code, err := do(false)
	if err == nil || !(errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("later request meeting the race: status %d, error %v; want the client connection closed without a response", code, err)
	}
	st := gw.Stats()
	if st.RacesMet != 1 || st.Causes[proxy.CauseKeepaliveRace] != 1 || st.Responses[0] != 1 || st.Responses[502] != 0 {
		t.Fatalf("after the silent close: races %d, causes %v, responses %v; want one race logged with status 0", st.RacesMet, st.Causes, st.Responses)
	}

	// A POST whose body is still going out when the backend closes: the
	// failure surfaces as a write error (a broken pipe, a reset, or the
	// connection closed under the writer), still a silent close.
	must("first request of another client connection", false, 200)
	waitFor(t, "the trap to arm", func() bool { return allArmed(be) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(make([]byte, 4<<20)))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := client.RoundTrip(req); err == nil {
		resp.Body.Close()
		t.Fatalf("later POST meeting the race: status %d; want the client connection closed without a response", resp.StatusCode)
	}
	if st := gw.Stats(); st.RacesMet != 2 || st.Responses[0] != 2 || st.Responses[502] != 0 {
		t.Fatalf("after the POST: races %d, responses %v; want two races, both silent closes", st.RacesMet, st.Responses)
	}

	// One request per client connection: never on a reused backend
	// connection, even with an expired one idle in the pool.
	must("one request per client connection, to have an idle backend connection", true, 200)
	waitFor(t, "the trap to arm", func() bool { return allArmed(be) })
	before := be.Stats().Connections
	must("a client connection's first request with an expired idle backend connection", true, 200)
	if n := be.Stats().Connections - before; n != 1 {
		t.Fatalf("reuse safe: %d new backend connections for a first request, want 1", n)
	}
	if st := gw.Stats(); st.RacesMet != 2 {
		t.Fatalf("reuse safe: a first request met the race (%d races)", st.RacesMet)
	}

	// reuse always: the first request reuses the expired connection, meets
	// the race, and gets 502: no silent close on a first request.
	p.Reuse = proxy.ReuseAlways
	if err := gw.Update(p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the trap to arm", func() bool { return allArmed(be) })
	must("reuse always, first request on an expired connection", true, 502)
	st = gw.Stats()
	if st.RacesMet != 3 || st.Responses[502] != 1 {
		t.Fatalf("reuse always: races %d, responses %v; want 3 races, one 502", st.RacesMet, st.Responses)
	}
	var statuses []int64
	for _, e := range logs.FilterMessage("access").All() {
		if f := e.ContextMap(); f["cause"] == proxy.CauseKeepaliveRace {
			statuses = append(statuses, f["httpStatus"].(int64))
		}
	}
	if len(statuses) != 3 || statuses[0] != 0 || statuses[1] != 0 || statuses[2] != 502 {
		t.Errorf("access log of the races: statuses %v, want [0 0 502]", statuses)
	}
}

func TestParseReusePolicy(t *testing.T) {
	for in, want := range map[string]proxy.ReusePolicy{"": proxy.ReuseAlways, "always": proxy.ReuseAlways, "safe": proxy.ReuseSafe} {
		if got, err := proxy.ParseReusePolicy(in); err != nil || got != want {
			t.Errorf("ParseReusePolicy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := proxy.ParseReusePolicy("aggressive"); err == nil {
		t.Error("ParseReusePolicy(aggressive): no error")
	}
	p := proxy.Profile{RequestTimeout: time.Second, TimeoutStatus: 504, Retry: proxy.RetryNone, PoolOrder: proxy.LIFO, Reuse: "never"}
	if err := p.Validate(); err == nil {
		t.Error("Validate accepted reuse never")
	}
}
