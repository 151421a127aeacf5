package scenarios

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
)

func mustParse(t *testing.T, yaml string) *Scenario {
	t.Helper()
	s, err := Parse("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDefaults: a minimal file gets every default, from one place.
func TestDefaults(t *testing.T) {
	s := mustParse(t, "name: x\nload: {requests: 3}\n")
	if s.TimeScale.Factor != DefaultTimeScale || s.Gateway.Preset != DefaultGateway || s.Gateway.Members != DefaultMembers ||
		s.linkLatency() != DefaultLinkLatency || s.Client.IdleTimeout.D() != DefaultClientIdle || s.Load.Pattern != string(DefaultPattern) {
		t.Fatalf("defaults not applied: %+v", s)
	}
	p, err := s.profile(1)
	if err != nil || p.Name != "appgw-v2" {
		t.Fatalf("profile %+v, %v", p, err)
	}
}

// TestSchemaSections parses every section's keys, old and new.
func TestSchemaSections(t *testing.T) {
	s := mustParse(t, `name: all-keys
description: every key
why: because
time_scale: 0.01
gateway:
  preset: envoy
  backend_idle_timeout: 30s
  client_keepalive_timeout: 10s
  request_timeout: 5s
  client_request_timeout: 30s
  retry: idempotent
  pool_order: fifo
  members: 2
  race_status: 599
  timeout_status: 598
  timeout_tries_other_member: true
  reuse: safe
  silent_close_on_later_request: true
backend:
  preset: node
  keepalive_timeout: 7s
  tick: 1s
  advertise: asked
  advertised_keepalive: 5s
  max_keepalive_requests: 9
  close: rst
  race_trap: true
  delay: 1ms
  status: 201
  response_size: 10
  faults: [{kind: reset, start: 1s, duration: 2s}]
link: {latency: 1ms, jitter: 0s}
client:
  idle_timeout: 20s
  latency: 2ms
  methods: {GET: 3, POST: 1}
load:
  pattern: closed
  connections: 3
  think: 1s
  requests: 30
  seed: 4
  body_size: 5
expect:
  502: 0
  5xx: "<=1"
  502_rate: "<0.1%"
  keepalive-race: 0
  causes: {backend-timeout: 0}
  only_causes: [keepalive-race, backend-timeout]
  client_errors: {reset: 0, eof: "<2"}
  status_by_method: {GET: {"502": 0}}
  retries: "<=3"
`)
	p, err := s.profile(0.01)
	if err != nil {
		t.Fatal(err)
	}
	want := proxy.Profile{Name: "envoy", ClientKeepAlive: 100 * time.Millisecond, BackendIdleTimeout: 300 * time.Millisecond,
		RequestTimeout: 50 * time.Millisecond, ClientRequestTimeout: 300 * time.Millisecond, TimeoutStatus: 598, TimeoutTriesOtherMember: true, RaceStatus: 599,
		Retry: proxy.RetryIdempotent, PoolOrder: proxy.FIFO, Reuse: proxy.ReuseSafe, SilentCloseOnLaterRequest: true}
	if p != want {
		t.Errorf("profile\n got %+v\nwant %+v", p, want)
	}
	b, err := s.backendConfig(1)
	if err != nil {
		t.Fatal(err)
	}
	if b.KeepAliveTimeout != 7*time.Second || b.Tick != time.Second || b.Advertise != backend.AdvertiseAsked || b.AdvertisedKeepAlive != 5*time.Second || b.MaxKeepAliveRequests != 9 ||
		b.Close != "rst" || !b.RaceTrap || b.Delay != time.Millisecond || b.Status != 201 || len(b.Faults) != 1 {
		t.Errorf("backend %+v", b)
	}
	l, err := s.loadConfig("http://127.0.0.1:1/", 1)
	if err != nil {
		t.Fatal(err)
	}
	if l.Workers != 3 || l.PostRatio != 0.25 || l.Requests != 30 || l.Think != time.Second {
		t.Errorf("load %+v", l)
	}
	e := s.Expect
	if len(e.Status) != 2 || len(e.Rates) != 1 || len(e.Causes) != 2 || len(e.ClientErrorKinds) != 2 || e.Retries == nil {
		t.Errorf("expect %+v", e)
	}
	if s.Gateway.Members != 2 || s.clientIdle(0.01) != 200*time.Millisecond || s.Client.Latency.D() != 2*time.Millisecond {
		t.Errorf("gateway/client %+v %+v", s.Gateway, s.Client)
	}
}

// TestProfileAlias: the older key gateway.profile still selects a preset.
func TestProfileAlias(t *testing.T) {
	s := mustParse(t, "name: x\ngateway: {profile: aws-alb}\nload: {requests: 1}\n")
	if p, _ := s.profile(1); p.Name != "aws-alb" {
		t.Fatalf("profile %q", p.Name)
	}
	s = mustParse(t, "name: x\ngateway: {profile: aws-alb, preset: aws-alb}\nload: {requests: 1}\n")
	if s.Gateway.Preset != "aws-alb" {
		t.Fatal(s.Gateway.Preset)
	}
}

func TestClone(t *testing.T) {
	s, err := Lookup("appgw-v2-apache-default")
	if err != nil {
		t.Fatal(err)
	}
	c := s.Clone()
	d := Duration(time.Minute)
	*c.Link.Latency = d
	c.Expect.Status["502"] = Count{Op: "==", N: 0}
	c.Backend.KeepaliveTimeout = &d
	if s.linkLatency() == time.Minute || s.Expect.Status["502"].Op != ">" || s.Backend.KeepaliveTimeout != nil {
		t.Fatal("Clone shares state with the original")
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRate(t *testing.T) {
	for _, tc := range []struct {
		s        string
		n, total int64
		want     bool
	}{
		{"<0.1%", 0, 1000, true}, {"<0.1%", 1, 1000, false}, {"<=0.1%", 1, 1000, true},
		{">0%", 1, 1000, true}, {">0%", 0, 1000, false}, {"0", 0, 0, true}, {"0%", 1, 10, false},
		{">=50%", 5, 10, true}, {"==50%", 5, 10, true}, {"<50%", 5, 10, false}, {"100%", 3, 3, true},
	} {
		r, err := parseRate(tc.s)
		if err != nil {
			t.Fatalf("%q: %v", tc.s, err)
		}
		if got := r.Holds(tc.n, tc.total); got != tc.want {
			t.Errorf("%q holds for %d/%d: %v", tc.s, tc.n, tc.total, got)
		}
	}
	for _, bad := range []string{"", "%", "0.1", "<1", "-1%", "101%", "x%", "NaN%", "Inf%", "<>1%"} {
		if _, err := parseRate(bad); err == nil {
			t.Errorf("parseRate(%q) accepted", bad)
		}
	}
}

// TestExpectCheck runs every kind of expectation against a made-up result.
func TestExpectCheck(t *testing.T) {
	r := &Result{
		TimeScale: 0.01, Requests: 1000, First502: 30 * time.Millisecond,
		Status:         map[int]int64{200: 985, 502: 10, 504: 3},
		StatusByMethod: map[string]map[int]int64{"GET": {200: 600}, "POST": {200: 385, 502: 10, 504: 3}},
		Causes:         map[string]int64{proxy.CauseKeepaliveRace: 10, proxy.CauseBackendTimeout: 3},
		ClientErrors:   map[string]int64{"reset": 2},
		Retries:        4,
	}
	for _, tc := range []struct {
		expect string
		fails  []string
	}{
		{`{502: ">0", 504: 3, 5xx: 13, 2xx: ">900"}`, nil},
		{`{502: 0}`, []string{"status 502: want 0, got 10"}},
		{`{5xx: "<10"}`, []string{"status 5xx: want <10, got 13"}},
		{`{502_rate: "<0.1%"}`, []string{"502 rate: want <0.1%, got 1% (10 of 1000 requests)"}},
		{`{502_rate: "<=1%", 5xx_rate: ">1%"}`, nil},
		{`{keepalive-race: ">=10", causes: {backend-timeout: 3}}`, nil},
		{`{only_causes: [keepalive-race]}`, []string{"cause backend-timeout: want none (only keepalive-race), got 3"}},
		{`{client_errors: 2}`, nil},
		{`{client_errors: {reset: 0, eof: 0}}`, []string{"client errors reset: want 0, got 2"}},
		{`{status_by_method: {GET: {"502": 0}, POST: {5xx: ">0"}}}`, nil},
		{`{status_by_method: {GET: {"502": ">0"}}}`, []string{"GET status 502: want >0, got 0"}},
		{`{retries: 0}`, []string{"retries: want 0, got 4"}},
		{`{first_502_within: 3s}`, nil},
		{`{first_502_within: 2s}`, []string{"first 502: want within 2s (20ms at time scale 0.01), got after 30ms"}},
	} {
		s := mustParse(t, "name: x\nload: {requests: 1}\nexpect: "+tc.expect+"\n")
		if got := s.Expect.check(r); !slices.Equal(got, tc.fails) {
			t.Errorf("%s:\n got %q\nwant %q", tc.expect, got, tc.fails)
		}
	}
	none := *r
	none.First502 = -1
	s := mustParse(t, "name: x\nload: {requests: 1}\nexpect: {first_502_within: 2s}\n")
	if got := s.Expect.check(&none); len(got) != 1 || !strings.Contains(got[0], "got none") {
		t.Errorf("no 502: %q", got)
	}
}

// TestRaceStatusOverride: a scenario's race_status reaches the profile, and
// a preset's own (Envoy 503) is kept otherwise.
func TestRaceStatusOverride(t *testing.T) {
	s := mustParse(t, "name: x\ngateway: {preset: envoy}\nload: {requests: 1}\n")
	if p, _ := s.profile(1); p.RaceStatus != http.StatusServiceUnavailable {
		t.Fatalf("envoy race status %d", p.RaceStatus)
	}
	s = mustParse(t, "name: x\ngateway: {preset: envoy, race_status: 502}\nload: {requests: 1}\n")
	if p, _ := s.profile(1); p.RaceStatus != http.StatusBadGateway {
		t.Fatalf("override %d", p.RaceStatus)
	}
}

// TestExamplesParse parses every example scenario: the files of
// testdata/ci-example (a team's scenario directory, as the README's CI job
// runs it) and every YAML block of the README that is a scenario.
func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("testdata/ci-example/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example files (%v)", err)
	}
	for _, f := range files {
		if _, err := Resolve(f); err != nil {
			t.Errorf("%v", err)
		}
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := 0
	for _, part := range strings.Split(string(readme), "```yaml\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		if !strings.HasPrefix(block, "name:") {
			continue
		}
		blocks++
		if _, err := Parse("README.md", []byte(block)); err != nil {
			t.Errorf("README example: %v\n%s", err, block)
		}
	}
	if blocks == 0 {
		t.Error("the README has no scenario example")
	}
}
