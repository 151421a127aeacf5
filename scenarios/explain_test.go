package scenarios

import (
	"context"
	"strings"
	"testing"

	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/event"
)

// TestExplainRaceTrap: against a race-trap backend every 502 is explained
// as keepalive-race/trap, with the trap's arming before the gateway's write,
// the backend named as the side that closed first, and the connection and
// idle age filled in.
func TestExplainRaceTrap(t *testing.T) {
	s, err := Parse("trap.yaml", []byte(`name: trap
time_scale: 0.01
gateway: {profile: appgw-v2}
backend: {keepalive_timeout: 3s, close: rst, race_trap: true}
load: {pattern: gap-sweep, gap_around: 5s, gap_from: 0ms, gap_to: 20ms, gap_step: 5ms, passes: 2}
expect:
  status: {"502": ">0"}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := Run(context.Background(), s, Options{})
	if r.Err != nil || !r.Pass {
		t.Fatalf("run: %v %v", r.Err, r.Failures)
	}
	a := r.Analysis
	n502 := r.Status[502]
	if a.Causes[proxy.CauseKeepaliveRace] != n502 || a.Subkinds["keepalive-race/trap"] != n502 || len(a.Causes) != 1 {
		t.Fatalf("%d × 502, causes %v subkinds %v: want all keepalive-race/trap", n502, a.Causes, a.Subkinds)
	}
	for _, x := range a.Explanations {
		if x.Retried {
			continue
		}
		if x.ClosedFirst != "backend" || !x.HasDelta || x.Delta <= 0 || x.GatewayConn == 0 || x.BackendConn == 0 ||
			x.Requests < 2 || x.Idle < 30*1e6 || x.Status != 502 {
			t.Errorf("explanation %+v", x)
		}
		if x.Story(a.Start) == "" {
			t.Error("empty story")
		}
	}
	if v := a.Verdict(); v == "" {
		t.Error("no verdict")
	}
	if len(a.Lanes) == 0 {
		t.Fatal("no lanes")
	}
}

// TestExplainFaultIsNotTheRace: a backend that resets connections on the
// arrival of a request (a fault window) looks like the race from the
// gateway alone; joined with the backend's events it is
// backend-reset-mid-request.
func TestExplainFaultIsNotTheRace(t *testing.T) {
	s, err := Parse("fault.yaml", []byte(`name: fault
time_scale: 0.01
gateway: {profile: appgw-v2}
backend: {keepalive_timeout: 120s, faults: [{kind: reset, start: 5s, duration: 1h}]}
load: {pattern: closed, requests: 12, think: 1s}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := Run(context.Background(), s, Options{})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	n := r.Status[502]
	if n == 0 || r.Causes[proxy.CauseKeepaliveRace] != 0 || r.Causes[proxy.CauseBackendResetMidRequest] != n {
		t.Fatalf("status %v causes %v: want every 502 backend-reset-mid-request", r.Status, r.Causes)
	}
	// The first reset hit a reused connection: alone, the gateway took it
	// for the race.
	if r.Gateway.Causes[proxy.CauseKeepaliveRace] == 0 {
		t.Fatalf("gateway-only causes %v: the test no longer reuses a connection into the fault", r.Gateway.Causes)
	}
}

// TestRunJitterAndConnectionCap: link jitter and an open-loop connection
// cap run as the scenario says: every request answered, over one client
// connection.
func TestRunJitterAndConnectionCap(t *testing.T) {
	s, err := Parse("cap.yaml", []byte(`name: cap
time_scale: 0.01
backend: {preset: apache, keepalive_timeout: 120s}
link: {latency: 300us, jitter: 300us}
load: {pattern: poisson, rate: 200, duration: 20s, connections: 1, seed: 4}
expect:
  status: {"200": ">0"}
  client_errors: 0
`))
	if err != nil {
		t.Fatal(err)
	}
	var rec event.Recorder
	r := Run(context.Background(), s, Options{Events: rec.Sink()})
	if r.Err != nil || !r.Pass {
		t.Fatalf("run: %v %v %v", r.Err, r.Failures, r.Status)
	}
	opened := 0
	for _, e := range rec.Events() {
		if e.Actor == event.Client && e.Kind == event.ConnOpened {
			opened++
		}
	}
	if opened != 1 || r.Status[200] != r.Requests {
		t.Fatalf("%d client connections, statuses %v of %d requests: want one connection, all 200", opened, r.Status, r.Requests)
	}
}

// TestExplainSilentClose: a gateway that closes the client connection
// without a response when the race hits a later request (the haproxy
// preset, on the race trap) has each race explained once: the gateway's
// silent close and the client's EOF are one failure, told as such, and the
// run counts it once (RaceAnswers, the causes, the client's errors).
func TestExplainSilentClose(t *testing.T) {
	s, err := Parse("silent.yaml", []byte(`name: silent
time_scale: 0.01
gateway: {preset: haproxy, retry: none}
backend: {keepalive_timeout: 3s, close: fin, race_trap: true}
load: {pattern: gap-sweep, gap_around: 5s, gap_from: 0ms, gap_to: 20ms, gap_step: 5ms, passes: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := Run(context.Background(), s, Options{})
	if r.Err != nil || !r.Pass {
		t.Fatalf("run: %v %v", r.Err, r.Failures)
	}
	a := r.Analysis
	eof := r.ClientErrors["eof"]
	if eof == 0 || r.Status[502] != 0 || a.Causes[proxy.CauseKeepaliveRace] != eof || r.RaceAnswers() != eof || len(a.Causes) != 1 {
		t.Fatalf("client errors %v, statuses %v, causes %v, race answers %d: want every race once, as a client EOF", r.ClientErrors, r.Status, a.Causes, r.RaceAnswers())
	}
	for _, x := range a.Explanations {
		if !x.ClosedSilently || x.ClientErr != "eof" || x.Requests < 2 {
			t.Errorf("explanation %+v: want a silent close the client saw as eof", x)
		}
		if story := x.Story(a.Start); !strings.Contains(story, "without a response") {
			t.Errorf("story: %s", story)
		}
	}
}
