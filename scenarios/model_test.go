package scenarios

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/rule"
)

func TestRaceWindow(t *testing.T) {
	ms := time.Millisecond
	v2 := proxy.Profile{BackendIdleTimeout: 600 * ms}
	for _, tc := range []struct {
		name     string
		p        proxy.Profile
		b        backend.Config
		from, to time.Duration
	}{
		{"k < g", v2, backend.Config{KeepAliveTimeout: 50 * ms}, 50*ms - 2*ms - rule.LoopbackSlack, 50 * ms},
		{"k > g", v2, backend.Config{KeepAliveTimeout: 1200 * ms}, 1198*ms - rule.LoopbackSlack, 600 * ms},
		{"k just above g", v2, backend.Config{KeepAliveTimeout: 601 * ms}, 599*ms - rule.LoopbackSlack, 600 * ms},
		{"no gateway limit", proxy.Profile{}, backend.Config{KeepAliveTimeout: 50 * ms}, 48*ms - rule.LoopbackSlack, 50 * ms},
		{"keep-alive off", v2, backend.Config{}, 0, 0},
		{"backend forever", v2, backend.Config{IdleForever: true}, 0, 0},
		{"no reuse", proxy.Profile{BackendIdleTimeout: 1}, backend.Config{KeepAliveTimeout: 50 * ms}, 0, 0},
		{"trap", v2, backend.Config{KeepAliveTimeout: 50 * ms, RaceTrap: true}, 50 * ms, 600 * ms},
	} {
		from, to, _ := raceWindow(tc.p, tc.b, 500*time.Microsecond, time.Millisecond)
		has := to > from
		if has != (tc.to > tc.from) || (has && (from != tc.from || to != tc.to)) {
			t.Errorf("%s: window %s..%s, want %s..%s", tc.name, from, to, tc.from, tc.to)
		}
	}
}

// TestPredictCureAndRetry: a cure predicts nothing; a retry policy hides
// the GET share.
func TestPredictCureAndRetry(t *testing.T) {
	s, _ := Lookup("appgw-v2-backend-120s")
	if pr, err := Predict(s, 0); err != nil || pr.Rate != 0 || pr.HasWindow() {
		t.Errorf("cure: %+v %v", pr, err)
	}
	s, _ = Lookup("appgw-v2-apache-retry-idempotent")
	if pr, _ := Predict(s, 0); pr.Visible != 0.5 || pr.Rate != pr.RaceRate/2 || pr.Rate == 0 {
		t.Errorf("idempotent retry: %+v", pr)
	}
}

