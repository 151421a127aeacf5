package scenarios

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/load"
)

// Real gateways (Debian's nginx 1.22 and HAProxy 2.6) started by a test in
// front of real Apache: their configurations, start and stop, and the gap
// sweep aimed at Apache's measured close.

// requireGatewayBin returns the path of a real gateway's binary, or skips
// the test when it is not installed or the test does not run as root
// (except in CI, which installs it and runs as root: a failure there).
func requireGatewayBin(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("starts %s and Apache", name)
	}
	requireApache(t)
	bin, err := exec.LookPath(name)
	if err == nil && os.Geteuid() != 0 {
		err = errors.New("not root")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s cannot run (%v): .ci/run installs it and runs as root", name, err)
		}
		t.Skipf("%s: %v", name, err)
	}
	return bin
}

// lockedBuffer collects a process' output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// realGW is a real gateway process a test started.
type realGW struct {
	Addr   string // host:port it listens on
	Dir    string // its files (configuration, logs)
	cmd    *exec.Cmd
	exited chan error
	out    *lockedBuffer // stdout (HAProxy's log with `log stdout`)
	errOut *lockedBuffer // stderr
	once   sync.Once
}

// Stop stops the gateway (SIGTERM; SIGKILL to its group after 10 s) and
// waits for it: its logs are then complete. It returns its standard
// output.
func (g *realGW) Stop(t *testing.T) string {
	g.once.Do(func() {
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) did not stop within 10 s of SIGTERM; killing its process group", g.cmd.Path, g.cmd.Process.Pid)
			_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
			<-g.exited
		}
	})
	return g.out.String()
}

// startRealGW starts a gateway whose configuration conf(dir, listen)
// returns, with args (after the binary) from args(dir, confPath), on a
// free loopback port (retried on another port when it could not bind),
// and waits until it answers GET / with 200. It is stopped when the test
// ends.
func startRealGW(t *testing.T, bin string, conf func(dir, listen string) string, args func(dir, confPath string) []string) *realGW {
	t.Helper()
	return startRealGWEnv(t, bin, nil, conf, args)
}

// startRealGWEnv is startRealGW with the process's environment from
// env(dir) (nil = the test's own).
func startRealGWEnv(t *testing.T, bin string, env func(dir string) []string, conf func(dir, listen string) string, args func(dir, confPath string) []string) *realGW {
	t.Helper()
	for attempt := 1; ; attempt++ {
		g, err := tryStartRealGW(t, bin, env, conf, args)
		if err == nil {
			return g
		}
		if !strings.Contains(err.Error(), "in use") || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("retrying on another port: %v", err)
	}
}

func tryStartRealGW(t *testing.T, bin string, env func(dir string) []string, conf func(dir, listen string) string, args func(dir, confPath string) []string) (*realGW, error) {
	dir := t.TempDir()
	listen := "127.0.0.1:" + freeLoopbackPort(t)
	path := filepath.Join(dir, filepath.Base(bin)+".conf")
	if err := os.WriteFile(path, []byte(conf(dir, listen)), 0o644); err != nil {
		return nil, err
	}
	g := &realGW{Addr: listen, Dir: dir, exited: make(chan error, 1), out: &lockedBuffer{}, errOut: &lockedBuffer{}}
	g.cmd = exec.Command(bin, args(dir, path)...)
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.errOut
	if env != nil {
		g.cmd.Env = env(dir)
	}
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { g.exited <- g.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-g.exited:
			g.once.Do(func() {})
			return nil, fmt.Errorf("%s exited before serving (%v): %s%s%s", bin, err, g.out.String(), g.errOut.String(), readTail(filepath.Join(dir, "error.log")))
		case <-time.After(20 * time.Millisecond): // polling its port, bounded by the deadline
		}
		if gatewayServes(listen) {
			break
		}
		if time.Now().After(deadline) {
			out := g.Stop(t)
			return nil, fmt.Errorf("%s on %s not serving after 10 s: %s%s", bin, listen, out, g.errOut.String())
		}
	}
	t.Cleanup(func() { g.Stop(t) })
	return g, nil
}

