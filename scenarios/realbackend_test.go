package scenarios

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gwsim/gwsim/proxy"
)

// nodeServer is a Node http server on $PORT with keepAliveTimeout 100 ms
// (Node 20 closes the idle socket about 1.1 s after the answer).
const nodeServer = `const s = require('http').createServer((q, r) => r.end('ok\n'));
s.keepAliveTimeout = 100;
s.listen(Number(process.env.PORT), '127.0.0.1');`

// freeLoopbackPort picks a port for a server gwsim starts; the server
// binds it itself (a port taken meanwhile fails its start, and the test
// says so).
func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(port)
}

func requireNode(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Node")
	}
	path, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but node is missing: .ci/run installs nodejs")
		}
		t.Skip("node not installed")
	}
	return path
}

// TestRealNodeBehindGateway: a scenario whose backend is a real Node
// started by backend.command, behind appgw-v2, shows the race with the
// aimed pattern centred on the close measured before the run, its first
// 502 within 3× the server's close; the cure (a gateway idle timeout below
// the server's close) shows none.
func TestRealNodeBehindGateway(t *testing.T) {
	node := requireNode(t)
	for _, tc := range []struct {
		name, gateway, load, expect string
	}{
		{"race", "{preset: appgw-v2}", "{pattern: aimed, connections: 21, gap_around: backend-close, gap_from: -3ms, gap_to: 2ms, gap_step: 250us}",
			`{status: {"502": ">0"}, only_causes: [keepalive-race]}`},
		{"cure", "{preset: appgw-v2, backend_idle_timeout: 500ms}", "{pattern: aimed, connections: 8, gap_around: 500ms, gap_from: -40ms, gap_to: 40ms, gap_step: 5ms}",
			`{status: {"502": 0}, client_errors: 0}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freeLoopbackPort(t)
			yaml := fmt.Sprintf(`name: node-%s
gateway: %s
backend:
  url: http://127.0.0.1:%s/
  command: [%q, -e, %q]
  env: {PORT: "%s"}
load: %s
expect: %s
`, tc.name, tc.gateway, port, node, nodeServer, port, tc.load, tc.expect)
			s, err := Parse("node.yaml", []byte(yaml))
			if err != nil {
				t.Fatalf("%v\n%s", err, yaml)
			}
			r := runMeetingRace(t, s, tc.name == "race")
			t.Logf("%s: %s, time scale %g, backend close measured %s, %d requests, status %v, causes %v, first 502 %s",
				tc.name, r.Outcome, r.TimeScale, r.Timing.BackendClose, r.Requests, r.Status, r.Causes, r.First502)
			if r.TimeScale != 1 {
				t.Errorf("time scale %g: a real backend runs in real time", r.TimeScale)
			}
			switch r.Outcome {
			case OutcomeInconclusive:
				t.Skipf("inconclusive on this machine: %s", r.InconclusiveReason)
			case OutcomeFail:
				t.Fatalf("failed: %v\nbackend output: %s", r.Failures, r.BackendOutput)
			}
			if tc.name == "race" {
				if r.Causes[proxy.CauseKeepaliveRace] == 0 || r.First502 < 0 || r.First502 > 3*r.Timing.BackendClose {
					t.Errorf("first 502 after %s, want within 3× the close (%s)", r.First502, r.Timing.BackendClose)
				}
			}
		})
	}
}

// TestRealBackendSchema: what a backend given by url may and may not say.
func TestRealBackendSchema(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"backend: {url: http://127.0.0.1:8081/, preset: apache}", "backend.preset: describes gwsim's backend"},
		{"backend: {url: http://127.0.0.1:8081/, close: rst}", "backend.close: describes gwsim's backend"},
		{"backend: {command: [node]}", "backend.url: command, env and ready_timeout need url"},
		{"backend: {url: 'https://127.0.0.1:8081/'}", "want http://host:port/"},
		{"backend: {url: 'http://127.0.0.1/'}", "want http://host:port/"},
		{"time_scale: 0.01\nbackend: {url: http://127.0.0.1:8081/}", "time_scale: a backend given by url runs in real time"},
		{"backend: {url: http://127.0.0.1:8081/, ready_timeout: 10m}", "backend.ready_timeout: want > 0 and at most 5m0s"},
		{"gateway: {members: 2}\nbackend: {url: http://127.0.0.1:8081/}", "gateway.members: a backend given by url is one member"},
		{"gateway: {url: http://127.0.0.1:8080/}", "backend.listen: a gateway given by url reaches gwsim's backend at a fixed address"},
		{"gateway: {url: http://127.0.0.1:8080/, retry: idempotent}\nbackend: {listen: 127.0.0.1:8081}", "gateway.retry: describes gwsim's gateway"},
		{"gateway: {command: [nginx]}", "gateway.url: command, env and ready_timeout need url"},
		{"backend: {listen: 127.0.0.1:0}", "backend.listen: want host:port with a fixed port"},
		{"gateway: {url: http://127.0.0.1:8080/}\nbackend: {listen: 127.0.0.1:8081}\nexpect: {only_causes: [keepalive-race]}", "expect.only_causes: a gateway given by url is not observed from inside"},
	} {
		_, err := Parse("real.yaml", []byte("name: x\n"+tc.yaml+"\nload: {requests: 1}\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.yaml, err, tc.want)
		}
	}
	s, err := Parse("real.yaml", []byte("name: x\nbackend: {url: http://127.0.0.1:8081/, keepalive_timeout: 5s}\nload: {requests: 1}\n"))
	if err != nil || s.Scale() != 1 {
		t.Fatalf("%v, scale %v", err, s)
	}
	if c, err := CheckScenario(s, 0, 0); err != nil || c.Verdict != Unsafe {
		t.Errorf("check of a declared 5 s behind appgw-v2: %v %v", c.Verdict, err)
	}
	s, _ = Parse("real.yaml", []byte("name: x\nbackend: {url: http://127.0.0.1:8081/}\nload: {requests: 1}\n"))
	if _, err := CheckScenario(s, 0, 0); err == nil || !strings.Contains(err.Error(), "gwsim probe") {
		t.Errorf("check of an undeclared keep-alive: %v", err)
	}
}

// runMeetingRace runs s; when it must meet the race (race) and a run met
// none (the race is met at random within a sweep's millisecond window),
// it tries again, twice.
func runMeetingRace(t *testing.T, s *Scenario, race bool) *Result {
	t.Helper()
	var r *Result
	for attempt := 1; attempt <= 3; attempt++ {
		r = RunAll(context.Background(), []*Scenario{s}, Options{Repeat: 2})[0]
		if r.Err != nil {
			t.Fatalf("%v%s%s", r.Err, r.BackendOutput, r.GatewayOutput)
		}
		if !race || r.Outcome != OutcomeFail || r.Status[502] != 0 {
			break
		}
		t.Logf("attempt %d met no race: %v", attempt, r.Status)
	}
	return r
}
