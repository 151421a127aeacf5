package main

// The demo stack (docker-compose.yml, deploy/) cannot drift from the CLI:
// no docker engine runs in CI, so these tests read the files and check them
// against gwsim itself.
//
//   - Every gwsim service's command and healthcheck parses with gwsim's own
//     flag sets: run(args + "--help") must print the usage. pflag parses the
//     arguments in order and returns ErrHelp only when it reaches --help, so
//     an unknown (renamed) flag or a bad value before it still fails with
//     exit 2 (TestComposeHelpSuffixStillParses pins that behaviour).
//   - The values are then checked by running the command with a context
//     that is already cancelled and its listen addresses moved to
//     127.0.0.1:0: the command validates everything (preset, profile,
//     pattern, time scale...) and returns at once; exit 2 is a usage error.
//   - Names and ports agree: the gateway's --backends and the load's
//     --target name services and their --listen ports; healthchecks and
//     Prometheus targets hit the admin or metrics port; the admin API is
//     never published beyond 127.0.0.1; service_healthy dependencies have a
//     healthcheck; bind-mounted files exist.
//   - Every PromQL query of the Grafana dashboard names only metrics that
//     gwsim's components really register.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/load"
)

// repoRoot is the module root, seen from this package's directory.
const repoRoot = "../.."

// composeFile is the part of a compose file the checks read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     any               `yaml:"command"` // a list, or a string split on spaces
	Healthcheck *composeHealth    `yaml:"healthcheck"`
	Ports       []any             `yaml:"ports"`
	DependsOn   any               `yaml:"depends_on"` // a list, or a map of {condition}
	Volumes     []any             `yaml:"volumes"`
	Environment map[string]string `yaml:"environment"`
}

type composeHealth struct {
	Test any `yaml:"test"`
}

// isGwsim tells whether a service runs the gwsim image: built from this
// repository or tagged gwsim.
func (s composeService) isGwsim() bool {
	return s.Build != nil || strings.HasPrefix(s.Image, "gwsim:") || s.Image == "gwsim"
}

// stringList turns a compose list-or-string field into a list.
func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return strings.Fields(v), nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			switch e := e.(type) {
			case string:
				out = append(out, e)
			case int, float64, bool:
				out = append(out, fmt.Sprint(e))
			default:
				return nil, fmt.Errorf("list item %v (%T): want a string", e, e)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%T: want a list or a string", v)
}

// flagValue returns the value of --name in args ("--name v" or "--name=v").
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// withFlagValue returns args with the value of --name replaced.
func withFlagValue(args []string, name, value string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		if a == "--"+name && i+1 < len(out) {
			out[i+1] = value
		} else if strings.HasPrefix(a, "--"+name+"=") {
			out[i] = "--" + name + "=" + value
		}
	}
	return out
}

// dockerEntrypoint is the ENTRYPOINT of the Dockerfile's last stage.
func dockerEntrypoint(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var ep []string
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "ENTRYPOINT "); ok {
			ep = nil
			if err := json.Unmarshal([]byte(rest), &ep); err != nil {
				return "", fmt.Errorf("%s: ENTRYPOINT %s: want the exec form [\"/path\"]: %v", path, rest, err)
			}
		}
	}
	if len(ep) != 1 {
		return "", fmt.Errorf("%s: want one ENTRYPOINT with just the gwsim binary, got %q", path, ep)
	}
	return ep[0], nil
}

