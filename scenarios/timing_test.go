package scenarios

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gwsim/gwsim/proxy"
)

// TestOutcome: a failure is inconclusive exactly when the measured lateness
// reached half the margin the answer depends on; a pass is a pass whatever
// the lateness; the reason gives the figures.
func TestOutcome(t *testing.T) {
	failed := []string{"status 502: want >0, got 0"}
	for _, tc := range []struct {
		name     string
		failures []string
		timing   Timing
		want     string
	}{
		{"pass on a busy machine", nil, Timing{LatenessP99: time.Second, Margin: time.Millisecond}, OutcomePass},
		{"fail on a quiet machine", failed, Timing{LatenessP99: 100 * time.Microsecond, LatenessMax: time.Millisecond, Margin: 2500 * time.Microsecond}, OutcomeFail},
		{"a high percentile alone decides nothing", failed, Timing{LatenessP99: 2 * time.Millisecond, LatenessMax: time.Millisecond, Margin: 2500 * time.Microsecond}, OutcomeFail},
		{"fail just under half the margin", failed, Timing{LatenessP99: 100 * time.Microsecond, LatenessMax: 1249 * time.Microsecond, Margin: 2500 * time.Microsecond}, OutcomeFail},
		{"probe's worst at half the margin", failed, Timing{LatenessP99: 100 * time.Microsecond, LatenessMax: 1250 * time.Microsecond, Margin: 2500 * time.Microsecond}, OutcomeInconclusive},
		{"backend timer late", failed, Timing{LatenessP99: 10 * time.Microsecond, BackendTimerMax: 30 * time.Millisecond, Margin: 50 * time.Millisecond}, OutcomeInconclusive},
		{"no margin known", failed, Timing{LatenessMax: time.Second}, OutcomeFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.timing.MarginWhat = "the gap sweep aims within ±2.5ms of 50ms"
			got, reason := outcome(tc.failures, tc.timing)
			if got != tc.want {
				t.Fatalf("outcome %s (%s), want %s", got, reason, tc.want)
			}
			if (got == OutcomeInconclusive) != (reason != "") {
				t.Fatalf("outcome %s with reason %q", got, reason)
			}
			if got == OutcomeInconclusive && !strings.Contains(reason, "margin of 2.5ms (the gap sweep") && !strings.Contains(reason, "margin of 50ms") {
				t.Errorf("reason %q lacks the margin", reason)
			}
		})
	}
}

// lookupAt is the built-in name pinned to a fixed time scale (built-ins run
// at time_scale: auto, whose scale depends on the machine).
func lookupAt(t *testing.T, name string, scale float64) *Scenario {
	t.Helper()
	s, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	s.TimeScale = TimeScale{Factor: scale}
	return s
}

// fixedScale is the scale each built-in ran at before time_scale: auto,
// which the figures in TestMargin and TestUnproven assume.
func fixedScale(name string) float64 {
	if name == "appgw-v1-backend-300s" {
		return 0.005
	}
	return 0.01
}