// TestModelAgreesWithMeasurement sweeps a few Poisson settings (one
// connection per member, link latencies, rates, keep-alives, a cure and a
// retry policy), runs them at once on loopback, and checks the measured
// race share against the model: the count must lie within a factor of two
// of the prediction, widened by three standard deviations of a Poisson
// count (README, "Analytic model", says why). A cure must measure 0.
func TestModelAgreesWithMeasurement(t *testing.T) {
	if testing.Short() {
		t.Skip("timing runs (~8 s)")
	}
	if raceDetector {
		// The model's window uses the timer lateness measured at start;
		// under -race goroutines are delayed by a varying factor, so the
		// measured rate runs two to three times the prediction. CI runs
		// this test in its plain `go test ./...` pass.
		t.Skip("model accuracy is not meaningful under the race detector")
	}
	settings := []string{
		"backend: {preset: apache, keepalive_timeout: 1s}\nload: {pattern: poisson, rate: 100, duration: 800s, seed: 3}",
		"backend: {preset: apache, keepalive_timeout: 1s}\nload: {pattern: poisson, rate: 200, duration: 400s, seed: 7}",
		"backend: {preset: apache, keepalive_timeout: 2s}\nload: {pattern: poisson, rate: 50, duration: 800s, seed: 5}",
		"backend: {preset: apache, keepalive_timeout: 1s}\nlink: {latency: 1ms}\nload: {pattern: poisson, rate: 100, duration: 800s, seed: 6}",
		"gateway: {preset: appgw-v2, retry: idempotent}\nbackend: {preset: apache, keepalive_timeout: 1s}\nclient: {methods: {GET: 1, POST: 1}}\nload: {pattern: poisson, rate: 100, duration: 800s, seed: 8}",
		// The cure, with a wide scaled margin (5 ms against 100 ms): under the
		// race detector a gateway goroutine can be descheduled for tens of
		// ms between the backend's write and the gateway's idle start, and
		// that is a real race on the sockets, not a model error.
		"gateway: {preset: appgw-v2, backend_idle_timeout: 500ms}\nbackend: {preset: apache, keepalive_timeout: 10s}\nload: {pattern: poisson, rate: 100, duration: 400s, seed: 9}",
	}
	type outcome struct {
		p        Prediction
		r        *Result
		measured int64
	}
	out := make([]outcome, len(settings))
	var wg sync.WaitGroup
	for i, y := range settings {
		s := mustParse(t, fmt.Sprintf("name: model-%d\ntime_scale: 0.01\n%s\n", i, y))
		wg.Go(func() {
			p, err := Predict(s, 0)
			if err != nil {
				t.Error(err)
				return
			}
			r := Run(context.Background(), s, Options{})
			out[i] = outcome{p, r, r.RaceAnswers()}
		})
	}
	wg.Wait()
	undecided := 0
	for i, o := range out {
		if o.r == nil || o.r.Err != nil {
			t.Fatalf("setting %d did not run: %+v", i, o.r)
		}
		n := float64(o.r.Requests)
		want := o.p.Rate * n
		lo, hi := want/2-3*math.Sqrt(want), 2*want+3*math.Sqrt(want)
		t.Logf("setting %d: %d of %d requests answered for the race (%.2f%%), model %.2f%% (%.1f expected; bound %.1f..%.1f), window %s..%s",
			i, o.measured, o.r.Requests, 100*float64(o.measured)/n, 100*o.p.Rate, want, max(lo, 0), hi, o.p.WindowFrom, o.p.WindowTo)
		if got := float64(o.measured); got >= lo && got <= hi {
			continue
		}
		// Outside the bound. The race share turns on requests landing in a
		// window a few ms wide: timers late by half of it move them in and
		// out, so the machine, not the model, may be wrong.
		if bad, why := o.r.UndecidableShare(o.p.WindowTo - o.p.WindowFrom); bad && i != len(out)-1 {
			t.Logf("setting %d: outside the bound, not decided: %s (the model's window %s..%s)", i, why, o.p.WindowFrom, o.p.WindowTo)
			undecided++
			continue
		}
		if i != len(out)-1 {
			t.Errorf("setting %d: measured %d outside the model's bound %.1f..%.1f\n%s", i, o.measured, lo, hi, settings[i])
		}
	}
	if undecided == len(out)-1 {
		t.Skip("this machine's timers ran too late to compare the model with any measurement (see the log)")
	}
	cure := out[len(out)-1]
	if bad, _ := cure.r.Undecidable(cure.r.Timing.Margin); bad && cure.measured != 0 {
		t.Logf("the cure raced, on a machine too late to tell (above)")
	} else if cure.p.HasWindow() || cure.measured != 0 {
		t.Errorf("the cure (gateway idle 5 ms < keep-alive 100 ms) raced")
		for _, x := range cure.r.Analysis.Explanations {
			t.Logf("cure: %s (closed first: %s, style %s)", x.Story(cure.r.Analysis.Start), x.ClosedFirst, x.CloseStyle)
		}
	}
}

// TestModelDomain: a Poisson load with many requests per keep-alive period
// over several connections is outside the model, which says so instead of
// a number; the same load on one connection is inside it.
func TestModelDomain(t *testing.T) {
	base := "name: domain\ntime_scale: 0.01\nbackend: {preset: apache}\nload: {pattern: poisson, rate: 2000, duration: 100s%s}\n"
	many, err := Predict(mustParse(t, fmt.Sprintf(base, "")), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !many.OutOfDomain || !strings.Contains(many.Why, "λK = 100") {
		t.Errorf("λK = 100 over several connections: %+v", many)
	}
	one, err := Predict(mustParse(t, fmt.Sprintf(base, ", connections: 1")), 0)
	if err != nil {
		t.Fatal(err)
	}
	if one.OutOfDomain {
		t.Errorf("one connection: %+v", one)
	}
}