// checkCommand checks that args (a gwsim command line without the binary)
// parses with gwsim's flag sets, then that its values validate. It never
// serves: --help stops it after parsing, and the value check runs with a
// cancelled context on 127.0.0.1:0.
func checkCommand(args []string) error {
	if len(args) == 0 {
		return errors.New("no gwsim subcommand")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, append(slices.Clone(args), "--help"), &out, &errOut)
	if code != exitOK {
		return fmt.Errorf("%q does not parse (exit %d): %s", strings.Join(args, " "), code, strings.TrimSpace(errOut.String()))
	}
	// A flag missing its value would have swallowed --help and run.
	if !strings.Contains(out.String(), "Usage: gwsim "+args[0]) {
		return fmt.Errorf("%q: --help did not reach the usage (a flag without its value?)", strings.Join(args, " "))
	}
	dry := slices.Clone(args)
	for _, name := range []string{"listen", "admin-listen", "metrics-listen"} {
		dry = withFlagValue(dry, name, "127.0.0.1:0")
	}
	dry = withFlagValue(dry, "events", "")
	out.Reset()
	errOut.Reset()
	done := make(chan int, 1)
	go func() { done <- run(ctx, dry, &out, &errOut) }()
	select {
	case code = <-done:
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%q did not return within 5 s of a cancelled context", strings.Join(args, " "))
	}
	if code == exitUsage {
		return fmt.Errorf("%q: a value does not validate (exit 2): %s", strings.Join(args, " "), strings.TrimSpace(firstLine(errOut.String())))
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// hostPort splits a host:port and parses the port.
func hostPort(s string) (string, int, error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("%s: port %q is not a number", s, p)
	}
	return h, n, nil
}

// gwsimService is what checkCompose learns from a gwsim service's command.
type gwsimService struct {
	sub       string          // backend, proxy, load, ...
	args      []string        // without the binary
	listen    int             // --listen port, 0 = none
	serving   map[int]string  // ports that serve /metrics and /healthz: port → flag
	dependsOn map[string]bool // name → condition service_healthy
}

// composeInputs are the files checkCompose reads.
type composeInputs struct {
	Compose    string // the compose file
	ProjectDir string // relative bind mounts resolve here (docker compose --project-directory)
	Dockerfile string // for the ENTRYPOINT the healthchecks must call
	Prometheus string // scrape targets to check; "" = none
}

// repoInputs are the repository's own files.
func repoInputs() composeInputs {
	return composeInputs{Compose: filepath.Join(repoRoot, "docker-compose.yml"), ProjectDir: repoRoot,
		Dockerfile: filepath.Join(repoRoot, "Dockerfile"), Prometheus: filepath.Join(repoRoot, "deploy/prometheus/prometheus.yml")}
}

// checkCompose checks a compose file against gwsim's CLI, the Dockerfile
// and the Prometheus file. It returns every problem found, each naming the
// service.
func checkCompose(in composeInputs) error {
	composePath := in.Compose
	b, err := os.ReadFile(composePath)
	if err != nil {
		return err
	}
	var cf composeFile
	if err := yaml.Unmarshal(b, &cf); err != nil {
		return fmt.Errorf("%s: %w", composePath, err)
	}
	if len(cf.Services) == 0 {
		return fmt.Errorf("%s: no services", composePath)
	}
	entry, err := dockerEntrypoint(in.Dockerfile)
	if err != nil {
		return err
	}
	var errs []error
	bad := func(svc, format string, a ...any) {
		errs = append(errs, fmt.Errorf("service %q: %s", svc, fmt.Sprintf(format, a...)))
	}
	names := slices.Sorted(maps.Keys(cf.Services))
	gw := map[string]*gwsimService{}
	for _, name := range names {
		s := cf.Services[name]
		info := &gwsimService{serving: map[int]string{}, dependsOn: map[string]bool{}}
		switch d := s.DependsOn.(type) {
		case []any:
			for _, e := range d {
				info.dependsOn[fmt.Sprint(e)] = false
			}
		case map[string]any:
			for dep, v := range d {
				cond, _ := v.(map[string]any)
				info.dependsOn[dep] = cond["condition"] == "service_healthy"
			}
		}
		for dep, healthy := range info.dependsOn {
			dsvc, ok := cf.Services[dep]
			if !ok {
				bad(name, "depends_on %q: no such service", dep)
			} else if healthy && dsvc.Healthcheck == nil {
				bad(name, "depends_on %q with condition service_healthy, but %q has no healthcheck", dep, dep)
			}
		}
		for _, v := range s.Volumes {
			spec, ok := v.(string)
			if !ok {
				continue
			}
			src, _, _ := strings.Cut(spec, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(in.ProjectDir, src)); err != nil {
					bad(name, "volume %q: %v", spec, err)
				}
			}
		}
		if !s.isGwsim() {
			continue
		}
		gw[name] = info
		args, err := stringList(s.Command)
		if err != nil {
			bad(name, "command: %v", err)
			continue
		}
		info.args = args
		if err := checkCommand(args); err != nil {
			bad(name, "command: %v", err)
			continue
		}
		info.sub = args[0]
		for _, flag := range []string{"listen", "admin-listen", "metrics-listen"} {
			v, ok := flagValue(args, flag)
			if !ok || v == "off" || v == "" {
				continue
			}
			host, port, err := hostPort(v)
			if err != nil {
				bad(name, "--%s %q: %v", flag, v, err)
				continue
			}
			if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
				bad(name, "--%s %q binds loopback: unreachable from the other containers (use 0.0.0.0)", flag, v)
			}
			if flag == "listen" {
				info.listen = port
			} else {
				info.serving[port] = "--" + flag
			}
		}
		if s.Healthcheck == nil {
			bad(name, "no healthcheck (want [\"CMD\", %q, \"health\", \"http://127.0.0.1:PORT/healthz\"])", entry)
		} else if test, err := stringList(s.Healthcheck.Test); err != nil {
			bad(name, "healthcheck test: %v", err)
		} else if len(test) < 3 || test[0] != "CMD" || test[1] != entry {
			bad(name, "healthcheck test %q: the image has no shell; want [\"CMD\", %q, \"health\", URL]", test, entry)
		} else if err := checkCommand(test[2:]); err != nil {
			bad(name, "healthcheck: %v", err)
		} else if test[2] == "health" {
			u, err := url.Parse(test[len(test)-1])
			if err != nil || u.Hostname() != "127.0.0.1" || u.Path != "/healthz" {
				bad(name, "healthcheck URL %q: want http://127.0.0.1:PORT/healthz", test[len(test)-1])
			} else if port, _ := strconv.Atoi(u.Port()); info.serving[port] == "" {
				bad(name, "healthcheck URL %q: port %d is not the service's --admin-listen or --metrics-listen port", u, port)
			}
		}
		for _, p := range s.Ports {
			spec, ok := p.(string)
			if !ok {
				bad(name, "ports: %v: use the short \"127.0.0.1:HOST:CONTAINER\" form", p)
				continue
			}
			parts := strings.Split(strings.TrimSuffix(spec, "/tcp"), ":")
			if len(parts) != 3 || parts[0] != "127.0.0.1" {
				bad(name, "ports %q: publish on 127.0.0.1 only (\"127.0.0.1:HOST:CONTAINER\")", spec)
				continue
			}
			if cport, _ := strconv.Atoi(parts[2]); info.serving[cport] == "--admin-listen" {
				bad(name, "ports %q publishes the admin API: keep it on the compose network", spec)
			}
		}
	}
	// References between services.
	for _, name := range names {
		info := gw[name]
		if info == nil || info.sub == "" {
			continue
		}
		refs := map[string]string{} // host:port → flag
		if v, ok := flagValue(info.args, "backends"); ok {
			for _, m := range splitList(v) {
				refs[m] = "--backends"
			}
		}
		if v, ok := flagValue(info.args, "target"); ok {
			u, err := url.Parse(v)
			if err != nil || u.Port() == "" {
				bad(name, "--target %q: want http://SERVICE:PORT/", v)
			} else {
				refs[u.Host] = "--target"
			}
		}
		for _, ref := range slices.Sorted(maps.Keys(refs)) {
			flag := refs[ref]
			host, port, err := hostPort(ref)
			if err != nil {
				bad(name, "%s %q: %v", flag, ref, err)
				continue
			}
			dst := gw[host]
			switch {
			case dst != nil && dst.sub == "":
				// Its command does not parse: reported once, above.
			case dst == nil:
				bad(name, "%s %q: no gwsim service %q", flag, ref, host)
			case dst.listen != port:
				bad(name, "%s %q: service %q listens on port %d", flag, ref, host, dst.listen)
			case !info.dependsOn[host]:
				bad(name, "%s %q: want depends_on %s: {condition: service_healthy}, so it starts after it", flag, ref, host)
			}
		}
	}
	if in.Prometheus != "" {
		errs = append(errs, checkScrapeTargets(in.Prometheus, gw)...)
	}
	return errors.Join(errs...)
}

