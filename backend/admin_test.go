package backend

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func serveFor(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, ln.Addr().String()
}

func exchange(t *testing.T, c net.Conn, br *bufio.Reader) *http.Response {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestUpdateAppliesToNewIdlePeriodsAndKeepsInFlight: a request in flight
// (delayed) finishes after the change; the keep-alive of an idle period
// that starts after the change is the new one.
func TestUpdateAppliesToNewIdlePeriodsAndKeepsInFlight(t *testing.T) {
	s, addr := serveFor(t, Config{KeepAliveTimeout: 40 * time.Millisecond, Delay: 150 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	got := make(chan *http.Response, 1)
	go func() {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		got <- resp
	}()
	time.Sleep(20 * time.Millisecond) // the request is inside its delay
	cfg := s.Config()
	cfg.KeepAliveTimeout, cfg.Delay = time.Hour, 0
	if err := s.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if resp := <-got; resp == nil || resp.StatusCode != 200 || resp.Header.Get("Keep-Alive") != "timeout=3600" {
		t.Fatalf("in-flight request: %+v", resp)
	}
	// The idle period after that response uses the new hour-long keep-alive:
	// well past the old 40 ms the connection still serves.
	time.Sleep(120 * time.Millisecond)
	if resp := exchange(t, c, br); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if st := s.Stats(); st.IdleCloses != 0 {
		t.Fatalf("%d idle closes, want none under the new keep-alive", st.IdleCloses)
	}
}

func TestAdminHandler(t *testing.T) {
	s, _ := serveFor(t, Config{KeepAliveTimeout: 50 * time.Millisecond, Close: CloseLinger})
	h := s.AdminHandler(0.01)
	do := func(method, body string) (int, map[string]any) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "/admin/config", strings.NewReader(body)))
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, body, rec.Body)
		}
		return rec.Code, m
	}
	if code, m := do("GET", ""); code != 200 || m["keepalive_timeout"] != "5s" || m["close"] != "linger" {
		t.Fatalf("GET: %d %v (want the real-world 5s at time scale 0.01)", code, m)
	}
	code, m := do("PATCH", `{"keepalive_timeout":"120s","close":"rst","faults":[{"kind":"hang","start_in":"10s","duration":"30s"}]}`)
	if code != 200 || m["keepalive_timeout"] != "2m0s" || m["close"] != "rst" {
		t.Fatalf("PATCH: %d %v", code, m)
	}
	cfg := s.Config()
	if cfg.KeepAliveTimeout != 1200*time.Millisecond || cfg.Close != CloseRST || len(cfg.Faults) != 1 ||
		cfg.Faults[0].Duration != 300*time.Millisecond || cfg.Faults[0].Start < 100*time.Millisecond {
		t.Fatalf("config in force %+v", cfg)
	}
	for body, want := range map[string]string{
		`{"close":"slam"}`:            `close: unknown close style \"slam\"`,
		`{"keepalive_timeout":5}`:     "keepalive_timeout: want a duration string",
		`{"keepalive_timeout":"-1s"}`: "keepalive_timeout: bad duration",
		`{"nope":1}`:                  `unknown field \"nope\"`,
		`{"time_scale":1}`:            "time_scale is read-only",
		`{}`:                          "no field to change",
		`{"faults":[{"kind":"melt","duration":"1s"}]}`: "melt",
	} {
		code, m := do("PATCH", body)
		if code != 400 || !strings.Contains(m["error"].(string), strings.ReplaceAll(want, `\"`, `"`)) {
			t.Errorf("PATCH %s: %d %v, want 400 with %q", body, code, m, want)
		}
	}
	if code, _ := do("DELETE", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d", code)
	}
	if s.Config().Close != CloseRST {
		t.Error("a rejected change altered the config")
	}

}
