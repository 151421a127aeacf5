package rule

import (
	"math"
	"slices"
	"sync"
	"time"
)

// The analytic model of the keep-alive race (Predict in package scenarios
// applies it to a scenario; Decide is its yes/no).
//
// One backend connection, as the gateway sees it. The backend writes a
// response at time 0 and closes the connection, if no request came, at its
// keep-alive K. With a one-way link latency d, the gateway has the
// response at d and puts the connection in its pool; the connection's idle
// age a counts from there. The backend's FIN reaches the gateway at K + d,
// that is at idle age K. A request the gateway sends at idle age a reaches
// the backend at age a + 2d (measured from the same origin as K). So:
//
//   - a < K − 2d: the request arrives before the close; it is served.
//   - K − 2d ≤ a < K: the request is on the wire while the FIN is, the
//     backend has closed, the gateway reads EOF or a reset: the race.
//   - a ≥ K: the gateway saw the FIN and dialled a new connection: no race.
//   - a ≥ G (the gateway's idle timeout, if it has one): the gateway closed
//     the connection itself first: no race.
//
// The race window in idle age is therefore [K − W, min(K, G)) with W = RTT
// = 2d; it is empty when G ≤ K − W, which is the cure. Timers widen it:
// the link delays each segment with a timer, which fires late by up to the
// host's timer granularity τ, so the FIN and the request each lose up to τ,
// and the window is W = 2d + τ (+ LoopbackSlack, what loopback leaves with
// no latency at all). τ is measured on the host (TimerSlack): about 1 ms on
// a host whose timers tick every millisecond, tens of µs elsewhere.
//
// Poisson arrivals of rate λ per connection: after a response the idle gap
// until the next request is exponential (memoryless), so a request meets
// the race with
//
//	p = P(gap ∈ [K − W, min(K, G))) = exp(−λ(K − W)) − exp(−λ·min(K, G))
//
// A request right after a race goes out on a fresh connection (the raced
// one is gone), so races cannot follow each other: with r the race share,
// r = (1 − r)·p, r = p / (1 + p). For λW ≪ 1 this is about λ·W·exp(−λK):
// the rate falls when traffic rises (connections stop idling) and when it
// falls (few requests come after a gap that long). A request that arrives
// while the connection is busy opens a second one, which loses that
// request's gap but adds a connection whose own idle age can fall in the
// window; measured, the two cancel within the model's bound, so neither is
// in the formula.
//
// A gap sweep and a constant rate have fixed gaps: each gap in the window
// races, except right after a race. The client's timers quantise the gaps
// on a coarse-timer host, so the measured count of a sweep can be about
// twice the prediction; the model is exact in shape, not in count, there.
//
// A backend that checks its time-outs on a periodic tick T (Gunicorn's
// gthread worker, Tomcat: 1 s) closes an idle connection at the first tick
// after K: at a close C spread evenly over [K, K + T), by the tick's phase.
// A request at idle age a then races when C falls in (a, a + W] and the
// gateway still sends (a < G), with probability TickedRaceProb; a fixed gap
// or a Poisson gap averages it. With T = 0 this is the window above.
//
// A retry policy hides races from the client: idempotent retries every GET
// (only the POST share stays visible); reset-before-request retries nothing
// that was written, which the race always was.

// LoopbackSlack is the race window loopback leaves with no latency at all
// (measured: about 0.1 ms).
const LoopbackSlack = 100 * time.Microsecond

// TimerSlack is how late this host's timers fire: the median lateness of a
// few 100 µs sleeps, measured once (about 1 ms on a host whose timers tick
// every millisecond, tens of µs elsewhere).
var TimerSlack = sync.OnceValue(func() time.Duration {
	const n = 9
	late := make([]time.Duration, n)
	for i := range late {
		start := time.Now()
		time.Sleep(100 * time.Microsecond)
		late[i] = time.Since(start) - 100*time.Microsecond
	}
	slices.Sort(late)
	return min(max(late[n/2], 0), 5*time.Millisecond)
})

// SimWindow is the race window of a simulation on this host, physical: the
// link's round trip, how late timers fire (slack: TimerSlack, or a
// measured lateness) and LoopbackSlack.
func SimWindow(rtt, slack time.Duration) time.Duration { return rtt + slack + LoopbackSlack }

// FixedGapRaces counts the gaps in [from, to), skipping the gap right after
// a race (that request goes out on a fresh connection).
func FixedGapRaces(gaps []time.Duration, from, to time.Duration) float64 {
	n, after := 0, false
	for _, g := range gaps {
		if !after && g >= from && g < to {
			n, after = n+1, true
			continue
		}
		after = false
	}
	return float64(n)
}

// PoissonRaceRate is r = p/(1+p), p = exp(−λ·from) − exp(−λ·to) (see the
// model above).
func PoissonRaceRate(lambda float64, from, to time.Duration) float64 {
	if !(lambda > 0) || to <= from {
		return 0
	}
	upper := 0.0
	if to < time.Duration(math.MaxInt64) {
		upper = math.Exp(-lambda * to.Seconds())
	}
	p := math.Exp(-lambda*from.Seconds()) - upper
	return p / (1 + p)
}

// TickedRaceProb is the probability that a request sent at idle age a
// meets the close of a backend whose keep-alive k is checked on a tick t
// (the close spread evenly over [k, k+t)), w being the race window and g
// the gateway's idle limit (0 = none). t = 0 gives 1 inside the window
// [k − w, min(k, g)) and 0 outside.
func TickedRaceProb(a, k, t, w, g time.Duration) float64 {
	if a < 0 || (g > 0 && a >= g) {
		return 0
	}
	if t <= 0 {
		if a >= k-w && a < k {
			return 1
		}
		return 0
	}
	lo, hi := max(a, k), min(a+w, k+t) // the closes C in (a, a+w] ∩ [k, k+t)
	if hi <= lo {
		return 0
	}
	return float64(hi-lo) / float64(t)
}

// TickedGapRaces is FixedGapRaces for a ticking backend: the expected
// races of a connection's fixed gaps, each racing with TickedRaceProb
// unless the one before it raced (that request went out on a fresh
// connection).
func TickedGapRaces(gaps []time.Duration, k, t, w, g time.Duration) float64 {
	n, prev := 0.0, 0.0
	for _, gap := range gaps {
		r := TickedRaceProb(gap, k, t, w, g) * (1 - prev)
		n += r
		prev = r
	}
	return n
}

// TickedPoissonRaceRate is PoissonRaceRate for a ticking backend: with
// exponential gaps of rate lambda, p averages over the close C in
// [k, k+t) the chance that a gap falls in [C − w, min(C, g)); r = p/(1+p).
func TickedPoissonRaceRate(lambda float64, k, t, w, g time.Duration) float64 {
	if !(lambda > 0) {
		return 0
	}
	if t <= 0 {
		from, to := RaceWindow(k, g, w)
		return PoissonRaceRate(lambda, from, to)
	}
	const steps = 256
	p := 0.0
	for i := range steps {
		c := k + time.Duration((float64(i)+0.5)/steps*float64(t))
		from, to := RaceWindow(c, g, w)
		if to > from {
			p += math.Exp(-lambda*from.Seconds()) - math.Exp(-lambda*to.Seconds())
		}
	}
	p /= steps
	return p / (1 + p)
}
