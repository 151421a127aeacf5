package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestRunSeedSuiteJSON runs the seed suite as `gwsim run --json` does and
// checks the document against the CLI contract of ARCHITECTURE.md.
func TestRunSeedSuiteJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the seed suite (~6 s)")
	}
	code, out, errOut := runCLI(t, "run", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut, out)
	}
	var doc struct {
		Pass      *bool `json:"pass"`
		Scenarios []struct {
			Name         *string          `json:"name"`
			Pass         *bool            `json:"pass"`
			Requests     *int64           `json:"requests"`
			Status       map[string]int64 `json:"status"`
			Causes       map[string]int64 `json:"causes"`
			ClientErrors map[string]int64 `json:"client_errors"`
			WallSeconds  *float64         `json:"wall_seconds"`
		} `json:"scenarios"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if doc.Pass == nil || !*doc.Pass || len(doc.Scenarios) < 8 {
		t.Fatalf("pass %v with %d scenarios", doc.Pass, len(doc.Scenarios))
	}
	byName := map[string]int{}
	for i, s := range doc.Scenarios {
		if s.Name == nil || s.Pass == nil || s.Requests == nil || s.Status == nil || s.Causes == nil || s.ClientErrors == nil || s.WallSeconds == nil {
			t.Fatalf("scenario %d lacks a contract key: %+v", i, s)
		}
		var counted int64
		for _, n := range s.Status {
			counted += n
		}
		for _, n := range s.ClientErrors {
			counted += n
		}
		if counted != *s.Requests {
			t.Errorf("%s: statuses and client errors add up to %d, requests %d", *s.Name, counted, *s.Requests)
		}
		// Every non-2xx answer and every client error has exactly one cause.
		var failures, caused int64
		for code, n := range s.Status {
			if !strings.HasPrefix(code, "2") {
				failures += n
			}
		}
		for _, n := range s.ClientErrors {
			failures += n
		}
		for c, n := range s.Causes {
			caused += n
			if c == "" || c == "unknown" {
				t.Errorf("%s: cause %q", *s.Name, c)
			}
		}
		if caused != failures {
			t.Errorf("%s: %d failures but %d causes: %v %v %v", *s.Name, failures, caused, s.Status, s.ClientErrors, s.Causes)
		}
		byName[*s.Name] = i
	}
	for _, name := range []string{"appgw-v2-apache-default", "appgw-v1-apache-default"} {
		s := doc.Scenarios[byName[name]]
		if s.Status["502"] == 0 || s.Causes["keepalive-race"] != s.Status["502"] {
			t.Errorf("%s: status %v causes %v: want 502s, all keepalive-race", name, s.Status, s.Causes)
		}
	}
	for _, name := range []string{"appgw-v2-backend-120s", "appgw-v2-keepalive-off", "appgw-v1-backend-300s"} {
		if s := doc.Scenarios[byName[name]]; s.Status["502"] != 0 {
			t.Errorf("%s: %d × 502 after the cure", name, s.Status["502"])
		}
	}
	if s := doc.Scenarios[byName["appgw-v2-backend-unresponsive"]]; s.Causes["keepalive-race"] != 0 || s.Status["504"] == 0 {
		t.Errorf("unresponsive V2: status %v causes %v", s.Status, s.Causes)
	}
}

func TestRunTable(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a scenario")
	}
	code, out, _ := runCLI(t, "run", "appgw-v2-keepalive-off")
	if code != exitOK || !strings.Contains(out, "SCENARIO") || !strings.Contains(out, "appgw-v2-keepalive-off") || !strings.Contains(out, "pass") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestRunExpectationFailedExits3 runs a scenario file whose expectation
// cannot hold.
func TestRunExpectationFailedExits3(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a scenario")
	}
	file := filepath.Join(t.TempDir(), "wrong.yaml")
	yaml := `name: wrong-expectation
time_scale: 0.01
backend: {preset: apache, keepalive_off: true}
load: {pattern: closed, requests: 5}
expect:
  status: {"502": ">0"}
`
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "run", file)
	if code != exitExpect || !strings.Contains(out, "expectation failed: status 502: want >0, got 0") {
		t.Fatalf("exit %d, want 3:\n%s", code, out)
	}
}

// TestBadInput: usage errors exit 2 with one clear line on stderr.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	unknownKey := filepath.Join(dir, "unknown-key.yaml")
	if err := os.WriteFile(unknownKey, []byte("name: x\ngateway:\n  profile: appgw-v2\n  idle: 5s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, ""},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown scenario", []string{"run", "no-such-scenario"}, `unknown scenario "no-such-scenario"`},
		{"unknown flag", []string{"run", "--bogus"}, "unknown flag: --bogus"},
		{"bad duration", []string{"backend", "--keepalive-timeout", "5x"}, `invalid argument "5x" for "--keepalive-timeout"`},
		{"unknown profile", []string{"proxy", "--profile", "appgw-v9", "--backends", "127.0.0.1:1"}, `unknown gateway profile "appgw-v9"`},
		{"no backends", []string{"proxy"}, "--backends is required"},
		{"unknown close style", []string{"backend", "--close", "slam"}, `unknown close style "slam"`},
		{"unknown preset", []string{"backend", "--preset", "iis6"}, `unknown backend preset "iis6"`},
		{"bad fault", []string{"backend", "--fault", "hang:soon:1s"}, "--fault"},
		{"negative rate", []string{"load", "--target", "http://127.0.0.1:1/", "--pattern", "constant", "--rate", "-5", "--duration", "1s"}, "rate must be > 0"},
		{"unknown pattern", []string{"load", "--target", "http://127.0.0.1:1/", "--pattern", "burst"}, `unknown load pattern "burst"`},
		{"bad time scale", []string{"run", "--time-scale", "2"}, "--time-scale must be > 0 and <= 1"},
		{"unknown retry", []string{"proxy", "--backends", "127.0.0.1:1", "--retry", "always"}, `unknown retry policy "always"`},
		{"scenario unknown key", []string{"run", unknownKey}, unknownKey + `: line 4: unknown field "idle" in gateway`},
		{"missing scenario file", []string{"run", filepath.Join(dir, "missing.yaml")}, "read scenario"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tc.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", code, exitUsage, errOut)
			}
			if tc.want == "" {
				return
			}
			if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("stderr %q: want one line containing %q", errOut, tc.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"run", "proxy", "backend", "load", "scenarios", "version"} {
		code, out, _ := runCLI(t, cmd, "--help")
		if code != exitOK || !strings.Contains(out, "Usage: gwsim "+cmd) || !strings.Contains(out, "Examples:") {
			t.Errorf("%s --help: exit %d\n%s", cmd, code, out)
		}
	}
	if code, out, _ := runCLI(t, "help"); code != exitOK || !strings.Contains(out, "Commands:") {
		t.Errorf("help: exit %d", code)
	}
}

func TestScenariosAndVersion(t *testing.T) {
	code, out, _ := runCLI(t, "scenarios")
	if code != exitOK || !strings.Contains(out, "* appgw-v2-apache-default") {
		t.Fatalf("scenarios: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "version")
	if code != exitOK || !strings.HasPrefix(out, "gwsim ") {
		t.Fatalf("version: exit %d %q", code, out)
	}
}