// checkScrapeTargets checks that Prometheus scrapes every gwsim service on a
// port that serves /metrics, and nothing else.
func checkScrapeTargets(path string, gw map[string]*gwsimService) []error {
	var errs []error
	var pc struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	b, err := os.ReadFile(path)
	if err == nil {
		err = yaml.Unmarshal(b, &pc)
	}
	if err != nil {
		return []error{fmt.Errorf("%s: %w", path, err)}
	}
	scraped := map[string]bool{}
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, t := range st.Targets {
				host, port, err := hostPort(t)
				switch {
				case err != nil:
					errs = append(errs, fmt.Errorf("%s: job %q: target %q: %v", path, sc.JobName, t, err))
				case gw[host] == nil:
					errs = append(errs, fmt.Errorf("%s: job %q: target %q: no gwsim service %q", path, sc.JobName, t, host))
				case gw[host].sub == "":
					// Its command does not parse: reported with the service.
				case gw[host].serving[port] == "":
					errs = append(errs, fmt.Errorf("%s: job %q: target %q: service %q serves /metrics on %v, not %d", path, sc.JobName, t, host, slices.Sorted(maps.Keys(gw[host].serving)), port))
				default:
					scraped[host] = true
				}
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(gw)) {
		if len(gw[name].serving) > 0 && !scraped[name] {
			errs = append(errs, fmt.Errorf("%s: service %q serves /metrics but no job scrapes it", path, name))
		}
	}
	return errs
}

