package rule

import (
	"math"
	"testing"
	"time"
)

// TestPoissonAndFixedGaps: the model's two formulas.
func TestPoissonAndFixedGaps(t *testing.T) {
	ms := time.Millisecond
	// λW e^{-λK} for small λW: 100/s, W 2 ms, K 10 ms.
	got := PoissonRaceRate(100, 8*ms, 10*ms)
	p := math.Exp(-0.8) - math.Exp(-1)
	if math.Abs(got-p/(1+p)) > 1e-12 {
		t.Errorf("PoissonRaceRate = %v", got)
	}
	if PoissonRaceRate(100, 10*ms, 8*ms) != 0 || PoissonRaceRate(0, 0, ms) != 0 {
		t.Error("empty window or no traffic must give 0")
	}
	gaps := []time.Duration{7 * ms, 8 * ms, 9 * ms, 9 * ms, 10 * ms, 8 * ms}
	if n := FixedGapRaces(gaps, 8*ms, 10*ms); n != 3 { // 8 races, 9 fresh, 9 races, 10 out, 8 races
		t.Errorf("FixedGapRaces = %v, want 3", n)
	}
}

// TestTickedRace: a ticking backend spreads its close over a tick, so an
// idle age races with a probability whose sum over ages is the race window
// (a sweep across the whole tick meets as many races as one across the
// window of a backend without a tick); no tick is the plain window; a
// gateway idle limit below the keep-alive removes it.
func TestTickedRace(t *testing.T) {
	const k, w = 2 * time.Second, time.Millisecond
	for _, a := range []time.Duration{k - 2*w, k - w, k - w/2, k, k + w} {
		from, to := RaceWindow(k, 0, w)
		want := 0.0
		if a >= from && a < to {
			want = 1
		}
		if got := TickedRaceProb(a, k, 0, w, 0); got != want {
			t.Errorf("no tick, age %v: %v, want %v", a, got, want)
		}
	}
	const tick, step = time.Second, 10 * time.Microsecond
	sum := 0.0
	for a := k - 2*w; a < k+tick+w; a += step {
		sum += TickedRaceProb(a, k, tick, w, 0) * float64(step)
	}
	if got := time.Duration(sum); got < w*99/100 || got > w*101/100 {
		t.Errorf("ages across the tick sum to %v, want the window %v", got, w)
	}
	if p := TickedRaceProb(k+tick/2, k, tick, w, 0); p != float64(w)/float64(tick) {
		t.Errorf("inside the tick: %v, want w/tick", p)
	}
	if p := TickedRaceProb(k, k, tick, w, k-w); p != 0 {
		t.Errorf("past the gateway's idle limit: %v, want 0", p)
	}
	if TickedPoissonRaceRate(0.5, k, tick, w, k-time.Second) != 0 {
		t.Error("Poisson with the gateway closing first: want 0")
	}
	// A tick of 1 µs is no tick.
	from, to := RaceWindow(k, 0, w)
	plain, ticked := PoissonRaceRate(0.5, from, to), TickedPoissonRaceRate(0.5, k, time.Microsecond, w, 0)
	if d := ticked - plain; d > plain/100 || d < -plain/100 {
		t.Errorf("Poisson with a 1 µs tick %v, without %v", ticked, plain)
	}
	// The expected races of a sweep across the tick: about the window over
	// the step, as without a tick.
	var gaps []time.Duration
	for a := k - 3*time.Millisecond; a < k+tick+2*time.Millisecond; a += 100 * time.Microsecond {
		gaps = append(gaps, a)
	}
	if n := TickedGapRaces(gaps, k, tick, w, 0); n < 9 || n > 10.5 {
		t.Errorf("a sweep across the tick expects %.2f races, want about %v", n, float64(w)/float64(100*time.Microsecond))
	}
}
