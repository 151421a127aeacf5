package scenarios

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/load"
	"github.com/gwsim/gwsim/scenarios/rule"
)

// The analytic model of the keep-alive race.
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
// and the window is W = 2d + τ (+ loopbackSlack, what loopback leaves with
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
// A retry policy hides races from the client: idempotent retries every GET
// (only the POST share stays visible); reset-before-request retries nothing
// that was written, which the race always was.

// loopbackSlack is the race window loopback leaves with no latency at all
// (measured: about 0.1 ms).
const loopbackSlack = 100 * time.Microsecond

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

// Prediction is the model's estimate for one scenario, at a time scale.
type Prediction struct {
	// Model is how the estimate was made: "poisson", "fixed-gaps"
	// (gap-sweep, constant, closed), or "none" when nothing can race.
	Model string
	// Why says, in a few words, why there is no window or what was assumed.
	Why string
	// WindowFrom, WindowTo bound the race window in gateway idle age, at the
	// scale run (physical durations); WindowTo <= WindowFrom: no window.
	WindowFrom, WindowTo time.Duration
	// RaceRate is the expected share of requests that meet the race.
	RaceRate float64
	// Visible is the share of races the client sees (the rest are retried).
	Visible float64
	// Rate is the expected share of requests answered with the gateway's
	// race status: RaceRate × Visible.
	Rate float64
	// Requests is the expected request count (0 when the load has no fixed
	// count).
	Requests float64
	// OutOfDomain says the load is outside what the model covers (Why says
	// how); Rate is then no estimate and reports print none.
	OutOfDomain bool
}

// maxPoissonLK is the most Poisson requests per connection per keep-alive
// period (λK) the one-connection model covers when the load may open more
// connections.
const maxPoissonLK = 3

// HasWindow reports whether anything can race.
func (p Prediction) HasWindow() bool { return p.WindowTo > p.WindowFrom }

// raceWindow is the window of the model (see above) for a gateway profile
// and a backend configuration, both already scaled, and a one-way link
// latency. ok is false, with a reason, when nothing can race.
func raceWindow(p proxy.Profile, b backend.Config, oneWay, slack time.Duration) (from, to time.Duration, why string) {
	g := p.BackendIdleTimeout // 0 = no limit
	switch {
	case b.IdleForever:
		return 0, 0, "the backend never closes an idle connection"
	case b.KeepAliveTimeout == 0:
		return 0, 0, "backend keep-alive off: no connection is reused"
	case g > 0 && g < time.Microsecond:
		return 0, 0, "the gateway does not reuse backend connections"
	}
	k := b.KeepAliveTimeout
	if b.RaceTrap {
		// The trap closes on the next request instead of at K: every
		// reuse after K races, up to the gateway's own limit.
		from, to = k, time.Duration(math.MaxInt64)
		if g > 0 && g < to {
			to = g
		}
	} else {
		from, to = rule.RaceWindow(k, g, 2*oneWay+slack+loopbackSlack)
	}
	if to <= from {
		return from, to, fmt.Sprintf("the gateway closes idle connections (%s) before the backend's close can meet a request (%s − RTT)", g, k)
	}
	return from, to, ""
}

// Predict is the model's estimate for s run at time scale scale (0 = the
// scenario's own).
func Predict(s *Scenario, scale float64) (Prediction, error) {
	if scale <= 0 {
		scale = s.Scale()
	}
	p, err := s.profile(scale)
	if err != nil {
		return Prediction{}, err
	}
	b, err := s.backendConfig(scale)
	if err != nil {
		return Prediction{}, err
	}
	l, err := s.loadConfig("http://127.0.0.1:1/", scale)
	if err != nil {
		return Prediction{}, err
	}
	d := s.linkLatency()
	var pr Prediction
	pr.WindowFrom, pr.WindowTo, pr.Why = raceWindow(p, b, d, TimerSlack())
	pr.Visible = 1
	if p.Retry == proxy.RetryIdempotent {
		pr.Visible = l.PostRatio
	}
	members := max(s.Gateway.Members, 1)
	switch l.Pattern {
	case load.PatternGapSweep:
		gaps := load.SweepGaps(l.GapFrom, l.GapTo, l.GapStep)
		passes := max(l.Passes, 1)
		all := make([]time.Duration, 0, len(gaps)*passes)
		for range passes {
			all = append(all, gaps...)
		}
		pr.Model, pr.Requests = "fixed-gaps", float64(len(all)+1) // +1: the priming request
		if l.Duration > 0 || members > 1 {
			pr.Why = "a gap sweep bounded by duration or spread over members is estimated as if neither"
		}
		pr.RaceRate = fixedGapRaces(all, pr.WindowFrom, pr.WindowTo) / pr.Requests
	case load.PatternConstant, load.PatternClosed:
		gap := l.Think
		if l.Pattern == load.PatternConstant {
			gap = time.Duration(float64(time.Second) / l.Rate)
		}
		gap *= time.Duration(members) // round robin: each member's connection sees every members-th request
		pr.Model = "fixed-gaps"
		if l.Requests > 0 {
			pr.Requests = float64(l.Requests)
		}
		if gap >= pr.WindowFrom && gap < pr.WindowTo {
			pr.RaceRate = 0.5 // every other request: a race, then a fresh connection
		}
	case load.PatternPoisson:
		pr.Model = "poisson"
		if l.Requests > 0 {
			pr.Requests = float64(l.Requests)
		} else if l.Duration > 0 {
			pr.Requests = l.Rate * l.Duration.Seconds()
		}
		lambda := l.Rate / float64(members) // per connection (one connection per member when idle gaps are long)
		pr.RaceRate = poissonRaceRate(lambda, pr.WindowFrom, pr.WindowTo)
		// The formula follows one connection per member. With many
		// requests per keep-alive period (λK ≫ 1) bursts open more
		// connections, and a LIFO pool leaves the extra ones idle until
		// the backend closes them: races the formula cannot see (it gave
		// 0.002% beside 0-20% measured).
		if lk := lambda * pr.WindowTo.Seconds(); lk > maxPoissonLK && s.Load.Connections != 1 {
			pr.OutOfDomain = true
			pr.Why = fmt.Sprintf("Poisson at λK = %.0f requests per keep-alive period over several connections: a LIFO pool leaves the extra connections idle until the backend closes them, which the model (one connection per member) does not cover", lk)
		}
	}
	if !pr.HasWindow() {
		pr.RaceRate = 0
		pr.OutOfDomain = false
		if pr.Model == "" || pr.Why != "" {
			pr.Model = "none"
		}
	}
	pr.Rate = pr.RaceRate * pr.Visible
	return pr, nil
}

// fixedGapRaces counts the gaps in [from, to), skipping the gap right after
// a race (that request goes out on a fresh connection).
func fixedGapRaces(gaps []time.Duration, from, to time.Duration) float64 {
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

// poissonRaceRate is r = p/(1+p), p = exp(−λ·from) − exp(−λ·to) (see the
// model above).
func poissonRaceRate(lambda float64, from, to time.Duration) float64 {
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

// RaceAnswers counts the requests the gateway answered because of the
// keep-alive race (races the retry policy sent again are not counted): what
// the model's Rate predicts, times the requests.
func (r *Result) RaceAnswers() int64 {
	if r.Analysis != nil {
		return r.Analysis.Causes[proxy.CauseKeepaliveRace] // joined with the backend's events
	}
	return r.Gateway.Causes[proxy.CauseKeepaliveRace] // answers, counted whole (not the failure sample)
}
