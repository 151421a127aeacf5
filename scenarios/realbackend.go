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

// Real backends: a server the user runs (backend.url), or starts through
// gwsim (backend.command). They run in real time and leave no events; the
// explanation engine then names the race from idle ages that fit the
// keep-alive measured just before the run (or the one declared).

// DefaultReadyTimeout is how long gwsim waits for a backend it started to
// accept connections.
const DefaultReadyTimeout = 10 * time.Second

// maxReadyTimeout bounds backend.ready_timeout.
const maxReadyTimeout = 5 * time.Minute

// realOnly are the backend fields a real backend may have beside url.
var realOnly = []string{"url", "command", "env", "ready_timeout", "keepalive_timeout"}

// checkRealBackend validates a backend given by url.
func (s *Scenario) checkRealBackend() error {
	b := s.Backend
	if !b.Real() {
		return ferr("backend.url", "command, env and ready_timeout need url: the address the real backend answers on")
	}
	if _, err := realBackendAddr(b.URL); err != nil {
		return ferr("backend.url", "%v", err)
	}
	for _, f := range []string{"preset", "keepalive_off", "advertised_keepalive", "max_keepalive_requests", "close", "race_trap", "delay", "status", "response_size", "faults"} {
		if s.pos.has("backend." + f) {
			return ferr("backend."+f, "describes gwsim's backend; a backend given by url behaves as it does (beside url only %s apply)", strings.Join(realOnly[1:], ", "))
		}
	}
	if b.KeepaliveTimeout != nil && b.KeepaliveTimeout.D() <= 0 {
		return ferr("backend.keepalive_timeout", "with url it is the keep-alive the backend is expected to have: > 0, got %s", b.KeepaliveTimeout.D())
	}
	if len(b.Command) > 0 && b.Command[0] == "" {
		return ferr("backend.command", "the program (its first word) is empty")
	}
	for k := range b.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return ferr("backend.env", "bad variable name %q", k)
		}
	}
	if b.ReadyTimeout != nil && (b.ReadyTimeout.D() <= 0 || b.ReadyTimeout.D() > maxReadyTimeout) {
		return ferr("backend.ready_timeout", "want > 0 and at most %s, got %s", maxReadyTimeout, b.ReadyTimeout.D())
	}
	if s.Gateway.Members > 1 {
		return ferr("gateway.members", "a backend given by url is one member, got %d", s.Gateway.Members)
	}
	if !s.TimeScale.Auto && s.pos.has("time_scale") && s.TimeScale.Factor != 1 {
		return ferr("time_scale", "a backend given by url runs in real time: 1 or auto, got %g", s.TimeScale.Factor)
	}
	return nil
}

// realBackendAddr is the host:port of a real backend's url.
func realBackendAddr(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q: %v", raw, err)
	}
	if u.Scheme != "http" || u.Hostname() == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("%q: want http://host:port/ (the gateway speaks plain HTTP/1.1 to it; requests keep the client's path)", raw)
	}
	return u.Host, nil
}

// realBackend is a real backend for one run: its address, and the process
// gwsim started for it, if any.
type realBackend struct {
	addr string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
}

// startRealBackend starts b's command, if any, and waits until b's url
// accepts connections.
func startRealBackend(ctx context.Context, b Backend) (*realBackend, error) {
	addr, err := realBackendAddr(b.URL)
	if err != nil {
		return nil, err
	}
	rb := &realBackend{addr: addr, out: &tailBuffer{max: 64 << 10}}
	exited := make(chan error, 1)
	if len(b.Command) > 0 {
		cmd := exec.Command(b.Command[0], b.Command[1:]...)
		cmd.Env = os.Environ()
		for _, k := range slices.Sorted(maps.Keys(b.Env)) {
			cmd.Env = append(cmd.Env, k+"="+b.Env[k])
		}
		cmd.Stdout, cmd.Stderr = rb.out, rb.out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its children, stopped as a group
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start the backend %q: %w", b.Command[0], err)
		}
		rb.cmd, rb.done = cmd, make(chan struct{})
		go func() { exited <- cmd.Wait(); close(rb.done) }()
	}
	ready := b.ReadyTimeout.or(DefaultReadyTimeout)
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
			return nil, fmt.Errorf("the backend exited before it answered on %s (%v): %s", addr, werr, rb.out.String())
		case <-ctx.Done():
			rb.stop()
			return nil, ctx.Err()
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			rb.stop()
			return nil, fmt.Errorf("the backend did not answer on %s within %s (backend.ready_timeout): %v%s", addr, ready, err, rb.output())
		}
	}
}

// stop ends the process gwsim started, if any: SIGTERM to its group, then
// SIGKILL after 5 s.
func (rb *realBackend) stop() {
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

// output is what the started backend wrote, for an error message.
func (rb *realBackend) output() string {
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

var errRealScale = errors.New("a backend given by url runs in real time: --time-scale must be 1")

// realCloseLimit bounds the wait for a real backend's idle close when it
// declares no keep-alive.
const realCloseLimit = 2 * time.Minute

// measureRealClose measures a real backend's idle close before the run
// (MeasureClose): the sweep's centre and, when the scenario declares no
// keep-alive, the keep-alive the analysis knows. With a declared one, a
// failed measurement falls back to it; without, the run cannot aim and
// says so.
func (r *Result) measureRealClose(ctx context.Context, s *Scenario, rb *realBackend) error {
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
