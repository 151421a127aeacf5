package scenarios

import (
	"strings"
	"testing"
	"time"
)

func TestBuiltinScenariosParse(t *testing.T) {
	all, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range all {
		names[s.Name] = true
		if s.Description == "" {
			t.Errorf("%s: no description", s.Name)
		}
		if _, err := s.loadConfig("http://127.0.0.1:1/", s.Scale()); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
	for _, n := range SeedSuite {
		if !names[n] {
			t.Errorf("seed suite names %q, which is not built in", n)
		}
	}
}

func TestScenarioScaling(t *testing.T) {
	s, err := Lookup("appgw-v2-apache-default")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.profile(0.01)
	b, _ := s.backendConfig(0.01)
	l, _ := s.loadConfig("http://127.0.0.1:1/", 0.01)
	if p.BackendIdleTimeout != 600*time.Millisecond || b.KeepAliveTimeout != 50*time.Millisecond {
		t.Fatalf("scaled gateway idle %s, backend keep-alive %s", p.BackendIdleTimeout, b.KeepAliveTimeout)
	}
	// The sweep is centred on the scaled keep-alive; its offsets are physical.
	if l.GapFrom != 47*time.Millisecond || l.GapTo != 52*time.Millisecond || l.GapStep != 100*time.Microsecond {
		t.Fatalf("sweep %s..%s step %s", l.GapFrom, l.GapTo, l.GapStep)
	}
	if s.linkLatency() != 500*time.Microsecond {
		t.Fatalf("link latency %s", s.linkLatency())
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"", "f.yaml: empty scenario file"},
		{"description: x\n", "f.yaml: name: required"},
		{"name: x\nbogus: 1\n", `f.yaml: line 2: unknown field "bogus" in the top level`},
		{"name: x\nbackend:\n  keepalive_timeout: 5 seconds\n", `f.yaml: line 3: bad duration "5 seconds": want a Go duration like 5s or 500us`},
		{"name: x\ngateway: {profile: appgw-v9}\n", `f.yaml: gateway: unknown gateway profile "appgw-v9" (want appgw-v1 or appgw-v2)`},
		{"name: x\ngateway: {retry: always}\n", `f.yaml: gateway: unknown retry policy "always"`},
		{"name: x\nbackend: {preset: iis6}\n", `f.yaml: backend: unknown backend preset "iis6"`},
		{"name: x\nbackend: {close: slam}\n", `f.yaml: backend: unknown close style "slam"`},
		{"name: x\nbackend: {faults: [{kind: melt, start: 1s, duration: 1s}]}\n", `f.yaml: backend: faults[0].kind: unknown fault "melt"`},
		{"name: x\nload: {pattern: constant, rate: -1, duration: 1s}\n", "f.yaml: load: "},
		{"name: x\nload: {pattern: gap-sweep, gap_around: 1ms, gap_from: -2ms, gap_to: 1ms, gap_step: 1us}\n", "f.yaml: load: gap_around + gap_from is negative"},
		{"name: x\ntime_scale: 2\n", "f.yaml: time_scale: want 0 < time_scale <= 1, got 2"},
		{"name: x\ngateway: {members: 40}\n", "f.yaml: gateway.members: want 1..16, got 40"},
		{"name: x\nlink: {latency: -1ms}\n", "f.yaml: link.latency and client.latency must be >= 0"},
		{"name: x\nexpect: {status: {\"502\": lots}}\n", `f.yaml: line 2: bad count "lots"`},
		{"name: x\nload: {requests: 1}\nexpect: {status: {\"999\": 0}}\n", `f.yaml: expect.status: "999" is not a status code`},
		{"name: x\nload: {requests: 1}\nexpect: {causes: {gremlins: 0}}\n", `f.yaml: expect.causes: unknown cause "gremlins"`},
		{"name: x\nload: {requests: many}\n", "f.yaml: line 2: cannot unmarshal !!str `many` as int"},
	} {
		_, err := Parse("f.yaml", []byte(tc.yaml))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%q):\n got %v\nwant prefix %q", tc.yaml, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q): error spans lines: %q", tc.yaml, err)
		}
	}
}

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		s    string
		v    int64
		want bool
	}{{"0", 0, true}, {"0", 1, false}, {">0", 1, true}, {">0", 0, false}, {">=3", 3, true}, {"<3", 3, false}, {"<=3", 3, true}, {"==2", 2, true}} {
		c, err := parseCount(tc.s)
		if err != nil {
			t.Fatal(err)
		}
		if c.Holds(tc.v) != tc.want {
			t.Errorf("%q holds for %d: %v", tc.s, tc.v, !tc.want)
		}
	}
	for _, bad := range []string{"", ">", "x", "-1", ">-1", "=>1"} {
		if _, err := parseCount(bad); err == nil {
			t.Errorf("parseCount(%q) accepted", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	if _, err := Resolve("appgw-v2-apache-default"); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve("nope"); err == nil || !strings.Contains(err.Error(), `unknown scenario "nope"`) {
		t.Fatalf("Resolve(nope): %v", err)
	}
}
