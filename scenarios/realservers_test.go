package scenarios

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/scenarios/probe"
)

// realServer is one backend preset and the real server it claims to
// describe, with what TestRealServers expects of it beyond the preset's
// own values.
type realServer struct {
	preset string   // the backend preset verified
	pkg    string   // the Debian package CI installs
	needs  []string // programs (looked up in PATH) or absolute paths it needs
	launch realLaunch
	ready  time.Duration // start-up bound (JVMs start slowly on a busy machine)
	// documented is the server's documented default keep-alive: the
	// preset's KeepAliveTimeout less it is what the server adds to its
	// setting (Node: 1 s; Puma: 0.2 s).
	documented time.Duration
	// styles the probe may see; the preset's Close must be one of them.
	styles []string
	// busyClose: a connection may also end after this many requests in
	// a row or more (0: no): Puma answers Connection: close once it has
	// served max_fast_inline (10) in a row while another connection waits.
	busyClose int
	instances []realInstance
}

// realInstance is one start of a server.
type realInstance struct {
	name      string
	keepAlive time.Duration // the keep-alive set; 0 = the server's default (the preset's value is then checked)
	worker    string        // gunicorn's worker class; "" = its default (sync)
	off       bool          // keep-alive off: every answer says Connection: close
}

// realServers are the servers Debian installs here. Short settings keep
// the test short; defaults of 6 s or less are measured too.
var realServers = []realServer{
	{
		preset: "apache", pkg: "apache2", needs: []string{apacheBin}, launch: launchApache, ready: 15 * time.Second,
		documented: 5 * time.Second, styles: []string{probe.StyleLinger},
		instances: []realInstance{{name: "KeepAliveTimeout 100ms", keepAlive: 100 * time.Millisecond}, {name: "default"}},
	},
	{
		preset: "nginx", pkg: "nginx", needs: []string{"nginx"}, launch: launchNginx, ready: 15 * time.Second,
		documented: 75 * time.Second, styles: []string{probe.StyleFIN},
		instances: []realInstance{{name: "keepalive_timeout 1s", keepAlive: time.Second}},
	},
	{
		preset: "node", pkg: "nodejs", needs: []string{"node"}, launch: launchNode, ready: 15 * time.Second,
		documented: 5 * time.Second, styles: []string{probe.StyleFIN},
		instances: []realInstance{{name: "keepAliveTimeout 1000", keepAlive: time.Second}, {name: "default"}},
	},
	{
		preset: "gunicorn-sync", pkg: "gunicorn", needs: []string{"gunicorn"}, launch: launchGunicorn, ready: 20 * time.Second,
		styles:    []string{probe.StyleFIN},
		instances: []realInstance{{name: "sync worker (the default)", off: true}},
	},
	{
		preset: "gunicorn", pkg: "gunicorn", needs: []string{"gunicorn"}, launch: launchGunicorn, ready: 20 * time.Second,
		documented: 2 * time.Second, styles: []string{probe.StyleFIN},
		instances: []realInstance{
			{name: "gthread --keep-alive 1", keepAlive: time.Second, worker: "gthread"},
			{name: "gthread default", worker: "gthread"},
		},
	},
	{
		preset: "uvicorn", pkg: "python3-uvicorn", needs: []string{debianPython, "/usr/lib/python3/dist-packages/uvicorn"}, launch: launchUvicorn, ready: 20 * time.Second,
		documented: 5 * time.Second, styles: []string{probe.StyleFIN},
		instances: []realInstance{{name: "--timeout-keep-alive 1", keepAlive: time.Second}, {name: "default"}},
	},
	{
		preset: "puma", pkg: "puma", needs: []string{"puma"}, launch: launchPuma, ready: 20 * time.Second,
		documented: 20 * time.Second, styles: []string{probe.StyleFIN}, busyClose: 10,
		instances: []realInstance{{name: "persistent_timeout 1", keepAlive: time.Second}},
	},
	{
		// Tomcat's NIO poller checks time-outs about once a second, and a
		// closed channel's socket is released at the selector's next wake:
		// a request written after the FIN is mostly drained for up to a
		// second, sometimes reset at once.
		preset: "tomcat", pkg: "tomcat10", needs: []string{"java", tomcatHome + "/bin/bootstrap.jar"}, launch: launchTomcat, ready: 150 * time.Second,
		documented: 60 * time.Second, styles: []string{probe.StyleLinger, probe.StyleFIN},
		instances: []realInstance{{name: "keepAliveTimeout 1000", keepAlive: time.Second}},
	},
	{
		preset: "jetty", pkg: "jetty9", needs: []string{"java", jettyHome + "/start.jar"}, launch: launchJetty, ready: 150 * time.Second,
		documented: 30 * time.Second, styles: []string{probe.StyleLinger},
		instances: []realInstance{{name: "idleTimeout 1000", keepAlive: time.Second}},
	},
	{
		// lighttpd compares whole seconds of a clock it reads once per
		// loop, on a loop that wakes at least once a second: an idle
		// connection closes up to about 2 s after its setting.
		preset: "lighttpd", pkg: "lighttpd", needs: []string{"lighttpd"}, launch: launchLighttpd, ready: 15 * time.Second,
		documented: 5 * time.Second, styles: []string{probe.StyleLinger},
		instances: []realInstance{{name: "max-keep-alive-idle 1", keepAlive: time.Second}, {name: "default"}},
	},
	{
		preset: "caddy", pkg: "caddy", needs: []string{"caddy"}, launch: launchCaddy, ready: 20 * time.Second,
		documented: 5 * time.Minute, styles: []string{probe.StyleFIN},
		instances: []realInstance{{name: "idle 1s", keepAlive: time.Second}},
	},
}