func TestComposeFile(t *testing.T) {
	if err := checkCompose(repoInputs()); err != nil {
		t.Fatalf("docker-compose.yml:\n%v", err)
	}
}

// TestComposeRenamedFlagFixture: the fixture is docker-compose.yml with the
// gateway's --link-latency renamed --link-delay. The check must name the
// service and the flag, and find nothing else.
func TestComposeRenamedFlagFixture(t *testing.T) {
	in := repoInputs()
	in.Compose = "testdata/compose-renamed-flag.yml"
	err := checkCompose(in)
	if err == nil {
		t.Fatal("a renamed flag passed the check")
	}
	msg := err.Error()
	if !strings.Contains(msg, `service "gateway"`) || !strings.Contains(msg, "unknown flag: --link-delay") {
		t.Fatalf("want the service and the flag named, got:\n%s", msg)
	}
	if n := strings.Count(msg, "\n") + 1; n != 1 {
		t.Fatalf("want exactly one problem (refresh the fixture from docker-compose.yml if the file changed), got %d:\n%s", n, msg)
	}
}

// TestComposeMutations breaks docker-compose.yml one way at a time and
// checks the check names the problem.
func TestComposeMutations(t *testing.T) {
	in := repoInputs()
	orig, err := os.ReadFile(in.Compose)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"bad value before --help", `"--time-scale", "0.01",
              "--link-latency"`, `"--time-scale", "fast",
              "--link-latency"`, `service "gateway": command: "proxy`},
		{"bad preset", `"--preset", "apache", "--listen", "0.0.0.0:8081",
              "--admin-listen", "0.0.0.0:9081", "--time-scale", "0.01"]
    healthcheck:
      <<: *gwsim-health
      test: ["CMD", "/usr/local/bin/gwsim", "health", "http://127.0.0.1:9081/healthz"]

  backend2:`, `"--preset", "apachee", "--listen", "0.0.0.0:8081",
              "--admin-listen", "0.0.0.0:9081", "--time-scale", "0.01"]
    healthcheck:
      <<: *gwsim-health
      test: ["CMD", "/usr/local/bin/gwsim", "health", "http://127.0.0.1:9081/healthz"]

  backend2:`, `service "backend1": command: "backend --preset apachee`},
		{"unknown backend service", `"backend1:8081,backend2:8081"`, `"backend1:8081,backend3:8081"`, `service "gateway": --backends "backend3:8081": no gwsim service "backend3"`},
		{"wrong backend port", `"backend1:8081,backend2:8081"`, `"backend1:8082,backend2:8081"`, `service "gateway": --backends "backend1:8082": service "backend1" listens on port 8081`},
		{"target not a service", `"http://gateway:8080/"`, `"http://gw:8080/"`, `service "load": --target "gw:8080": no gwsim service "gw"`},
		{"admin published", `"127.0.0.1:8080:8080"`, `"127.0.0.1:9080:9080"`, `service "gateway": ports "127.0.0.1:9080:9080" publishes the admin API`},
		{"published beyond loopback", `"127.0.0.1:8080:8080"`, `"8080:8080"`, `service "gateway": ports "8080:8080": publish on 127.0.0.1 only`},
		{"loopback listen", `"--admin-listen", "0.0.0.0:9080"`, `"--admin-listen", "127.0.0.1:9080"`, `service "gateway": --admin-listen "127.0.0.1:9080" binds loopback`},
		{"healthcheck port", `"http://127.0.0.1:9080/healthz"`, `"http://127.0.0.1:9999/healthz"`, `service "gateway": healthcheck URL "http://127.0.0.1:9999/healthz": port 9999`},
		{"healthcheck flag", `"health", "http://127.0.0.1:9082/healthz"`, `"health", "--timout", "1s", "http://127.0.0.1:9082/healthz"`, `service "load": healthcheck: "health --timout`},
		{"healthcheck shell form", `test: ["CMD", "/usr/local/bin/gwsim", "health", "http://127.0.0.1:9082/healthz"]`, `test: ["CMD-SHELL", "curl -f http://127.0.0.1:9082/healthz"]`, `service "load": healthcheck test`},
		{"metrics not scraped", `"--metrics-listen", "0.0.0.0:9082"`, `"--metrics-listen", "0.0.0.0:9083"`, `job "load": target "load:9082": service "load" serves /metrics on [9083], not 9082`},
		{"missing mount", `./deploy/prometheus/prometheus.yml:`, `./deploy/prometheus/prom.yml:`, `service "prometheus": volume`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(orig, []byte(tc.old)) {
				t.Fatalf("docker-compose.yml no longer contains %q: update the mutation", tc.old)
			}
			in := in
			in.Compose = filepath.Join(t.TempDir(), "docker-compose.yml")
			if err := os.WriteFile(in.Compose, bytes.Replace(orig, []byte(tc.old), []byte(tc.new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			err := checkCompose(in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got:\n%v", tc.want, err)
			}
		})
	}
}

