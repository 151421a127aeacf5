package main

import (
	"runtime/debug"
	"strings"
	"testing"
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
