package scenarios

import (
	"fmt"
	"math"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/load"
	"github.com/gwsim/gwsim/scenarios/rule"
)

// The analytic model of the keep-alive race: see package rule for its
// derivation; Predict applies it to a scenario.

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
		from, to = rule.RaceWindow(k, g, rule.SimWindow(2*oneWay, slack))
		if b.Tick > 0 {
			// The close falls anywhere in [k, k+tick): the window reaches
			// a tick further (TickedRaceProb weighs each age in it).
			_, to = rule.RaceWindow(k+b.Tick, g, 0)
		}
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
	pr.WindowFrom, pr.WindowTo, pr.Why = raceWindow(p, b, d, rule.TimerSlack())
	// A backend on a tick closes anywhere in [K, K+tick): each idle age
	// races with a probability (rule.TickedRaceProb), not all or nothing.
	ticked := b.Tick > 0 && !b.RaceTrap && pr.WindowTo > pr.WindowFrom
	k, tick, w, g := b.KeepAliveTimeout, b.Tick, rule.SimWindow(2*d, rule.TimerSlack()), p.BackendIdleTimeout
	pr.Visible = 1
	if p.Retry == proxy.RetryIdempotent {
		pr.Visible = l.PostRatio
	}
	members := max(s.Gateway.Members, 1)
	switch l.Pattern {
	case load.PatternGapSweep, load.PatternAimed:
		// Aimed: the same gaps, each on the connection that took it, after
		// one priming request per connection.
		gaps := load.SweepGaps(l.GapFrom, l.GapTo, l.GapStep)
		passes := max(l.Passes, 1)
		blocks := [][]time.Duration{gaps}
		if l.Pattern == load.PatternAimed {
			blocks = load.AimedBlocks(gaps, l.Workers)
		}
		pr.Model, pr.Requests = "fixed-gaps", float64(len(gaps)*passes+len(blocks))
		if l.Duration > 0 || members > 1 {
			pr.Why = "a gap sweep bounded by duration or spread over members is estimated as if neither"
		}
		races := 0.0
		for _, block := range blocks { // each connection's own sequence of gaps (a race resets only its own)
			var mine []time.Duration
			for range passes {
				mine = append(mine, block...)
			}
			if ticked {
				races += rule.TickedGapRaces(mine, k, tick, w, g)
			} else {
				races += rule.FixedGapRaces(mine, pr.WindowFrom, pr.WindowTo)
			}
		}
		pr.RaceRate = races / pr.Requests
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
		switch {
		case ticked:
			q := rule.TickedRaceProb(gap, k, tick, w, g)
			pr.RaceRate = q / (1 + q) // r = (1 − r)·q: a race, then a fresh connection
		case gap >= pr.WindowFrom && gap < pr.WindowTo:
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
		if ticked {
			pr.RaceRate = rule.TickedPoissonRaceRate(lambda, k, tick, w, g)
		} else {
			pr.RaceRate = rule.PoissonRaceRate(lambda, pr.WindowFrom, pr.WindowTo)
		}
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

// RaceAnswers counts the requests the gateway answered because of the
// keep-alive race (races the retry policy sent again are not counted): what
// the model's Rate predicts, times the requests.
func (r *Result) RaceAnswers() int64 {
	if r.Analysis != nil {
		return r.Analysis.Causes[proxy.CauseKeepaliveRace] // joined with the backend's events
	}
	return r.Gateway.Causes[proxy.CauseKeepaliveRace] // answers, counted whole (not the failure sample)
}
