package load

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestConstantOffset(t *testing.T) {
	tests := []struct {
		rate float64
		i    int
		want time.Duration
	}{
		{rate: 10, i: 0, want: 0},
		{rate: 10, i: 1, want: 100 * time.Millisecond},
		{rate: 10, i: 25, want: 2500 * time.Millisecond},
		{rate: 1000, i: 7, want: 7 * time.Millisecond},
		{rate: 0.5, i: 3, want: 6 * time.Second},
		{rate: 3, i: 1, want: 333333333 * time.Nanosecond},
		{rate: 3, i: 3, want: time.Second},
		{rate: 1e6, i: 1_000_000, want: time.Second},
		{rate: 0, i: 5, want: 0},
		{rate: -1, i: 5, want: 0},
		{rate: 10, i: -1, want: 0},
		{rate: 1e-12, i: 1, want: math.MaxInt64},
	}
	for _, tt := range tests {
		if got := ConstantOffset(tt.rate, tt.i); got != tt.want {
			t.Errorf("ConstantOffset(%v, %d) = %v, want %v", tt.rate, tt.i, got, tt.want)
		}
	}
}

func poissonOffsets(rate float64, seed int64, n int) []time.Duration {
	s := NewPoissonSchedule(rate, seed)
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = s.Next()
	}
	return out
}

func TestPoissonSchedule(t *testing.T) {
	const draws = 10000
	tests := []struct {
		rate float64
		seed int64
	}{
		{rate: 1, seed: 1},
		{rate: 100, seed: 1},
		{rate: 100, seed: 42},
		{rate: 5000, seed: -7},
		{rate: 0.25, seed: 99},
	}
	for _, tt := range tests {
		got := poissonOffsets(tt.rate, tt.seed, draws+1)
		if got[0] != 0 {
			t.Errorf("rate %v seed %d: first offset = %v, want 0", tt.rate, tt.seed, got[0])
		}
		for i := 1; i < len(got); i++ {
			if got[i] < got[i-1] {
				t.Fatalf("rate %v seed %d: offset %d = %v < offset %d = %v", tt.rate, tt.seed, i, got[i], i-1, got[i-1])
			}
		}
		if again := poissonOffsets(tt.rate, tt.seed, draws+1); !slices.Equal(got, again) {
			t.Errorf("rate %v seed %d: schedule not deterministic", tt.rate, tt.seed)
		}
		mean := got[draws].Seconds() / draws
		if want := 1 / tt.rate; math.Abs(mean-want) > 0.1*want {
			t.Errorf("rate %v seed %d: mean inter-arrival %v s, want %v s ±10%%", tt.rate, tt.seed, mean, want)
		}
	}
	if slices.Equal(poissonOffsets(100, 1, 50), poissonOffsets(100, 2, 50)) {
		t.Error("seeds 1 and 2 gave the same schedule")
	}
	for _, rate := range []float64{0, -3} {
		if got := poissonOffsets(rate, 1, 3); !slices.Equal(got, []time.Duration{0, 0, 0}) {
			t.Errorf("rate %v: offsets %v, want zeros", rate, got)
		}
	}
}

func TestSweepGaps(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name           string
		from, to, step time.Duration
		want           []time.Duration
	}{
		{"inclusive end", 4 * ms, 6 * ms, ms, []time.Duration{4 * ms, 5 * ms, 6 * ms}},
		{"end not on a step", 0, 10 * ms, 4 * ms, []time.Duration{0, 4 * ms, 8 * ms}},
		{"single gap", 5 * ms, 5 * ms, ms, []time.Duration{5 * ms}},
		{"step larger than span", ms, 2 * ms, time.Second, []time.Duration{ms}},
		{"fine step across 5s", 4990 * ms, 5010 * ms, 5 * ms,
			[]time.Duration{4990 * ms, 4995 * ms, 5000 * ms, 5005 * ms, 5010 * ms}},
		{"zero step", 0, 10 * ms, 0, nil},
		{"negative step", 0, 10 * ms, -ms, nil},
		{"from after to", 10 * ms, 5 * ms, ms, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SweepGaps(tt.from, tt.to, tt.step); !slices.Equal(got, tt.want) {
				t.Errorf("SweepGaps(%v, %v, %v) = %v, want %v", tt.from, tt.to, tt.step, got, tt.want)
			}
		})
	}
}

func TestIsPost(t *testing.T) {
	const n = 10000
	tests := []struct {
		ratio    float64
		min, max int
	}{
		{ratio: 0, min: 0, max: 0},
		{ratio: 1, min: n, max: n},
		{ratio: 0.3, min: 2700, max: 3300},
		{ratio: 0.5, min: 4700, max: 5300},
	}
	for _, tt := range tests {
		posts := 0
		first := make([]bool, n)
		for i := range n {
			first[i] = isPost(1, i, tt.ratio)
			if first[i] {
				posts++
			}
		}
		// A pure function of (seed, i): asked again, in the other order (as
		// concurrent workers would), it gives the same answer.
		for i := n - 1; i >= 0; i-- {
			if got := isPost(1, i, tt.ratio); got != first[i] {
				t.Fatalf("ratio %v: isPost(1, %d) = %v, then %v: not a function of (seed, i)", tt.ratio, i, first[i], got)
			}
		}
		if posts < tt.min || posts > tt.max {
			t.Errorf("ratio %v: %d POSTs of %d, want %d..%d", tt.ratio, posts, n, tt.min, tt.max)
		}
	}
}

// TestIsPostMix pins the mix of the first requests: the same seed gives the
// same GET/POST sequence in every run and release, another seed another.
func TestIsPostMix(t *testing.T) {
	for _, tt := range []struct {
		seed int64
		want string // G or P for requests 0, 1, ...
	}{
		{1, "GPPGPPGGGPGPGGPGPPPPGGPP"},
		{2, "GGPGGPGGPGPGGPPPGGPGGGGG"},
	} {
		got := make([]byte, len(tt.want))
		for i := range got {
			got[i] = 'G'
			if isPost(tt.seed, i, 0.5) {
				got[i] = 'P'
			}
		}
		if string(got) != tt.want {
			t.Errorf("seed %d, ratio 0.5: mix %s, want %s", tt.seed, got, tt.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	ten := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{nil, 0.5, 0},
		{[]time.Duration{7}, 0.99, 7},
		{ten, 0.5, 5},
		{ten, 0.9, 9},
		{ten, 0.99, 10},
		{ten, 1, 10},
		{ten, 0.01, 1},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
		}
	}
}
