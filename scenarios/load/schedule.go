package load

import (
	"math"
	"math/rand/v2"
	"time"
)

// ConstantOffset returns the start offset, from the beginning of the run, of
// request i (0-based) at rate requests per second: i/rate seconds. Request 0
// starts at 0. It returns 0 when rate <= 0 or i <= 0, and saturates at the
// largest time.Duration.
func ConstantOffset(rate float64, i int) time.Duration {
	if !(rate > 0) || i <= 0 {
		return 0
	}
	return secondsToDuration(float64(i) / rate)
}

// PoissonSchedule yields the start offsets of a Poisson arrival process:
// the first request at 0, then exponentially distributed inter-arrival times
// of mean 1/rate seconds. The sequence is a pure function of rate and seed.
// A PoissonSchedule is not safe for concurrent use.
type PoissonSchedule struct {
	rate float64
	rng  *rand.Rand
	next float64 // seconds
}

// NewPoissonSchedule returns a schedule of rate requests per second (which
// should be > 0; otherwise every offset is 0) seeded with seed.
func NewPoissonSchedule(rate float64, seed int64) *PoissonSchedule {
	s := uint64(seed)
	return &PoissonSchedule{rate: rate, rng: rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))}
}

// Next returns the start offset of the next request. Offsets are monotonic
// non-decreasing and saturate at the largest time.Duration.
func (p *PoissonSchedule) Next() time.Duration {
	if !(p.rate > 0) {
		return 0
	}
	at := p.next
	p.next += p.rng.ExpFloat64() / p.rate
	return secondsToDuration(at)
}

// SweepGaps returns from, from+step, from+2*step, ... up to to inclusive.
// It returns nil when step <= 0 or from > to.
func SweepGaps(from, to, step time.Duration) []time.Duration {
	if step <= 0 || from > to {
		return nil
	}
	n := int((to-from)/step) + 1
	gaps := make([]time.Duration, n)
	for i := range gaps {
		gaps[i] = from + time.Duration(i)*step
	}
	return gaps
}

// isPost reports whether request i is a POST for the given seed and ratio:
// a seeded hash of i, mapped to [0,1), is below ratio. Being a pure function
// of (seed, i), the mix does not depend on which goroutine sends request i.
func isPost(seed int64, i int, ratio float64) bool {
	if ratio <= 0 {
		return false
	}
	// splitmix64 finalizer over seed and index.
	z := uint64(seed)*0x9e3779b97f4a7c15 + uint64(i)*0xbf58476d1ce4e5b9 + 0x94d049bb133111eb
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11)/(1<<53) < ratio
}

func secondsToDuration(s float64) time.Duration {
	ns := s * float64(time.Second)
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}
