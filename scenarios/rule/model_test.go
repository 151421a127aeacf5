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
