package scenarios

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Real actors: a server the user runs (backend.url, gateway.url), or one
// gwsim starts (command). They run in real time and leave no events. For a
// real backend the explanation engine names the race from idle ages that
// fit the keep-alive measured just before the run (or the one declared); a
// real gateway's failures are counted by the statuses the client got.

// DefaultReadyTimeout is how long gwsim waits for a backend it started to
// accept connections.
const DefaultReadyTimeout = 10 * time.Second

// maxReadyTimeout bounds backend.ready_timeout.
const maxReadyTimeout = 5 * time.Minute

// realOnly are the backend fields a real backend may have beside url.
var realOnly = []string{"url", "command", "env", "ready_timeout", "keepalive_timeout"}

// checkRealActor checks what a real gateway and a real backend share:
// url, command, env and ready_timeout under section.
func checkRealActor(section, rawURL string, command []string, env map[string]string, ready *Duration) error {
	if rawURL == "" {
		return ferr(section+".url", "command, env and ready_timeout need url: the address the real %s answers on", section)
	}
	if _, err := realAddr(rawURL); err != nil {
		return ferr(section+".url", "%v", err)
	}
	if len(command) > 0 && command[0] == "" {
		return ferr(section+".command", "the program (its first word) is empty")
	}
	for k := range env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return ferr(section+".env", "bad variable name %q", k)
		}
	}
	if ready != nil && (ready.D() <= 0 || ready.D() > maxReadyTimeout) {
		return ferr(section+".ready_timeout", "want > 0 and at most %s, got %s", maxReadyTimeout, ready.D())
	}
	return nil
}

// checkRealTime refuses a time scale for a scenario with a real actor.
func (s *Scenario) checkRealTime(section string) error {
	if !s.TimeScale.Auto && s.pos.has("time_scale") && s.TimeScale.Factor != 1 {
		return ferr("time_scale", "a %s given by url runs in real time: 1 or auto, got %g", section, s.TimeScale.Factor)
	}
	return nil
}

// checkRealBackend validates a backend given by url.
func (s *Scenario) checkRealBackend() error {
	b := s.Backend
	if err := checkRealActor("backend", b.URL, b.Command, b.Env, b.ReadyTimeout); err != nil {
		return err
	}
	for _, f := range []string{"preset", "keepalive_off", "tick", "advertised_keepalive", "advertise", "max_keepalive_requests", "close", "race_trap", "delay", "status", "response_size", "faults", "listen"} {
		if s.pos.has("backend." + f) {
			return ferr("backend."+f, "describes gwsim's backend; a backend given by url behaves as it does (beside url only %s apply)", strings.Join(realOnly[1:], ", "))
		}
	}
	if b.KeepaliveTimeout != nil && b.KeepaliveTimeout.D() <= 0 {
		return ferr("backend.keepalive_timeout", "with url it is the keep-alive the backend is expected to have: > 0, got %s", b.KeepaliveTimeout.D())
	}
	if s.Gateway.Members > 1 {
		return ferr("gateway.members", "a backend given by url is one member, got %d", s.Gateway.Members)
	}
	return s.checkRealTime("backend")
}

// checkRealGateway validates a gateway given by url.
func (s *Scenario) checkRealGateway() error {
	g := s.Gateway
	if err := checkRealActor("gateway", g.URL, g.Command, g.Env, g.ReadyTimeout); err != nil {
		return err
	}
	for _, f := range []string{"client_keepalive_timeout", "request_timeout", "client_request_timeout", "retry", "pool_order", "members", "race_status", "timeout_status", "timeout_tries_other_member", "reuse", "silent_close_on_later_request"} {
		if s.pos.has("gateway." + f) {
			return ferr("gateway."+f, "describes gwsim's gateway; a gateway given by url behaves as it does (beside url only preset and backend_idle_timeout apply: what it is expected to be)")
		}
	}
	if !s.Backend.Real() && s.Backend.Listen == "" {
		return ferr("backend.listen", "a gateway given by url reaches gwsim's backend at a fixed address: set backend.listen to the one its configuration names")
	}
	for _, f := range []string{"causes", "only_causes"} {
		if s.pos.has("expect." + f) {
			return ferr("expect."+f, "a gateway given by url is not observed from inside: expect its statuses (and client errors)")
		}
	}
	return s.checkRealTime("gateway")
}

