package scenarios

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/load"
)

// Real Apache httpd (Debian package apache2, event MPM) behind the gateway.
// CI installs the package; elsewhere the tests skip when it is missing.
const (
	apacheBin     = "/usr/sbin/apache2"
	apacheModules = "/usr/lib/apache2/modules"
)

// requireApache skips the test when Apache is not installed, except in CI
// (which installs it), where that is a failure.
func requireApache(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(apacheBin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but Apache httpd is missing (%v): CI installs apache2", err)
		}
		t.Skipf("Apache httpd not installed (%v)", err)
	}
}

// gapRange is one gap sweep: gaps from, from+step, ... to.
type gapRange struct{ from, to, step time.Duration }

// raceSweep steps the idle gap across Apache's close of an idle keep-alive
// connection with KeepAliveTimeout 100ms. Measured here (Apache 2.4.71,
// event MPM, 2 cores): Apache closes 100.4–100.8 ms after the response, and
// through the gateway (500 µs link latency each way) the 502s land at gaps
// of 97.2–99.6 ms on an idle machine, 95.2–106 ms with both cores busy. The
// range leaves 2 ms below and 4 ms above the idle-machine window; 91
// requests, about 9.3 s.
var raceSweep = gapRange{95 * time.Millisecond, 104 * time.Millisecond, 100 * time.Microsecond}

// TestApacheBehindGateway runs real Apache behind the appgw-v2 gateway (its
// backend idle timeout cut to 1 s) and sweeps the idle gap between
// sequential requests on one client connection. Apache's keep-alive shorter
// than the gateway's idle timeout gives keep-alive-race 502s; longer gives
// none, also at gaps across the gateway's own idle timeout.
func TestApacheBehindGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Apache httpd and runs timing sweeps (about 25 s)")
	}
	requireApache(t)
	tests := []struct {
		name      string
		keepAlive time.Duration // Apache KeepAliveTimeout
		sweeps    []gapRange    // run in order on one client connection
		want502   bool
		attempts  int // sweeps allowed to show a 502
	}{
		{
			name:      "KeepAliveTimeout 100ms behind appgw-v2 shows 502s",
			keepAlive: 100 * time.Millisecond,
			sweeps:    []gapRange{raceSweep},
			want502:   true,
			attempts:  3,
		},
		{
			name:      "KeepAliveTimeout above the gateway's idle timeout shows none",
			keepAlive: 2 * time.Second,
			sweeps:    []gapRange{raceSweep, {990 * time.Millisecond, 1010 * time.Millisecond, 5 * time.Millisecond}},
			attempts:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startApache(t, tt.keepAlive)
			busy := ""
			for attempt := 1; attempt <= tt.attempts; attempt++ {
				results, st, late := sweepApache(t, addr, tt.sweeps)
				var n502, clientErrs int
				for _, r := range results {
					counted := 0
					for _, n := range r.Status {
						counted += n
					}
					for _, n := range r.ClientErrors {
						counted += n
						clientErrs += n
					}
					if counted != r.Requests {
						t.Fatalf("statuses %v and client errors %v add up to %d of %d requests", r.Status, r.ClientErrors, counted, r.Requests)
					}
					n502 += r.Status[http.StatusBadGateway]
				}
				logSweep(t, attempt, results, st)
				if !tt.want502 {
					if n502 != 0 || clientErrs != 0 || len(st.Causes) != 0 {
						t.Fatalf("%d × 502 and %d client errors (gateway causes %v): want none", n502, clientErrs, st.Causes)
					}
					return
				}
				// The gateway tells the race from a reset by how soon after
				// the send the failure came (its race window, 250 ms here):
				// timers this late can push a race past it, so a mismatch
				// then is the machine's, not the gateway's, and the attempt
				// is inconclusive.
				mismatch := ""
				for cause, n := range st.Causes {
					switch {
					case cause != proxy.CauseKeepaliveRace:
						mismatch = fmt.Sprintf("gateway failure causes %v: want keepalive-race only", st.Causes)
					case int(n) != n502:
						mismatch = fmt.Sprintf("client saw %d × 502, gateway counted %d keepalive-race", n502, n)
					}
				}
				switch {
				case mismatch != "" && late < apacheRaceWindow/2:
					t.Fatal(mismatch)
				case mismatch != "":
					busy = fmt.Sprintf("%s, with timers up to %s late against the gateway's %s race window", mismatch, late, apacheRaceWindow)
					t.Logf("attempt %d inconclusive: %s", attempt, busy)
					continue
				}
				if n502 > 0 {
					return
				}
			}
			if busy != "" {
				t.Skipf("inconclusive on this machine: %s", busy)
			}
			t.Fatalf("%d sweeps across Apache's keep-alive close produced no 502", tt.attempts)
		})
	}
}

