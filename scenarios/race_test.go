package scenarios

import (
	"context"
	"testing"

	"github.com/gwsim/gwsim/proxy"
)

// TestTimingRaceWithoutTrap: with no race trap, only real timing on real
// sockets (and 500 µs of link latency each way), the gap sweep across the
// backend's keep-alive produces at least one 502, every one of them the
// keep-alive race. A sweep expects about ten; the bound is one, and up to
// three sweeps are allowed so a noisy machine cannot make it flaky.
func TestTimingRaceWithoutTrap(t *testing.T) {
	if testing.Short() {
		t.Skip("timing run")
	}
	s, err := Lookup("appgw-v2-apache-default")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := s.backendConfig(1); b.RaceTrap {
		t.Fatal("the scenario must not use the race trap")
	}
	for attempt := 1; attempt <= 3; attempt++ {
		r := Run(context.Background(), s, Options{})
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		var counted int64
		for _, n := range r.Status {
			counted += n
		}
		for _, n := range r.ClientErrors {
			counted += n
		}
		if counted != r.Requests {
			t.Fatalf("statuses and client errors add up to %d of %d requests", counted, r.Requests)
		}
		if n := r.Status[502]; n > 0 {
			if r.Causes[proxy.CauseKeepaliveRace] != n || len(r.Causes) != 1 {
				t.Fatalf("%d × 502 with causes %v: want all keepalive-race", n, r.Causes)
			}
			t.Logf("sweep %d: %d × 502 in %d requests, first after %s", attempt, n, r.Requests, r.First502)
			return
		}
		t.Logf("sweep %d: no 502 in %d requests", attempt, r.Requests)
	}
	t.Fatal("three sweeps across the backend keep-alive produced no 502")
}