// TestComposeHelpSuffixStillParses pins the pflag behaviour the drift check
// relies on: flags before --help are parsed, so a wrong one still fails.
func TestComposeHelpSuffixStillParses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"backend", "--preset", "apache", "--help"}, exitOK, "Usage: gwsim backend"},
		{[]string{"backend", "--keepalive-timout", "5s", "--help"}, exitUsage, "unknown flag: --keepalive-timout"},
		{[]string{"backend", "--keepalive-timeout", "5x", "--help"}, exitUsage, `invalid argument "5x"`},
		{[]string{"proxy", "--time-scale", "fast", "--help"}, exitUsage, `invalid argument "fast"`},
		{[]string{"health", "--help", "http://127.0.0.1:1/healthz"}, exitOK, "Usage: gwsim health"},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%q: exit %d, want %d with %q\nstdout %q\nstderr %q", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
}

// exportedMetrics returns the names of every series gwsim's gateway, backend
// and load driver export (with _bucket, _sum and _count for histograms),
// plus the Go and process collectors and Prometheus's own per-target series.
//
// Vectors with no child yet are missing from Gather, so names come from the
// collectors' descriptors, recorded as they register; Gather adds the types
// of what it does show, so only real histograms get the suffixes.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	reg := newRegistry() // the one the commands build, with Go and process collectors
	rec := &describingRegisterer{Registerer: reg, names: map[string]bool{}}
	profile, err := proxy.LookupProfile("appgw-v2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proxy.New(proxy.Config{Profile: profile, Backends: []string{"127.0.0.1:1"}}, nil, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.New(backend.Config{KeepAliveTimeout: 5 * time.Second}, nil, rec); err != nil {
		t.Fatal(err)
	}
	load.NewMetrics(rec)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true,
		"scrape_samples_post_metric_relabeling": true, "scrape_series_added": true}
	for n := range rec.names {
		names[n] = true
	}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		switch mf.GetType().String() {
		case "HISTOGRAM", "GAUGE_HISTOGRAM":
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		case "SUMMARY":
			names[n+"_sum"], names[n+"_count"] = true, true
		}
	}
	return names
}