// TestRealServers runs each real server that has a backend preset and
// checks the preset against what the server does on loopback: when it
// closes an idle keep-alive connection (median of five connections opened
// at once, and five opened 200 ms apart to show a tick), how (FIN, or FIN
// then drain), what a request written just after the close gets, the
// Keep-Alive header with and without Connection: keep-alive, requests per
// connection, and whether the default mode keeps connections alive at all.
// Every server start is measured at once, on goroutines of their own (the
// waits are idle time; t.Parallel would allow only GOMAXPROCS of them),
// then judged in a subtest each. The figures are real time, with bounds
// wide enough for a busy two-core machine (scheduling delay, measured
// meanwhile, widens them) and narrow enough to tell a tick, an offset or a
// wrong default. A server that is not installed is skipped, except in CI,
// which installs them all.
func TestRealServers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers")
	}
	type run struct {
		addr string
		took time.Duration
		f    *realFigures
		err  error
	}
	runs := map[string]*run{}
	var wg sync.WaitGroup
	for _, srv := range realServers {
		if realMissing(srv) != nil {
			continue // skipped (or failed in CI) below
		}
		cfg, err := backend.Preset(srv.preset)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range srv.instances {
			if !realSelected(srv.preset, in.name) {
				continue
			}
			r := &run{}
			runs[srv.preset+"/"+in.name] = r
			wg.Go(func() {
				r.addr, r.took, r.err = startRealServer(t, srv.launch, in.keepAlive, in.worker, srv.ready)
				if r.err == nil {
					r.f, r.err = measureReal(t.Context(), r.addr, realEarliest(srv, in, cfg)+cfg.Tick+5*time.Second)
				}
			})
		}
	}
	wg.Wait()

	for _, srv := range realServers {
		t.Run(srv.preset, func(t *testing.T) {
			cfg, err := backend.Preset(srv.preset)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(backend.PresetVerified(srv.preset), "TestRealServers/"+srv.preset) {
				t.Errorf("preset %s: Verified %q does not name this test", srv.preset, backend.PresetVerified(srv.preset))
			}
			if !slices.Contains(srv.styles, string(cfg.Close)) {
				t.Errorf("preset %s: close %s, but the server closes %v", srv.preset, cfg.Close, srv.styles)
			}
			if err := realMissing(srv); err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("CI=true but %v: .ci/run installs the Debian package %s", err, srv.pkg)
				}
				t.Skipf("%v: apt-get install %s", err, srv.pkg)
			}
			t.Logf("%s %s", srv.pkg, debianVersion(srv.pkg))
			for _, in := range srv.instances {
				t.Run(in.name, func(t *testing.T) {
					r := runs[srv.preset+"/"+in.name]
					if r == nil {
						t.Skip("not started: -test.run did not select it when the servers started")
					}
					if r.err != nil {
						t.Fatal(r.err)
					}
					t.Logf("started in %s on %s", r.took.Round(time.Millisecond), r.addr)
					checkReal(t, srv, in, cfg, r.f)
				})
			}
		})
	}
}

