package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestFormatVersion: the version line names the module version, the
// commit (dirty when the work tree had changes) and its time, from the
// build information; a test binary has none, so it is built here.
func TestFormatVersion(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		override string
		bi       *debug.BuildInfo
		want     []string
		not      []string
	}{
		{"no build info", "", nil, []string{"gwsim devel ("}, []string{"commit"}},
		{"go install of a tag", "", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"},
			Settings: vcs("vcs.revision", "0123456789abcdef", "vcs.time", "2026-01-02T03:04:05Z", "vcs.modified", "false")},
			[]string{"gwsim v1.2.3 (commit 0123456789abcdef, 2026-01-02T03:04:05Z; go1.26.0 "}, []string{"dirty"}},
		{"dirty work tree", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.revision", "abc", "vcs.modified", "true")},
			[]string{"gwsim devel (commit abc-dirty; "}, nil},
		{"ldflags wins", "v9.9.9", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: vcs("vcs.time", "2026-01-02T03:04:05Z")},
			[]string{"gwsim v9.9.9 (2026-01-02T03:04:05Z; "}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := formatVersion(tc.override, tc.bi)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(got, w) {
					t.Errorf("%q has %q", got, w)
				}
			}
			if strings.Contains(got, "\n") {
				t.Errorf("%q spans lines", got)
			}
		})
	}
}

func TestVersionFlag(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, errOut := runCLI(t, args...)
		if code != exitOK || !strings.HasPrefix(out, "gwsim ") || strings.Count(out, "\n") != 1 || errOut != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

// TestHelpCommand: gwsim help CMD prints CMD's help, not the root's.
func TestHelpCommand(t *testing.T) {
	for _, cmd := range []string{"run", "load", "check", "probe", "version"} {
		code, out, _ := runCLI(t, "help", cmd)
		if code != exitOK || !strings.HasPrefix(out, "Usage: gwsim "+cmd+" ") {
			t.Errorf("help %s: exit %d\n%s", cmd, code, out)
		}
	}
	if code, _, errOut := runCLI(t, "help", "bogus"); code != exitUsage || !strings.Contains(errOut, `unknown command "bogus"`) {
		t.Errorf("help bogus: exit %d, %q", code, errOut)
	}
	if code, _, _ := runCLI(t, "help", "run", "load"); code != exitUsage {
		t.Errorf("help run load: exit %d", code)
	}
}

// TestDidYouMean: an unknown scenario, preset or command a typo away from
// a known one is named in the one-line error.
func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "appgw-v2-apache-defualt"}, `unknown scenario "appgw-v2-apache-defualt": did you mean "appgw-v2-apache-default"?`},
		{[]string{"backend", "--preset", "apahce"}, `unknown backend preset "apahce" (want apache, `},
		{[]string{"backend", "--preset", "apahce"}, `; did you mean "apache"?`},
		{[]string{"proxy", "--profile", "appgw-v3", "--backends", "127.0.0.1:1"}, `did you mean "appgw-v1" or "appgw-v2"?`},
		{[]string{"check", "--gateway", "appgw-v2", "--backend", "ngnix"}, `did you mean "nginx"?`},
		{[]string{"rnu"}, `unknown command "rnu": did you mean "run"?`},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != exitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q: want one line containing %q", tc.args, code, errOut, tc.want)
		}
	}
	if _, _, errOut := runCLI(t, "backend", "--preset", "zzzzzzzz"); strings.Contains(errOut, "did you mean") {
		t.Errorf("a name far from every preset got a suggestion: %q", errOut)
	}
}

// loadTarget serves 200, except every fifth request, which gets a 502.
func loadTarget(t *testing.T) string {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%5 == 0 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// deadTarget accepts connections and closes them at once: every request
// fails.
func deadTarget(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

func TestLoadSummary(t *testing.T) {
	code, out, errOut := runCLI(t, "load", "--target", loadTarget(t), "--requests", "20")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"requests       20 in ", " per second", "success ratio  80.00% (16 answered 200-399)",
		"Latency (20 responses):", "  min ", " mean ", " p50 ", " p90 ", " p95 ", " p99 ", " max ", "Status codes:\n  200  16\n  502  4\n", "first 502      after "} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "late") || errOut != "" {
		t.Errorf("closed loop: no late line, nothing on stderr (not a terminal):\n%s\nstderr %q", out, errOut)
	}
}

