package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// actors runs gwsim commands in the background until stop.
type actors struct {
	t      *testing.T
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	fails  []string
}

func newActors(t *testing.T) *actors {
	ctx, cancel := context.WithCancel(context.Background())
	a := &actors{t: t, ctx: ctx, cancel: cancel}
	t.Cleanup(a.stop)
	return a
}

// bound is what a standalone actor reported binding. The tests give it
// port 0 (--listen 127.0.0.1:0, --admin-listen 127.0.0.1:0) and connect
// where it says: no port is picked by listening and closing, so none can be
// taken by someone else in between.
type bound struct {
	listen string // the --listen address
	admin  string // the admin API's, "" when off
}

// start runs a standalone actor (gwsim backend or proxy; args must keep
// its log at info level or lower, in JSON) and returns once it logged that
// it listens, with the addresses it bound. Its listeners are bound before
// that line, so the test can connect at once.
func (a *actors) start(args ...string) bound {
	a.t.Helper()
	log := &startLog{ready: make(chan struct{})}
	exited := make(chan struct{})
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(exited)
		var out bytes.Buffer
		if code := run(a.ctx, args, &out, log); code != exitOK {
			a.mu.Lock()
			a.fails = append(a.fails, args[0]+": "+log.String())
			a.mu.Unlock()
		}
	}()
	select {
	case <-log.ready:
		return log.bound
	case <-exited:
		a.t.Fatalf("%s exited before it listened: %s", args[0], log.String())
	case <-time.After(10 * time.Second):
		a.t.Fatalf("%s did not log that it listens within 10 s: %s", args[0], log.String())
	}
	return bound{}
}

func (a *actors) stop() {
	a.cancel()
	a.wg.Wait()
	for _, f := range a.fails {
		a.t.Errorf("actor failed: %s", f)
	}
	a.fails = nil
}

// startLog is an actor's stderr. It keeps the first and the last 32 KiB
// for failure messages (access lines come in between) and reads the JSON
// log lines up to the "<actor> listening" one for the addresses bound: the
// "admin" line's and that line's "listen".
type startLog struct {
	mu    sync.Mutex
	head  []byte
	tail  []byte        // what follows head: its last 32 to 64 KiB
	line  []byte        // the start of a line not yet ended
	bound bound         // written before ready is closed, read after
	ready chan struct{} // closed at the "... listening" line
	done  bool
}

// keepLog is how much of its start and of its end a startLog keeps.
const keepLog = 32 << 10

func (l *startLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(len(p), keepLog-len(l.head))
	l.head = append(l.head, p[:n]...)
	if l.tail = append(l.tail, p[n:]...); len(l.tail) > 2*keepLog {
		l.tail = append([]byte(nil), l.tail[len(l.tail)-keepLog:]...)
	}
	if l.done {
		return len(p), nil
	}
	l.line = append(l.line, p...)
	for {
		i := bytes.IndexByte(l.line, '\n')
		if i < 0 {
			return len(p), nil
		}
		var e struct {
			Msg    string `json:"msg"`
			Listen string `json:"listen"`
		}
		if json.Unmarshal(l.line[:i], &e) == nil && e.Listen != "" {
			switch {
			case e.Msg == "admin":
				l.bound.admin = e.Listen
			case strings.HasSuffix(e.Msg, " listening"):
				l.bound.listen = e.Listen
				l.done, l.line = true, nil
				close(l.ready)
				return len(p), nil
			}
		}
		l.line = l.line[i+1:]
	}
}

func (l *startLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.tail) > keepLog {
		return string(l.head) + "\n[...]\n" + string(l.tail[len(l.tail)-keepLog:])
	}
	return string(l.head) + string(l.tail)
}

func loadStatuses(t *testing.T, args ...string) map[string]int {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"load", "--json"}, args...)...)
	if code != exitOK {
		t.Fatalf("load: exit %d %s", code, errOut)
	}
	var lr struct {
		Status       map[string]int `json:"status"`
		ClientErrors map[string]int `json:"client_errors"`
	}
	if err := json.Unmarshal([]byte(out), &lr); err != nil {
		t.Fatal(err)
	}
	for k, n := range lr.ClientErrors {
		lr.Status["client-"+k] += n
	}
	return lr.Status
}

func metric(t *testing.T, url, name string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+" ") {
			return strings.TrimPrefix(line, name+" ")
		}
	}
	return ""
}