// realSelected reports whether -test.run selects TestRealServers/names...,
// so that only the servers whose subtests run are started. It reads the
// pattern as the testing package does, one regular expression per level
// split at "/" (brackets and escapes aside); when unsure it says yes.
func realSelected(names ...string) bool {
	f := flag.Lookup("test.run")
	if f == nil || f.Value.String() == "" {
		return true
	}
	levels := splitLevels(f.Value.String())
	for i, name := range names {
		if i+1 >= len(levels) {
			return true
		}
		re, err := regexp.Compile(levels[i+1])
		if err != nil {
			return true
		}
		if !re.MatchString(strings.ReplaceAll(name, " ", "_")) {
			return false
		}
	}
	return true
}

// splitLevels splits a -test.run pattern at the slashes outside brackets
// and parentheses, as the testing package does.
func splitLevels(pattern string) []string {
	var levels []string
	depth, start := 0, 0
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			i++
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		case '/':
			if depth == 0 {
				levels = append(levels, pattern[start:i])
				start = i + 1
			}
		}
	}
	return append(levels, pattern[start:])
}

// realEarliest is the earliest idle close the preset claims for the
// instance: its setting (or the documented default) plus what the server
// adds to it.
func realEarliest(srv realServer, in realInstance, cfg backend.Config) time.Duration {
	setting := in.keepAlive
	if setting == 0 {
		setting = srv.documented
	}
	return setting + cfg.KeepAliveTimeout - srv.documented
}

// realMissing says what of the server is not installed; nil if nothing.
func realMissing(srv realServer) error {
	for _, n := range srv.needs {
		var err error
		if strings.HasPrefix(n, "/") {
			_, err = os.Stat(n)
		} else {
			_, err = exec.LookPath(n)
		}
		if err != nil {
			return fmt.Errorf("%s not installed (%w)", n, err)
		}
	}
	return nil
}

// debianVersion is the installed version of a Debian package, for the log.
func debianVersion(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
	if err != nil {
		return "(version unknown)"
	}
	return string(out)
}