// realAddr is the host:port of a real actor's url.
func realAddr(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q: %v", raw, err)
	}
	if u.Scheme != "http" || u.Hostname() == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("%q: want http://host:port/ (plain HTTP/1.1; requests keep the load's path)", raw)
	}
	return u.Host, nil
}

// realActor is a real gateway or backend for one run: its address, and
// the process gwsim started for it, if any.
type realActor struct {
	what string
	addr string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
}

// startReal starts a real actor's command, if any, and waits until its
// url accepts connections; what names it in messages (gateway, backend).
func startReal(ctx context.Context, what, rawURL string, command []string, env map[string]string, readyTimeout *Duration) (*realActor, error) {
	addr, err := realAddr(rawURL)
	if err != nil {
		return nil, err
	}
	rb := &realActor{what: what, addr: addr, out: &tailBuffer{max: 64 << 10}}
	exited := make(chan error, 1)
	if len(command) > 0 {
		cmd := exec.Command(command[0], command[1:]...)
		cmd.Env = os.Environ()
		for _, k := range slices.Sorted(maps.Keys(env)) {
			cmd.Env = append(cmd.Env, k+"="+env[k])
		}
		cmd.Stdout, cmd.Stderr = rb.out, rb.out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its children, stopped as a group
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start the %s %q: %w", what, command[0], err)
		}
		rb.cmd, rb.done = cmd, make(chan struct{})
		go func() { exited <- cmd.Wait(); close(rb.done) }()
	}
	ready := readyTimeout.or(DefaultReadyTimeout)
	deadline := time.Now().Add(ready)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return rb, nil
		}
		select {
		case werr := <-exited:
			return nil, fmt.Errorf("the %s exited before it answered on %s (%v): %s", what, addr, werr, rb.out.String())
		case <-ctx.Done():
			rb.stop()
			return nil, ctx.Err()
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			rb.stop()
			return nil, fmt.Errorf("the %s did not answer on %s within %s (%s.ready_timeout): %v%s", what, addr, ready, what, err, rb.output())
		}
	}
}

// stop ends the process gwsim started, if any: SIGTERM to its group, then
// SIGKILL after 5 s.
func (rb *realActor) stop() {
	if rb.cmd == nil {
		return
	}
	_ = syscall.Kill(-rb.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-rb.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-rb.cmd.Process.Pid, syscall.SIGKILL)
		<-rb.done
	}
}

// output is what the started process wrote, for an error message.
func (rb *realActor) output() string {
	if rb == nil || rb.cmd == nil {
		return ""
	}
	if s := strings.TrimSpace(rb.out.String()); s != "" {
		return "; its output: " + s
	}
	return ""
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

var errRealScale = errors.New("a gateway or backend given by url runs in real time: --time-scale must be 1")

// realCloseLimit bounds the wait for a real backend's idle close when it
// declares no keep-alive.
const realCloseLimit = 2 * time.Minute

// measureRealClose measures a real backend's idle close before the run
// (MeasureClose): the sweep's centre and, when the scenario declares no
// keep-alive, the keep-alive the analysis knows. With a declared one, a
// failed measurement falls back to it; without, the run cannot aim and
// says so.
func (r *Result) measureRealClose(ctx context.Context, rb *realActor) error {
	declared := r.Backend.KeepAliveTimeout
	limit := realCloseLimit
	if declared > 0 {
		limit = 2*declared + 5*time.Second
	}
	measured, err := MeasureClose(ctx, rb.addr, limit)
	switch {
	case err != nil && declared > 0:
		measured = declared
	case err != nil:
		return fmt.Errorf("measure the idle close of the backend at %s (declare backend.keepalive_timeout to run without it): %w%s", rb.addr, err, rb.output())
	}
	if declared == 0 {
		r.Backend.KeepAliveTimeout = measured
		declared = measured
	}
	r.Timing.BackendClose, r.Timing.BackendKeepAlive = measured, declared
	return nil
}
