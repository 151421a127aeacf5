package backend

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func serveFor(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return s, addr.String()
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
// (delayed) finishes after the change, under the delay it started with; the
// keep-alive of an idle period that starts after the change is the new one.
// In a synctest bubble the delay and the keep-alive timers are exact.
func TestUpdateAppliesToNewIdlePeriodsAndKeepsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 150 * time.Millisecond
		s, c, br := pipeConn(t, Config{KeepAliveTimeout: 40 * time.Millisecond, Delay: delay})
		sent := time.Now()
		got := make(chan *http.Response, 1)
		go func() {
			var resp *http.Response
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err == nil {
				if r, err := http.ReadResponse(br, nil); err == nil {
					io.Copy(io.Discard, r.Body)
					r.Body.Close()
					resp = r
				}
			}
			got <- resp
		}()
		// Every goroutine is blocked: the server has read the request and
		// waits out its delay, the client waits for the response.
		synctest.Wait()
		if time.Since(sent) != 0 {
			t.Fatalf("the request took %v of virtual time to arrive", time.Since(sent))
		}
		cfg := s.Config()
		cfg.KeepAliveTimeout, cfg.Delay = time.Hour, 0
		if err := s.Update(cfg); err != nil {
			t.Fatal(err)
		}
		if resp := <-got; resp == nil || resp.StatusCode != 200 || resp.Header.Get("Keep-Alive") != "timeout=3600" {
			t.Fatalf("in-flight request: %+v", resp)
		}
		if d := time.Since(sent); d != delay {
			t.Fatalf("in-flight request answered after %v, want the delay it started with, %v", d, delay)
		}
		// The idle period after that response uses the new hour-long
		// keep-alive: well past the old 40 ms the connection still serves.
		time.Sleep(120 * time.Millisecond)
		if resp := exchange(t, c, br); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if st := s.Stats(); st.IdleCloses != 0 {
			t.Fatalf("%d idle closes, want none under the new keep-alive", st.IdleCloses)
		}
	})
}

func TestSettingsAndTune(t *testing.T) {
	s, _ := serveFor(t, Config{KeepAliveTimeout: 50 * time.Millisecond, Close: CloseLinger})
	tune := func(body string) error {
		fields := map[string]json.RawMessage{}
		if err := json.Unmarshal([]byte(body), &fields); err != nil {
			t.Fatal(err)
		}
		return s.Tune(fields, 0.01)
	}
	if st := s.Settings(0.01); st.KeepAliveTimeout != "5s" || st.Close != "linger" {
		t.Fatalf("settings %+v (want the real-world 5s at time scale 0.01)", st)
	}
	if err := tune(`{"keepalive_timeout":"120s","close":"rst","faults":[{"kind":"hang","start_in":"10s","duration":"30s"}]}`); err != nil {
		t.Fatal(err)
	}
	if st := s.Settings(0.01); st.KeepAliveTimeout != "2m0s" || st.Close != "rst" || len(st.Faults) != 1 {
		t.Fatalf("settings after the change %+v", st)
	}
	cfg := s.Config()
	if cfg.KeepAliveTimeout != 1200*time.Millisecond || cfg.Close != CloseRST || len(cfg.Faults) != 1 ||
		cfg.Faults[0].Duration != 300*time.Millisecond || cfg.Faults[0].Start < 100*time.Millisecond {
		t.Fatalf("config in force %+v", cfg)
	}
	for body, want := range map[string]string{
		`{"close":"slam"}`:                             `close: unknown close style "slam"`,
		`{"keepalive_timeout":5}`:                      "keepalive_timeout: want a duration string",
		`{"keepalive_timeout":"-1s"}`:                  "keepalive_timeout: bad duration",
		`{"nope":1}`:                                   `unknown field "nope"`,
		`{"time_scale":1}`:                             "time_scale is read-only",
		`{"status":999}`:                               "Status",
		`{"faults":[{"kind":"melt","duration":"1s"}]}`: "melt",
	} {
		if err := tune(body); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Tune(%s): %v, want an error with %q", body, err, want)
		}
	}
	if s.Config().Close != CloseRST {
		t.Error("a rejected change altered the config")
	}
}