// describingRegisterer records the metric names of every collector
// registered through it.
type describingRegisterer struct {
	prometheus.Registerer
	names map[string]bool
}

var fqNameRE = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describingRegisterer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := fqNameRE.FindStringSubmatch(desc.String()); m != nil {
			d.names[m[1]] = true
		}
	}
	return d.Registerer.Register(c)
}

func (d *describingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := d.Register(c); err != nil {
			panic(err)
		}
	}
}

// promqlNonMetrics are PromQL words that are not metric names when not
// followed by "(": aggregations written "sum by (x) (...)", binary and
// modifier keywords.
var promqlNonMetrics = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true,
	"limit_ratio": true, "by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
	"group_right": true, "and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true, "start": true, "end": true,
}

// promqlMetrics returns the metric names an expression selects. It is a
// tokenizer, not a parser: it skips strings, label matchers {...}, ranges
// [...], Grafana variables ($x, ${x}), numbers, functions (a word before
// "("), grouping label lists (by/without/on/ignoring/group_left/group_right
// (...)) and keywords; every word left is a metric name.
func promqlMetrics(expr string) ([]string, error) {
	type token struct{ word, punct string }
	var toks []token
	skipUntil := func(i int, closer byte) (int, error) {
		for j := i + 1; j < len(expr); j++ {
			switch c := expr[j]; {
			case c == closer:
				return j + 1, nil
			case c == '"' || c == '\'' || c == '`':
				k := strings.IndexByte(expr[j+1:], c)
				if k < 0 {
					return 0, fmt.Errorf("unterminated string in %q", expr)
				}
				j += k + 1
			}
		}
		return 0, fmt.Errorf("unclosed %q in %q", expr[i], expr)
	}
	isWord := func(c byte, first bool) bool {
		return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') || (!first && c >= '0' && c <= '9')
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '{':
			j, err := skipUntil(i, '}')
			if err != nil {
				return nil, err
			}
			i = j
		case c == '[':
			j, err := skipUntil(i, ']')
			if err != nil {
				return nil, err
			}
			i = j
		case c == '"' || c == '\'' || c == '`':
			k := strings.IndexByte(expr[i+1:], c)
			if k < 0 {
				return nil, fmt.Errorf("unterminated string in %q", expr)
			}
			i += k + 2
		case c == '$':
			i++
			if i < len(expr) && expr[i] == '{' {
				j, err := skipUntil(i, '}')
				if err != nil {
					return nil, err
				}
				i = j
			}
			for i < len(expr) && isWord(expr[i], false) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isWord(expr[i], false) || expr[i] == '.' ||
				((expr[i] == '+' || expr[i] == '-') && (expr[i-1] == 'e' || expr[i-1] == 'E'))) {
				i++
			}
		case isWord(c, true):
			j := i
			for j < len(expr) && isWord(expr[j], false) {
				j++
			}
			toks = append(toks, token{word: expr[i:j]})
			i = j
		default:
			toks = append(toks, token{punct: string(c)})
			i++
		}
	}
	var names []string
	for i := 0; i < len(toks); i++ {
		w := toks[i].word
		if w == "" {
			continue
		}
		next := ""
		if i+1 < len(toks) {
			next = toks[i+1].punct
		}
		switch w {
		case "by", "without", "on", "ignoring", "group_left", "group_right":
			if next == "(" { // a label list, not metrics
				for i += 2; i < len(toks) && toks[i].punct != ")"; i++ {
				}
			}
			continue
		}
		if next == "(" || promqlNonMetrics[w] {
			continue
		}
		names = append(names, w)
	}
	return names, nil
}