// apacheRaceWindow is the gateway's race window in front of Apache.
const apacheRaceWindow = 250 * time.Millisecond

// sweepApache runs the gap sweeps, in order, through a new appgw-v2
// gateway in front of addr on one client connection, and returns their
// results, the gateway's stats once it has stopped, and the worst timer
// lateness seen meanwhile.
func sweepApache(t *testing.T, addr string, sweeps []gapRange) ([]*load.Result, proxy.Stats, time.Duration) {
	t.Helper()
	p, err := proxy.LookupProfile("appgw-v2")
	if err != nil {
		t.Fatal(err)
	}
	p.BackendIdleTimeout = time.Second
	p.RequestTimeout = 5 * time.Second
	gw, err := proxy.New(proxy.Config{
		Profile:     p,
		Backends:    []string{addr},
		LinkLatency: 500 * time.Microsecond,
		// Apache answers a static file at once and never cuts a request it
		// holds, so every failure before a response byte on a reused
		// connection is the race. The default window (4×latency + 10 ms)
		// is too tight for a loaded 2-core machine: races were seen failing
		// 12–16 ms after the connection was taken.
		RaceWindow: apacheRaceWindow,
	}, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	gctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- gw.Serve(gctx, ln) }()
	client := proxy.NewPool(proxy.PoolConfig{IdleTimeout: 10 * time.Second})
	pctx, stopProbe := context.WithCancel(ctx)
	probe := startLatenessProbe(pctx)
	var results []*load.Result
	for _, s := range sweeps {
		r, err := load.Run(ctx, load.Config{
			Target:  "http://" + ln.Addr().String() + "/",
			Pattern: load.PatternGapSweep,
			GapFrom: s.from, GapTo: s.to, GapStep: s.step,
			Timeout: 10 * time.Second,
		}, client, nil)
		if err == nil && ctx.Err() != nil {
			err = fmt.Errorf("sweep cut short: %w", ctx.Err())
		}
		if err != nil {
			client.Close()
			stop()
			<-served
			t.Fatal(err)
		}
		results = append(results, r)
	}
	stopProbe()
	_, worst := probe.result()
	client.Close()
	stop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	return results, gw.Stats(), worst
}

// logSweep logs what a sweep attempt saw: statuses, where the 502s landed
// and the gateway's failure samples.
func logSweep(t *testing.T, attempt int, results []*load.Result, st proxy.Stats) {
	t.Helper()
	for i, r := range results {
		gaps := slices.Clone(r.Gaps502)
		slices.Sort(gaps)
		var s []string
		for _, g := range gaps {
			s = append(s, fmt.Sprintf("%.1fms", float64(g)/float64(time.Millisecond)))
		}
		t.Logf("attempt %d sweep %d: %d requests in %s, status %v, client errors %v, 502 gaps [%s]",
			attempt, i+1, r.Requests, r.Elapsed.Round(time.Millisecond), r.Status, r.ClientErrors, strings.Join(s, " "))
	}
	var maxElapsed time.Duration
	for _, f := range st.Failures {
		maxElapsed = max(maxElapsed, f.Elapsed)
	}
	t.Logf("gateway: responses %v, causes %v, %d failure samples (slowest failed %s after taking the connection)",
		st.Responses, st.Causes, len(st.Failures), maxElapsed)
}

// startApache starts Apache httpd on a free loopback port with the given
// KeepAliveTimeout, waits until it serves its page and stops it when the
// test ends. It returns host:port.
func startApache(t *testing.T, keepAlive time.Duration) string {
	t.Helper()
	dir := apacheDir(t)
	const attempts = 3
	for i := 1; ; i++ {
		addr, err := tryStartApache(t, dir, keepAlive)
		if err == nil {
			return addr
		}
		if !errors.Is(err, errApacheBind) || i == attempts {
			t.Fatal(err)
		}
		t.Logf("retrying on another port: %v", err)
	}
}

// errApacheBind is Apache failing to bind its port (taken since it was
// picked).
var errApacheBind = errors.New("apache could not bind its port")

func tryStartApache(t *testing.T, dir string, keepAlive time.Duration) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	errorLog := filepath.Join(dir, "error_log")
	_ = os.Remove(errorLog)
	conf := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(conf, []byte(apacheConf(t, dir, addr, keepAlive)), 0o644); err != nil {
		return "", err
	}
	var stderr strings.Builder
	cmd := exec.Command(apacheBin, "-f", conf, "-D", "FOREGROUND")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its children, killable as a group
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", apacheBin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	logs := func() string {
		b, _ := os.ReadFile(errorLog)
		return fmt.Sprintf("\n--- error_log ---\n%s", b)
	}

	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			out := stderr.String() + logs() // Wait has returned: stderr is complete
			if strings.Contains(out, "Address already in use") {
				return "", fmt.Errorf("%w %s: %s", errApacheBind, addr, out)
			}
			return "", fmt.Errorf("apache exited before serving (%v): %s", err, out)
		case <-tick.C:
		}
		if err := apacheServes(addr); err == nil {
			break
		} else if time.Now().After(deadline) {
			stopApache(t, cmd, exited)
			return "", fmt.Errorf("apache on %s not serving after 10 s (%v)%s", addr, err, logs())
		}
	}
	t.Cleanup(func() {
		if !stopApache(t, cmd, exited) || t.Failed() {
			t.Log(strings.TrimSpace(stderr.String() + logs()))
		}
	})
	return addr, nil
}