// TestTuneBackendKeepAliveStopsThe502s is the three-process demo on
// loopback: an Apache-like backend (5 s keep-alive) behind appgw-v2 (60 s),
// both at time scale 0.01, shows 502s under a gap sweep across the
// keep-alive; `gwsim tune` raises the backend keep-alive to 120 s while it
// runs; after two scaled idle periods the same sweep shows none.
func TestTuneBackendKeepAliveStopsThe502s(t *testing.T) {
	if testing.Short() {
		t.Skip("timing run")
	}
	a := newActors(t)
	b := a.start("backend", "--preset", "apache", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--time-scale", "0.01", "--log-level", "info")
	g := a.start("proxy", "--profile", "appgw-v2", "--listen", "127.0.0.1:0", "--backends", b.listen, "--admin-listen", "off",
		"--time-scale", "0.01", "--link-latency", "500us", "--log-level", "info")
	badmin, gaddr := b.admin, g.listen
	sweep := []string{"--target", "http://" + gaddr + "/", "--pattern", "gap-sweep", "--gap-from", "47ms", "--gap-to", "52ms", "--gap-step", "100us"}

	before := 0
	for attempt := 0; attempt < 3 && before == 0; attempt++ {
		before = loadStatuses(t, sweep...)["502"]
	}
	if before == 0 {
		t.Fatal("no 502 before the change: the demo does not show the race")
	}

	code, out, errOut := runCLI(t, "tune", "--backend", "http://"+badmin, "--keepalive-timeout", "120s")
	if code != exitOK || !strings.Contains(out, `"keepalive_timeout": "2m0s"`) {
		t.Fatalf("tune: exit %d %s %s", code, out, errOut)
	}
	if v := metric(t, "http://"+badmin, "gwsim_backend_keepalive_timeout_seconds"); v != "1.2" {
		t.Fatalf("keep-alive gauge %q after the change, want 1.2 (120 s scaled)", v)
	}
	if v := metric(t, "http://"+badmin, "gwsim_backend_config_changes_total"); v != "1" {
		t.Fatalf("config changes %q, want 1", v)
	}
	// Idle periods that began before the change still end at 50 ms: wait
	// until the backend has closed every connection it had (no load runs
	// now, so each was idle since before the change).
	open := ""
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	for deadline := time.After(10 * time.Second); open != "0"; {
		select {
		case <-poll.C:
			open = metric(t, "http://"+badmin, "gwsim_backend_open_connections")
		case <-deadline:
			t.Fatalf("the backend still has %s connections open 10 s after the sweep", open)
		}
	}
	// No 502 and no client error may remain; a 504 is the gateway's
	// 200 ms (scaled) request time-out on a busy machine, not the race.
	after := loadStatuses(t, sweep...)
	for k := range after {
		if k != "200" && k != "504" {
			t.Fatalf("after the change: %v, want 200s (before: %d × 502)", after, before)
		}
	}
	t.Logf("502s before the change %d, after %v", before, after)
}

// TestTuneRejectsBadValues: the admin API answers 400 with a clear message
// and tune exits 2 with it.
func TestTuneRejectsBadValues(t *testing.T) {
	a := newActors(t)
	b := a.start("backend", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-level", "info")
	g := a.start("proxy", "--listen", "127.0.0.1:0", "--backends", b.listen, "--admin-listen", "127.0.0.1:0", "--log-level", "info")
	badmin, gadmin := b.admin, g.admin
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--backend", "http://" + badmin, "--close", "slam"}, `rejected: close: unknown close style "slam"`},
		{[]string{"--backend", "http://" + badmin, "--status", "999"}, "rejected: "},
		{[]string{"--gateway", "http://" + gadmin, "--retry", "always"}, `rejected: retry: unknown retry policy "always"`},
		{[]string{"--gateway", "http://" + gadmin, "--keepalive-timeout", "5s"}, "--keepalive-timeout does not apply to this target"},
		{[]string{"--backend", "http://" + badmin, "--gateway", "http://" + gadmin}, "give exactly one of --backend and --gateway"},
	} {
		code, _, errOut := runCLI(t, append([]string{"tune"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("tune %v: exit %d stderr %q, want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	// Raw API: unknown field and bad duration.
	for body, want := range map[string]string{
		`{"keepalive":"5s"}`:                `unknown field \"keepalive\"`,
		`{"keepalive_timeout":"5 parsecs"}`: `bad duration`,
		`not json`:                          "want a JSON object",
	} {
		req, _ := http.NewRequest(http.MethodPatch, "http://"+badmin+"/admin/config", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), want) {
			t.Errorf("PATCH %s: %d %s, want 400 with %q", body, resp.StatusCode, b, want)
		}
	}
	// A good gateway change, and health.
	code, out, _ := runCLI(t, "tune", "--gateway", "http://"+gadmin, "--backend-idle-timeout", "30s", "--retry", "idempotent")
	if code != exitOK || !strings.Contains(out, `"backend_idle_timeout": "30s"`) || !strings.Contains(out, `"retry": "idempotent"`) {
		t.Fatalf("gateway tune: exit %d %s", code, out)
	}
	if code, _, _ := runCLI(t, "health", "http://"+gadmin+"/healthz"); code != exitOK {
		t.Fatalf("health: exit %d", code)
	}
	if code, _, _ := runCLI(t, "health", "http://"+gadmin+"/nope"); code != exitRuntime {
		t.Fatalf("health of a 404: exit %d, want 1", code)
	}
}