func TestPromqlMetrics(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`sum by (cause) (rate(gwsim_proxy_responses_total{code="502",cause=~"a|b"}[$__rate_interval]))`, []string{"gwsim_proxy_responses_total"}},
		{`histogram_quantile(0.99, sum(rate(x_bucket[5m])) by (le))`, []string{"x_bucket"}},
		{`a / on(instance) group_left(le) b > bool 1e-3`, []string{"a", "b"}},
		{`gwsim_backend_keepalive_timeout_seconds / ${time_scale} or vector(0)`, []string{"gwsim_backend_keepalive_timeout_seconds"}},
		{`changes(c[15s] offset 1m) > 0 unless d`, []string{"c", "d"}},
		{`label_replace(e, "x", '"$1"', "y", "(.*)")`, []string{"e"}},
	} {
		got, err := promqlMetrics(tc.expr)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, %v; want %q", tc.expr, got, err, tc.want)
		}
	}
}

// dashboardExprs returns every "expr" in the dashboard JSON (panel targets
// and annotations), keyed by where it is.
func dashboardExprs(v any, where string, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		here := where
		if title, ok := v["title"].(string); ok && title != "" {
			here = where + "/" + title
		} else if name, ok := v["name"].(string); ok && name != "" {
			here = where + "/" + name
		}
		if e, ok := v["expr"].(string); ok {
			if ref, ok := v["refId"].(string); ok {
				here += "/" + ref
			}
			out[here] = e
		}
		for k, c := range v {
			if k != "expr" {
				dashboardExprs(c, here, out)
			}
		}
	case []any:
		for _, c := range v {
			dashboardExprs(c, where, out)
		}
	}
}

func TestDashboardQueriesUseExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy/grafana/dashboards/gwsim.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("gwsim.json: %v", err)
	}
	exprs := map[string]string{}
	dashboardExprs(dash, "", exprs)
	if len(exprs) < 10 {
		t.Fatalf("only %d queries found in the dashboard", len(exprs))
	}
	exported := exportedMetrics(t)
	// The set itself: vectors with no child yet are in (from their
	// descriptors), histogram suffixes only for histograms, typos out.
	for n, want := range map[string]bool{"gwsim_proxy_responses_total": true, "gwsim_proxy_retries_total": true,
		"gwsim_proxy_upstream_idle_before_reuse_seconds_bucket": true, "gwsim_load_request_duration_seconds_count": true,
		"go_goroutines": true, "gwsim_proxy_responses_total_bucket": false, "gwsim_proxy_respones_total": false} {
		if exported[n] != want {
			t.Errorf("exported[%s] = %v, want %v", n, exported[n], want)
		}
	}
	used := map[string]bool{}
	for where, expr := range exprs {
		names, err := promqlMetrics(expr)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s: %q names no metric", where, expr)
		}
		for _, n := range names {
			used[n] = true
			if !exported[n] {
				t.Errorf("%s: %q: gwsim exports no metric %q", where, expr, n)
			}
		}
	}
	// The panels the demo is about.
	for _, n := range []string{"gwsim_proxy_responses_total", "gwsim_proxy_upstream_idle_before_reuse_seconds_bucket",
		"gwsim_proxy_upstream_closes_total", "gwsim_backend_keepalive_timeout_seconds", "gwsim_backend_requests_total",
		"gwsim_backend_config_changes_total", "gwsim_proxy_config_changes_total"} {
		if !used[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
	if t.Failed() {
		var all []string
		for n := range exported {
			if strings.HasPrefix(n, "gwsim_") {
				all = append(all, n)
			}
		}
		sort.Strings(all)
		t.Logf("gwsim exports: %s", strings.Join(all, " "))
	}
}

// TestDeployFilesParse: every file under deploy/ is valid YAML or JSON, the
// dashboard and datasource agree on the datasource uid, the dashboard's
// time_scale constant is the compose file's --time-scale, and Grafana's
// dashboard provider reads the directory the compose file mounts.
func TestDeployFilesParse(t *testing.T) {
	root := filepath.Join(repoRoot, "deploy")
	docs := map[string]any{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var v any
		switch filepath.Ext(path) {
		case ".json":
			err = json.Unmarshal(b, &v)
		case ".yml", ".yaml":
			err = yaml.Unmarshal(b, &v)
		default:
			t.Errorf("%s: unexpected file type (want .yml or .json)", rel)
			return nil
		}
		if err != nil {
			t.Errorf("%s: %v", rel, err)
		}
		if v == nil {
			t.Errorf("%s: empty", rel)
		}
		docs[filepath.ToSlash(rel)] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) < 4 {
		t.Fatalf("only %d files under deploy/", len(docs))
	}

	var ds struct {
		Datasources []struct {
			UID, URL string
		} `yaml:"datasources"`
	}
	var prov struct {
		Providers []struct {
			Options struct{ Path string } `yaml:"options"`
		} `yaml:"providers"`
	}
	var dash struct {
		UID        string `json:"uid"`
		Templating struct {
			List []struct{ Type, Name, Query string } `json:"list"`
		} `json:"templating"`
	}
	decodeInto := func(rel string, v any) {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err == nil {
			if strings.HasSuffix(rel, ".json") {
				err = json.Unmarshal(b, v)
			} else {
				err = yaml.Unmarshal(b, v)
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
	}
	decodeInto("grafana/provisioning/datasources/prometheus.yml", &ds)
	decodeInto("grafana/provisioning/dashboards/gwsim.yml", &prov)
	decodeInto("grafana/dashboards/gwsim.json", &dash)
	if len(ds.Datasources) != 1 || ds.Datasources[0].UID == "" {
		t.Fatalf("datasources: %+v", ds.Datasources)
	}
	uid := ds.Datasources[0].UID
	var refs []string
	collectDatasourceUIDs(docs["grafana/dashboards/gwsim.json"], &refs)
	for _, r := range refs {
		if r != uid && r != "-- Grafana --" {
			t.Errorf("dashboard refers to datasource uid %q; the provisioned one is %q", r, uid)
		}
	}

	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatal(err)
	}
	if u, err := url.Parse(ds.Datasources[0].URL); err != nil || cf.Services[u.Hostname()].Image == "" {
		t.Errorf("datasource URL %q: no service %q in docker-compose.yml", ds.Datasources[0].URL, u.Hostname())
	}
	var mounted []string
	for _, v := range cf.Services["grafana"].Volumes {
		if s, ok := v.(string); ok && strings.HasPrefix(s, "./deploy/grafana/dashboards:") {
			mounted = append(mounted, strings.Split(s, ":")[1])
		}
	}
	if len(prov.Providers) != 1 || !slices.Contains(mounted, prov.Providers[0].Options.Path) {
		t.Errorf("dashboard provider reads %+v; docker-compose.yml mounts deploy/grafana/dashboards at %q", prov.Providers, mounted)
	}
	var scale string
	for _, v := range dash.Templating.List {
		if v.Name == "time_scale" && v.Type == "constant" {
			scale = v.Query
		}
	}
	for name, s := range cf.Services {
		args, _ := stringList(s.Command)
		if v, ok := flagValue(args, "time-scale"); ok && s.isGwsim() && v != scale {
			t.Errorf("service %q runs at --time-scale %s but the dashboard's time_scale constant is %q", name, v, scale)
		}
	}
}

func collectDatasourceUIDs(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		if ds, ok := v["datasource"].(map[string]any); ok {
			if uid, ok := ds["uid"].(string); ok {
				*out = append(*out, uid)
			}
		}
		for _, c := range v {
			collectDatasourceUIDs(c, out)
		}
	case []any:
		for _, c := range v {
			collectDatasourceUIDs(c, out)
		}
	}
}