// gatewayServes reports whether GET / on addr answers 200.
func gatewayServes(addr string) bool {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// nginxGW configures real nginx as the gateway.
type nginxGW struct {
	Keepalive       bool   // upstream keepalive (a pool of idle connections to Apache); else a connection per request
	NextUpstreamOff bool   // proxy_next_upstream off; else nginx's default (error timeout: a failed idempotent request is retried)
	AccessLog       string // log_format of the access log (dir/access.log); "" = none
}

// nginxAccessFormat is nginx's "combined" followed, positionally, by the
// upstream variables gwlog's nginx reader accepts.
const nginxAccessFormat = `'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $upstream_addr $upstream_status $upstream_response_time $request_time'`

// startNginx starts nginx (one worker) in front of backend; its error
// log is Dir/error.log, its access log Dir/access.log.
func startNginx(t *testing.T, bin, backend string, c nginxGW) *realGW {
	t.Helper()
	conf := func(dir, listen string) string {
		access := "access_log off;"
		if c.AccessLog != "" {
			access = fmt.Sprintf("log_format gw %s;\n  access_log %s/access.log gw;", c.AccessLog, dir)
		}
		upstream, proxyConn := fmt.Sprintf("server %s;", backend), ""
		if c.Keepalive {
			upstream += " keepalive 16; keepalive_timeout 60s;"
			proxyConn = `proxy_http_version 1.1; proxy_set_header Connection "";`
		}
		next := ""
		if c.NextUpstreamOff {
			next = "proxy_next_upstream off;"
		}
		return fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 256; }
http {
  %[2]s
  client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
  upstream apache { %[3]s }
  server {
    listen %[4]s;
    location / {
      proxy_pass http://apache;
      %[5]s
      %[6]s
    }
  }
}
`, dir, access, upstream, listen, proxyConn, next)
	}
	return startRealGW(t, bin, conf, func(dir, path string) []string {
		return []string{"-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log")}
	})
}

// haproxyHTTPLogFormat is HAProxy 2.6's `option httplog` format
// (configuration manual 8.2.3; 2.6 has no ${HAPROXY_HTTP_LOG_FMT}).
const haproxyHTTPLogFormat = `%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r`

// haproxyGW configures real HAProxy as the gateway.
type haproxyGW struct {
	Reuse     string // http-reuse: "" = HAProxy's default (safe), or never, aggressive, always
	LogFormat string // log-format; "" = option httplog's own
}

// startHAProxy starts HAProxy in the foreground (-db), logging to its
// stdout, in front of backend.
func startHAProxy(t *testing.T, bin, backend string, c haproxyGW) *realGW {
	t.Helper()
	conf := func(dir, listen string) string {
		logFormat, reuse := "", ""
		if c.LogFormat != "" {
			logFormat = fmt.Sprintf("log-format %q", c.LogFormat)
		}
		if c.Reuse != "" {
			reuse = "http-reuse " + c.Reuse
		}
		return fmt.Sprintf(`global
  log stdout format raw local0
  maxconn 256
defaults
  mode http
  log global
  option httplog
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  %[3]s
frontend fe
  bind %[1]s
  default_backend be
backend be
  %[4]s
  server apache %[2]s
`, listen, backend, logFormat, reuse)
	}
	return startRealGW(t, bin, conf, func(dir, path string) []string { return []string{"-db", "-f", path} })
}

// apacheClose measures Apache's close of an idle keep-alive connection at
// addr, configured at keepAlive: the shortest, over 5 connections at
// once, of the time from the end of a response to the FIN (a busy
// machine makes Apache's timer late, never early: the shortest is the
// closest to the close of the connections to come). A close far before
// keepAlive is not the keep-alive timer (the event MPM closes idle
// connections early when it runs short of idle workers, as on a busy
// machine) and is left out; when every close is, keepAlive is returned.
func apacheClose(t *testing.T, addr string, keepAlive time.Duration) time.Duration {
	t.Helper()
	const n = 5
	res := make(chan time.Duration, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			d, err := idleClose(addr)
			if err != nil {
				errs <- err
				return
			}
			res <- d
		}()
	}
	var got, early []time.Duration
	for range n {
		select {
		case d := <-res:
			if d < keepAlive*9/10 {
				early = append(early, d)
				continue
			}
			got = append(got, d)
		case err := <-errs:
			t.Fatalf("measuring Apache's idle close: %v", err)
		}
	}
	if len(early) > 0 {
		t.Logf("Apache closed idle connections early (%v), before its keep-alive %s", early, keepAlive)
	}
	if len(got) == 0 {
		return keepAlive
	}
	return slices.Min(got)
}

// idleClose sends one GET on a new connection to addr and times the
// connection's close after the response.
func idleClose(addr string) (time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", addr); err != nil {
		return 0, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	resp.Body.Close()
	done := time.Now()
	if _, err := br.ReadByte(); err == nil {
		return 0, errors.New("bytes after the response")
	}
	return time.Since(done), nil
}

// sweepGW sweeps the idle gap between sequential requests through the
// gateway at addr on one client connection (a new one after any failure)
// from close+from to close+to by step, postRatio of them POST (1 KiB),
// starting none after sweepBound; perConn sends every request on a new
// client connection instead.
func sweepGW(t *testing.T, addr string, close, from, to, step time.Duration, postRatio float64, perConn bool) *load.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	client := proxy.NewPool(proxy.PoolConfig{IdleTimeout: 10 * time.Second})
	defer client.Close()
	var rt http.RoundTripper = client
	if perConn {
		rt = closingRT{client}
	}
	r, err := load.Run(ctx, load.Config{
		Target:  "http://" + addr + "/",
		Pattern: load.PatternGapSweep,
		GapFrom: close + from, GapTo: close + to, GapStep: step,
		PostRatio: postRatio,
		Duration:  sweepBound,
		Timeout:   10 * time.Second,
	}, rt, nil)
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("sweep cut short: %w", ctx.Err())
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sweepBound bounds one sweep's time: about 5.5 s on an idle machine,
// whose timers a busy one makes late.
const sweepBound = 8 * time.Second

// closingRT sends every request with Connection: close.
type closingRT struct{ rt http.RoundTripper }

func (c closingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Close = true
	return c.rt.RoundTrip(req)
}

// gaps502 formats a sweep's 502 gaps in ms.
func gaps502(r *load.Result) string {
	gaps := slices.Clone(r.Gaps502)
	slices.Sort(gaps)
	var s []string
	for _, g := range gaps {
		s = append(s, fmt.Sprintf("%.1f", float64(g)/float64(time.Millisecond)))
	}
	return "[" + strings.Join(s, " ") + "] ms"
}

// caddyGW configures real Caddy as the gateway: reverse_proxy with its
// defaults (Go's http.Transport: idle connections kept 2 min, idempotent
// requests replayed on a reused connection that failed).
type caddyGW struct{}

// startCaddy starts Caddy in the foreground in front of backend, its
// state under the test's directory; its error log (JSON lines) goes to
// stderr.
func startCaddy(t *testing.T, bin, backend string, _ caddyGW) *realGW {
	t.Helper()
	conf := func(dir, listen string) string {
		return fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n}\nhttp://%s {\n\treverse_proxy %s\n}\n", listen, backend)
	}
	env := func(dir string) []string {
		return []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir, "XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir}
	}
	return startRealGWEnv(t, bin, env, conf, func(dir, path string) []string {
		return []string{"run", "--config", path, "--adapter", "caddyfile"}
	})
}