func TestLoadJSON(t *testing.T) {
	code, out, errOut := runCLI(t, "load", "--json", "--target", loadTarget(t), "--requests", "10", "--fail-on", "502>5,success<0.5")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.HasPrefix(out, "{\n  \"schema_version\": 1,\n") {
		t.Errorf("schema_version is not the first key:\n%s", out)
	}
	var doc struct {
		SchemaVersion     int      `json:"schema_version"`
		RequestsPerSecond *float64 `json:"requests_per_second"`
		SuccessRatio      float64  `json:"success_ratio"`
		Errors            []any    `json:"errors"`
		Latency           struct {
			P95 *float64 `json:"p95_ms"`
			Min *float64 `json:"min_ms"`
		} `json:"latency"`
		FailOn []struct {
			Expr    string  `json:"expression"`
			Value   float64 `json:"value"`
			Crossed bool    `json:"crossed"`
		} `json:"fail_on"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SchemaVersion != 1 || doc.RequestsPerSecond == nil || *doc.RequestsPerSecond <= 0 || doc.SuccessRatio != 0.8 ||
		doc.Errors == nil || doc.Latency.P95 == nil || doc.Latency.Min == nil || len(doc.FailOn) != 2 || doc.FailOn[0].Value != 2 || doc.FailOn[0].Crossed {
		t.Errorf("%+v\n%s", doc, out)
	}
	if !strings.Contains(out, `"errors": []`) {
		t.Errorf("an empty list is not []:\n%s", out)
	}
}

// TestLoadExitCodes: a dead target is a runtime error (1); a crossed
// --fail-on threshold is a failed expectation (3).
func TestLoadExitCodes(t *testing.T) {
	target := loadTarget(t)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"dead target", []string{"--target", deadTarget(t), "--requests", "5"}, exitRuntime, "gwsim load: every request failed (5 of 5; "},
		{"502 crossed", []string{"--target", target, "--requests", "10", "--fail-on", "502>0"}, exitExpect, "gwsim load: --fail-on 502>0: crossed (2)"},
		{"success crossed", []string{"--target", target, "--requests", "10", "--fail-on", "success<99%"}, exitExpect, "--fail-on success<99%: crossed (80.00%)"},
		{"latency not crossed", []string{"--target", target, "--requests", "10", "--fail-on", "p95>1m", "--fail-on", "rps<0.001"}, exitOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, append([]string{"load"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) || (tc.stderr == "" && errOut != "") {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)\n%s", code, tc.code, errOut, tc.stderr, out)
			}
			if tc.code == exitExpect && !strings.Contains(out, "CROSSED") {
				t.Errorf("the summary does not say which threshold:\n%s", out)
			}
		})
	}
}

func TestLoadBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--target", "127.0.0.1:8080", "--requests", "1"}, "gwsim load: --target 127.0.0.1:8080: want an http:// URL, like http://127.0.0.1:8080 (see"},
		{[]string{"--target", "localhost:8080/x", "--requests", "1"}, "--target localhost:8080/x: want an http:// URL, like http://localhost:8080/x"},
		{[]string{"--target", "ftp://h/", "--requests", "1"}, "--target ftp://h/: want an http:// URL"},
		{[]string{"--requests", "1"}, "--target is required"},
		{[]string{"--target", "http://127.0.0.1:1/", "--requests", "1", "--fail-on", "502>>0"}, `gwsim load: --fail-on "502>>0": 502 wants a count`},
		{[]string{"--target", "http://127.0.0.1:1/", "--requests", "1", "--fail-on", "p95>500"}, `--fail-on "p95>500": p95 wants a duration like 500ms`},
		{[]string{"--target", "http://127.0.0.1:1/", "--requests", "1", "--fail-on", ","}, `--fail-on ",": want METRIC OP VALUE`},
		{[]string{"--target", "http://127.0.0.1:1/", "--pattern", "constant", "--rate", "-5", "--duration", "1s"}, "gwsim load: rate must be > 0"},
		{[]string{"--target", "http://127.0.0.1:1/", "--requests", "1", "--progress", "maybe"}, "--progress must be auto, on or off"},
	} {
		code, _, errOut := runCLI(t, append([]string{"load"}, tc.args...)...)
		if code != exitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q: want one line containing %q", tc.args, code, errOut, tc.want)
		}
		if strings.Contains(errOut, "load: load:") {
			t.Errorf("%v: doubled prefix: %q", tc.args, errOut)
		}
	}
}

// TestLoadProgress: --progress on draws the line on stderr and clears it
// before the summary.
func TestLoadProgress(t *testing.T) {
	code, out, errOut := runCLI(t, "load", "--target", loadTarget(t), "--requests", "400", "--think", "2ms", "--progress", "on")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(errOut, " of 400 requests  ") || !strings.HasSuffix(errOut, "\r\x1b[K") || strings.Contains(out, "\r") {
		t.Errorf("stderr %q", errOut)
	}
}

// TestCheckFileWithoutLoad: check needs only the gateway and the backend;
// a scenario file without a load section is checked, not refused.
func TestCheckFileWithoutLoad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "settings.yaml")
	if err := os.WriteFile(file, []byte("name: mine\ngateway: {preset: appgw-v2}\nbackend: {preset: apache}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "check", file)
	if code != exitExpect || !strings.Contains(out, "mine: appgw-v2 + apache: unsafe") {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut, out)
	}
	// Its other sections are still checked.
	if err := os.WriteFile(file, []byte("name: mine\nbackend: {preset: apache, keepalive_timeout: 5}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, "check", file); code != exitUsage || !strings.Contains(errOut, "backend.keepalive_timeout") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	// run still needs a load.
	if code, _, errOut := runCLI(t, "run", file); code != exitUsage {
		t.Errorf("run: exit %d, stderr %q", code, errOut)
	}
}

// TestRunBadOutputPaths: an output path that cannot be written is a usage
// error before any scenario runs.
func TestRunBadOutputPaths(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such", "dir")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--junit", filepath.Join(missing, "x.xml")}, "--junit " + filepath.Join(missing, "x.xml") + ": cannot create it: no such file or directory"},
		{[]string{"run", "--all", "--timeline", filepath.Join(missing, "t.svg")}, "--timeline " + filepath.Join(missing, "t.svg") + ": directory " + missing + ": no such file or directory"},
	} {
		start := time.Now()
		code, out, errOut := runCLI(t, tc.args...)
		if code != exitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q", tc.args, code, errOut, out)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%v: refused after %s: the scenarios ran first", tc.args, d)
		}
	}
}
