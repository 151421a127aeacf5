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
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
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