// stopApache stops Apache with SIGTERM (its immediate stop, children
// included) and waits up to 10 s, then kills its process group. It reports
// whether SIGTERM was enough.
func stopApache(t *testing.T, cmd *exec.Cmd, exited <-chan error) bool {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return true
	case <-time.After(10 * time.Second):
	}
	t.Errorf("apache (pid %d) did not stop within 10 s of SIGTERM; killing its process group", cmd.Process.Pid)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
	return false
}

// apacheServes checks that addr is our Apache serving index.html.
func apacheServes(addr string) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Server"), "Apache") {
		return fmt.Errorf("GET / answered %s, Server %q", resp.Status, resp.Header.Get("Server"))
	}
	return nil
}

// freePort picks a loopback port that was free a moment ago and that no
// other caller in this test process was given: servers started at once
// were handed the same port now and then (the kernel may give a port
// just closed to the next bind), and the one that lost the bind was then
// probed through the other (TestRealServers measured nginx as Gunicorn).
func freePort() (int, error) {
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		givenPortsMu.Lock()
		seen := givenPorts[port]
		givenPorts[port] = true
		givenPortsMu.Unlock()
		if !seen {
			return port, nil
		}
	}
	return 0, errors.New("no loopback port left that was not given out already")
}

var (
	givenPortsMu sync.Mutex
	givenPorts   = map[int]bool{}
)

// apacheDir makes the server root with its document root. Running as root,
// Apache's children run as an unprivileged user who must reach the files,
// and t.TempDir's parent is 0700: then the directory is made world-readable
// under os.TempDir.
func apacheDir(t *testing.T) string {
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		var err error
		if dir, err = os.MkdirTemp("", "gwsim-apache-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	docs := filepath.Join(dir, "htdocs")
	if err := os.Mkdir(docs, 0o755); err != nil {
		t.Fatal(err)
	}
	index := filepath.Join(docs, "index.html")
	if err := os.WriteFile(index, []byte("<html><body>gwsim</body></html>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(docs, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if err := os.Chmod(index, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// apacheConf is a minimal event-MPM configuration serving dir/htdocs on
// addr with keep-alive on.
func apacheConf(t *testing.T, dir, addr string, keepAlive time.Duration) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("ServerRoot %q", dir)
	line("ServerName 127.0.0.1")
	line("Listen %s", addr)
	line("PidFile %q", filepath.Join(dir, "httpd.pid"))
	line("DefaultRuntimeDir %q", dir)
	line("ErrorLog %q", filepath.Join(dir, "error_log"))
	line("LogLevel warn")
	for _, m := range []string{"mpm_event", "authz_core", "dir", "mime"} {
		line("LoadModule %s_module %q", m, filepath.Join(apacheModules, "mod_"+m+".so"))
	}
	if os.Geteuid() == 0 {
		u, g := apacheUser(t)
		line("User %s", u)
		line("Group %s", g)
	}
	line("StartServers 1")
	line("ServerLimit 2")
	line("ThreadsPerChild 16")
	line("MaxRequestWorkers 32")
	line("MinSpareThreads 8")
	line("MaxSpareThreads 32")
	line("KeepAlive On")
	line("KeepAliveTimeout %dms", keepAlive.Milliseconds())
	line("MaxKeepAliveRequests 0")
	line("TypesConfig /dev/null")
	line("AddType text/html .html")
	line("DocumentRoot %q", filepath.Join(dir, "htdocs"))
	line("<Directory %q>", filepath.Join(dir, "htdocs"))
	line("  Require all granted")
	line("</Directory>")
	line("DirectoryIndex index.html")
	return b.String()
}

// apacheUser returns an unprivileged user and group for Apache's children:
// www-data (made by the apache2 package), else nobody/nogroup.
func apacheUser(t *testing.T) (string, string) {
	for _, c := range [][2]string{{"www-data", "www-data"}, {"nobody", "nogroup"}} {
		if _, err := user.Lookup(c[0]); err != nil {
			continue
		}
		if _, err := user.LookupGroup(c[1]); err != nil {
			continue
		}
		return c[0], c[1]
	}
	t.Fatal("running as root and neither www-data nor nobody/nogroup exists for Apache's User/Group")
	return "", ""
}