// TestMargin: the margin a built-in's answer depends on, at a fixed scale,
// given what the run met.
func TestMargin(t *testing.T) {
	const wide = time.Hour // a race window that decides nothing, so the other margins show
	race := map[string]int64{proxy.CauseKeepaliveRace: 1}
	for _, tc := range []struct {
		scenario   string
		causes     map[string]int64
		raceWindow time.Duration
		want       time.Duration
		what       string
	}{
		// No race met: how well the sweep was aimed at Apache's close.
		{"appgw-v2-apache-default", nil, wide, 2500 * time.Microsecond, "the gap sweep aims within ±2.5ms of 50ms"},
		// A race met in a cure: how far the backend's close was from the
		// gateway's idle limit...
		{"appgw-v2-backend-120s", race, wide, 600 * time.Millisecond, "backend keep-alive 1.2s above gateway idle 600ms"},
		// ...or, with no idle limit (V1), from the traffic's longest gap
		// (280 s at time scale 0.005 against 300 s).
		{"appgw-v1-backend-300s", race, wide, 100 * time.Millisecond, "backend keep-alive 1.5s above the longest idle gap 1.4s"},
		// ALB 60 s against Node 66 s: 60 ms at scale 0.01, the longest gap 62 ms.
		{"aws-alb-node-keepalive-65s", race, wide, 60 * time.Millisecond, "backend keep-alive 660ms above gateway idle 600ms"},
		// The gateway's race window (4 × 500 µs + 50 ms) told the race from
		// a reset: a tighter margin than the cure's.
		{"appgw-v2-backend-120s", race, 52 * time.Millisecond, 52 * time.Millisecond, "the gateway's race window 52ms"},
		// A reset in a race scenario: the sweep's aim is tighter than
		// Apache's 50 ms (scaled) wait for a new connection's first request...
		{"appgw-v2-apache-default", map[string]int64{proxy.CauseBackendResetMidRequest: 1}, wide, 2500 * time.Microsecond, "the gap sweep aims within ±2.5ms of 50ms"},
		// ...and without a sweep (a closed loop against a 120 s keep-alive
		// at 0.01, with faults) the 200 ms request time-out is tighter than
		// the 1.2 s wait.
		{"appgw-v2-backend-unresponsive", map[string]int64{proxy.CauseBackendResetMidRequest: 1}, wide, 200 * time.Millisecond, "request time-out 200ms"},
		// A time-out: the request time-out (20 s at 0.01).
		{"appgw-v2-keepalive-off", map[string]int64{proxy.CauseBackendTimeout: 1}, wide, 200 * time.Millisecond, "request time-out 200ms"},
		// Keep-alive off and nothing met: no timer decided anything.
		{"appgw-v2-keepalive-off", nil, 52 * time.Millisecond, 0, ""},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			s := lookupAt(t, tc.scenario, fixedScale(tc.scenario))
			p, err := s.profile(s.Scale())
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.backendConfig(s.Scale())
			if err != nil {
				t.Fatal(err)
			}
			got, what := margin(s, p, b.KeepAliveTimeout, tc.raceWindow, s.Scale(), tc.causes, s.sweepCentre(s.Scale()))
			if got != tc.want || what != tc.what {
				t.Fatalf("margin %s (%s), want %s (%s)", got, what, tc.want, tc.what)
			}
		})
	}
}

// TestLatenessProbe: the probe takes samples while it runs and reports a
// 99th percentile no larger than its maximum.
func TestLatenessProbe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	lp := startLatenessProbe(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		time.Sleep(10 * time.Millisecond) // lets the probe's timer fire; the loop bound is the samples, not the sleep
		if n := lp.count(); n >= 3 || time.Now().After(deadline) {
			break
		}
	}
	cancel()
	p99, worst := lp.result()
	if len(lp.samples) < 3 {
		t.Fatalf("%d samples in 10 s", len(lp.samples))
	}
	if p99 > worst || worst < 0 {
		t.Fatalf("p99 %s, max %s", p99, worst)
	}
}

// TestAutoScale: a quiet machine keeps a scenario's own scale; a busy one
// raises it until the shortest timer is 8× the lateness, rounded up to two
// significant digits, never above 1.
func TestAutoScale(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		lateness time.Duration
		want     float64
	}{
		{"appgw-v2-apache-default", 100 * time.Microsecond, 0.01},    // 5 s × 0.01 = 50 ms ≫ 800 µs
		{"appgw-v2-apache-default", 50 * time.Millisecond, 0.08},     // Apache's 5 s must be 400 ms
		{"aws-alb-gunicorn-default", 50 * time.Millisecond, 0.2},     // Gunicorn's 2 s must be 400 ms
		{"appgw-v2-apache-default", 10 * time.Second, 1},             // capped at real time
		{"aws-alb-node-keepalive-65s", 50 * time.Millisecond, 0.067}, // the cure's 66 s − 60 s must be 400 ms: 0.0667 rounded up
	} {
		s := lookupAt(t, tc.scenario, 0.01)
		if got := AutoScale(s, tc.lateness); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s at lateness %s: scale %g, want %g", tc.scenario, tc.lateness, got, tc.want)
		}
	}
}