// checkReal judges one instance's figures against the preset.
func checkReal(t *testing.T, srv realServer, in realInstance, cfg backend.Config, f *realFigures) {
	offset := cfg.KeepAliveTimeout - srv.documented
	setting := in.keepAlive
	if setting == 0 {
		setting = srv.documented
	}
	earliest := realEarliest(srv, in, cfg)
	r := f.Probe
	t.Logf("probe: keep-alive %v, idle closes %v, style %s (late request %s), advertised %s, max requests %d; staggered closes %v; without Connection: Keep-Alive %q, Connection %q; timers up to %s late",
		r.KeepAlive, r.IdleCloses, r.Style, r.LateRequest, r.Advertised, r.MaxRequests, f.Staggered, f.PlainKeepAlive, f.PlainConnection, f.Late)

	if in.off != (cfg.KeepAliveTimeout == 0 && !cfg.IdleForever) {
		t.Errorf("the preset's keep-alive is %s, the instance's %v", cfg.KeepAliveTimeout, !in.off)
	}
	if in.off {
		if r.KeepAlive || !f.PlainClose {
			t.Errorf("keep-alive on (probe %v, close without asking %v): want off, every answer Connection: close", r.KeepAlive, f.PlainClose)
		}
		return
	}
	if !r.KeepAlive || f.PlainClose || len(r.IdleCloses) < 5 || len(f.Staggered) < staggerConns {
		t.Fatalf("keep-alive %v, %d idle closes, %d staggered closes, close without asking %v: want keep-alive and every connection closed idle",
			r.KeepAlive, len(r.IdleCloses), len(f.Staggered), f.PlainClose)
	}

	// When: from the earliest close to a tick later (the preset's Tick: a
	// server that checks its time-outs on a periodic timer), with this machine's
	// scheduling delay (server and client alike) as slack.
	slack := 150*time.Millisecond + 2*f.Late
	lo, hi := earliest-30*time.Millisecond-f.Late, earliest+cfg.Tick+slack // a late client starts the idle clock late
	for _, c := range [][]time.Duration{r.IdleCloses, f.Staggered} {
		if c[0] < lo || c[len(c)-1] > hi {
			t.Errorf("idle closes %v outside %s..%s (earliest %s = setting %s + offset %s, tick %s)", c, lo, hi, earliest, setting, offset, cfg.Tick)
		}
	}
	if r.Median < lo || r.Median > hi {
		t.Errorf("median idle close %s outside %s..%s", r.Median, lo, hi)
	}
	spread := f.StaggerSpread()
	switch {
	case cfg.Tick > 0 && spread < 400*time.Millisecond:
		t.Errorf("connections idle from 0 to %s apart closed within %s of each other: want a tick's spread (at least 400 ms)", (staggerConns-1)*staggerStep, spread)
	case cfg.Tick == 0 && spread > slack:
		t.Errorf("connections idle from 0 to %s apart closed %s apart (at the same age on a timer per connection): want within %s", (staggerConns-1)*staggerStep, spread, slack)
	}

	// How.
	if !slices.Contains(srv.styles, r.Style) {
		t.Errorf("close style %q: want one of %v", r.Style, srv.styles)
	}
	wantLate := map[string]string{probe.StyleFIN: probe.LateReset, probe.StyleLinger: probe.LateDrained}[r.Style]
	if r.LateRequest != wantLate {
		t.Errorf("close %s, late request %q: want %q", r.Style, r.LateRequest, wantLate)
	}

	// Requests per connection (the probe's 0: no limit up to 1100); not
	// judged with a keep-alive a busy client may not keep busy (100 ms).
	if setting >= 500*time.Millisecond && r.MaxRequests != cfg.MaxKeepAliveRequests && (srv.busyClose == 0 || r.MaxRequests < srv.busyClose) {
		t.Errorf("requests per connection %d, preset %d (0: no limit)", r.MaxRequests, cfg.MaxKeepAliveRequests)
	}

	// What it advertises, and when: the preset's Advertise mode (the
	// timeout it states is the setting in whole seconds, rounded down).
	mode, _ := backend.ParseAdvertiseMode(string(cfg.Advertise))
	want := time.Duration(-1)
	if mode != backend.AdvertiseNever {
		want = setting.Truncate(time.Second)
	}
	if r.Advertised != want {
		t.Errorf("advertised (asked for keep-alive) %s, want %s (-1s: no Keep-Alive header; the preset advertises %s)", r.Advertised, want, mode)
	}
	if plain := f.PlainKeepAlive != ""; plain != (mode == backend.AdvertiseAlways) {
		t.Errorf("Keep-Alive header without Connection: keep-alive %q: the preset advertises %s", f.PlainKeepAlive, mode)
	}
	if in.keepAlive == 0 && mode != backend.AdvertiseNever {
		adv := cfg.AdvertisedKeepAlive
		if adv == 0 {
			adv = cfg.KeepAliveTimeout
		}
		if adv.Truncate(time.Second) != r.Advertised {
			t.Errorf("preset advertises %s, the server %s", adv, r.Advertised)
		}
	}
}