// TestUnproven: a pass of "no race" proves something only when the traffic
// idled a connection near the limit that decides the race.
func TestUnproven(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		longest  time.Duration
		want     string // "" = proven
	}{
		// Gateway idle 600 ms below the backend's 1.2 s: the limit is 600 ms,
		// within 60 ms.
		{"appgw-v2-backend-120s", 597 * time.Millisecond, ""},
		{"appgw-v2-backend-120s", 53 * time.Millisecond, "no backend connection stayed idle within 60ms of the gateway's idle limit 600ms (the longest idle age was 53ms): this load cannot show the race"},
		// V1, no idle limit: the backend's 1.5 s, within 150 ms.
		{"appgw-v1-backend-300s", 1400 * time.Millisecond, ""},
		{"appgw-v1-backend-300s", time.Second, "no backend connection stayed idle within 150ms of the backend's keep-alive 1.5s (the longest idle age was 1s): this load cannot show the race"},
		// Keep-alive off: nothing is reused, nothing to show.
		{"appgw-v2-keepalive-off", 0, ""},
		// A race scenario claims no "no race".
		{"appgw-v2-apache-default", 0, ""},
	} {
		s := lookupAt(t, tc.scenario, fixedScale(tc.scenario))
		p, _ := s.profile(s.Scale())
		b, _ := s.backendConfig(s.Scale())
		if got := unproven(s, p, b.KeepAliveTimeout, s.linkLatency(), tc.longest); got != tc.want {
			t.Errorf("%s, longest idle %s:\n got %q\nwant %q", tc.scenario, tc.longest, got, tc.want)
		}
	}
}

// TestAutoFloor: the fastest scale time_scale: auto may pick, from the
// scenario's own timers: whichever of its floors is highest decides.
func TestAutoFloor(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		want     float64
		why      string
	}{
		// Apache 5 s → 20 ms gives 0.004; the 20 s request time-out → 100 ms gives 0.005.
		{"appgw-v2-apache-default", 0.005, "request time-out"},
		// The cure's 66 s − 60 s → 20 ms: 0.0033 (rounded up from 0.00333).
		{"aws-alb-node-keepalive-65s", 0.0034, "cure margin"},
	} {
		s, err := Lookup(tc.scenario)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.AutoFloor(); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: floor %g, want %g (%s)", tc.scenario, got, tc.want, tc.why)
		}
		if !s.TimeScale.Auto || s.Scale() != s.AutoFloor() {
			t.Errorf("%s: time_scale %+v, Scale %g: built-ins run at auto, from the floor", tc.scenario, s.TimeScale, s.Scale())
		}
	}
}

// TestRoundScaleUp: two significant digits, never rounded down.
func TestRoundScaleUp(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0.0666666, 0.067},
		{0.005, 0.005},
		{0.00333, 0.0034},
		{0.12, 0.12},
		{1, 1},
		{0, 0},
	} {
		if got := roundScaleUp(tc.in); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("roundScaleUp(%g) = %g, want %g", tc.in, got, tc.want)
		}
	}
}

// TestTimeScaleAuto: time_scale takes a number or auto; gap_around takes a
// duration or backend-close.
func TestTimeScaleAuto(t *testing.T) {
	s, err := Parse("auto.yaml", []byte("name: x\ntime_scale: auto\nbackend: {preset: apache}\nload:\n  pattern: gap-sweep\n  gap_around: backend-close\n  gap_from: -3ms\n  gap_to: 2ms\n  gap_step: 100us\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.TimeScale.Auto || !s.Load.GapAround.BackendClose {
		t.Fatalf("time_scale %+v, gap_around %+v", s.TimeScale, s.Load.GapAround)
	}
	if c := s.sweepCentre(0.01); c != 50*time.Millisecond {
		t.Fatalf("sweep centre %s at 0.01: want Apache's 5 s scaled", c)
	}
	s, err = Parse("fixed.yaml", []byte("name: x\ntime_scale: 0.02\nload: {requests: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.TimeScale.Auto || s.Scale() != 0.02 {
		t.Fatalf("time_scale %+v, Scale %g", s.TimeScale, s.Scale())
	}
}
