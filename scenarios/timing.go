package scenarios

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/event"
	"github.com/gwsim/gwsim/scenarios/load"
)

// Outcomes of a scenario run. A failure that the machine's timing could
// have caused is inconclusive, never a wrong fail: scaled runs shrink the
// margins their answers depend on (5 s becomes 50 ms at time scale 0.01)
// while the scheduler's delay on a busy machine does not shrink.
const (
	OutcomePass         = "pass"
	OutcomeFail         = "fail"
	OutcomeInconclusive = "inconclusive"
)

// Timing is what a run measured of this machine's timeliness, and the
// tightest timing margin the scenario's answer depends on.
type Timing struct {
	// LatenessP99 and LatenessMax are how late a 2 ms timer woke its
	// goroutine during the run (a probe beside the actors): the delay any
	// of the actors' timers, reads and sends could have met.
	LatenessP99, LatenessMax time.Duration
	// BackendTimerMax is the latest the backend's own keep-alive timer
	// fired after its deadline (0 when it closed nothing on a timer).
	BackendTimerMax time.Duration
	// Margin is the tightest distance, in wall time, between the timers
	// and aims the answer depends on; MarginWhat says which (0 and "" when
	// the answer depends on none).
	Margin     time.Duration
	MarginWhat string
	// LongestIdle is the longest idle age the gateway's backend
	// connections reached (at a reuse or an idle close).
	LongestIdle time.Duration
	// BackendClose is the backend's idle close measured before a gap
	// sweep centred on it (gap_around: backend-close), and BackendKeepAlive
	// its nominal keep-alive at the run's scale; both 0 otherwise.
	BackendClose, BackendKeepAlive time.Duration
	// Unproven, when set, says why a pass of "no race" proves nothing:
	// the traffic never came near the limit that decides the race.
	Unproven string
}

// Lateness is the lateness a verdict must allow for: the worst the probe
// or the backend's timer met. The worst, not a percentile: the failures in
// question are often single events, and one late wake-up can make one.
func (t Timing) Lateness() time.Duration { return max(t.LatenessMax, t.BackendTimerMax) }

// longestIdle is the longest idle age the gateway's backend connections
// reached: at a reuse, or when the gateway's idle limit or the backend
// closed an idle connection (measured from the end of its last exchange).
// It says whether the traffic came near the timers a cure is about. A
// gateway that leaves no events (a real one) is seen from the backend.
func longestIdle(events []event.Event) time.Duration {
	var longest, backendSide time.Duration
	sawGateway := false
	lastEnd := map[uint64]int64{} // upstream connection → Mono of its last finished exchange
	for _, e := range events {
		if e.Actor == event.Backend {
			// The backend's view, for a gateway that leaves no events (a
			// real one): the idle age of a reused connection at its next
			// request, or at the gateway's close.
			switch {
			case e.Kind == event.RequestReceived && e.Requests > 1,
				e.Kind == event.Closed && backend.Initiator(e.Initiator) == backend.ByPeer:
				backendSide = max(backendSide, e.Idle)
			}
			continue
		}
		if e.Actor != event.Gateway || e.Side != event.SideUpstream {
			continue
		}
		sawGateway = true
		switch e.Kind {
		case event.RequestWritten:
			if e.Reused {
				longest = max(longest, e.Idle)
			}
		case event.ResponseFinished:
			lastEnd[e.Conn] = e.Mono
		case event.Closed:
			end, ok := lastEnd[e.Conn]
			if ok && (e.Reason == proxy.ReasonIdleTimeout || e.Reason == proxy.ReasonPeerClosed) {
				longest = max(longest, time.Duration(e.Mono-end))
			}
		}
	}
	if !sawGateway {
		return backendSide
	}
	return longest
}

// unproven says why a pass of an expectation of no race proves nothing
// ("" when it does): the traffic never left a connection idle near the
// limit that decides the race, min(backend keep-alive, gateway idle
// limit), within max(a link round trip + 1 ms, a tenth of it).
func unproven(s *Scenario, p proxy.Profile, keepAlive, link time.Duration, longest time.Duration) string {
	if keepAlive <= 0 || !expectsNoRace(s.Expect, p) {
		return "" // keep-alive off: nothing is reused, nothing to show
	}
	limit, what := keepAlive, "the backend's keep-alive"
	if g := p.BackendIdleTimeout; g > time.Nanosecond && g < keepAlive {
		limit, what = g, "the gateway's idle limit"
	}
	tol := max(2*link+time.Millisecond, limit/10)
	if longest >= limit-tol {
		return ""
	}
	return fmt.Sprintf("no backend connection stayed idle within %s of %s %s (the longest idle age was %s): this load cannot show the race",
		roundDur(tol), what, roundDur(limit), roundDur(longest))
}

// expectsNoRace reports whether e claims no race: a zero bound on the
// keep-alive race cause or on the status the gateway answers it with.
func expectsNoRace(e Expect, p proxy.Profile) bool {
	if c, ok := e.Causes[proxy.CauseKeepaliveRace]; ok && c.exactlyZero() {
		return true
	}
	status := p.RaceStatus
	if status == 0 {
		status = 502
	}
	c, ok := e.Status[strconv.Itoa(status)]
	return ok && c.exactlyZero()
}

// inconclusiveShare is how much of a margin the measured lateness may use
// before a failure could be the machine's doing: half.
const inconclusiveShare = 0.5

// outcome decides a run's outcome from its failures and timing: a failure
// is inconclusive when the lateness reached half the margin the answer
// depends on (it could have moved a close, an idle limit or a request
// across it), and the reason says so with the figures.
func outcome(failures []string, t Timing) (string, string) {
	if len(failures) == 0 {
		if t.Unproven != "" {
			return OutcomeInconclusive, t.Unproven
		}
		return OutcomePass, ""
	}
	if t.Margin > 0 && float64(t.Lateness()) >= inconclusiveShare*float64(t.Margin) {
		return OutcomeInconclusive, fmt.Sprintf("timers ran up to %s late (99th percentile %s; backend keep-alive timer %s late at worst) against a margin of %s (%s): the machine's timing could have made this failure",
			roundDur(t.LatenessMax), roundDur(t.LatenessP99), roundDur(t.BackendTimerMax), roundDur(t.Margin), t.MarginWhat)
	}
	return OutcomeFail, ""
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// margin is the tightest timing margin, in wall time at the run's scale,
// that the scenario's answer depends on, judged by what the run met
// (causes, by count). When it met the race, the answer turns on how far the
// backend's close was from what would have prevented it: the gateway's
// idle limit, and the idle gaps the traffic left. When a gap sweep met no
// race, on how well it was aimed at the close: the sweep's half width. A
// reset or a race was told apart by the gateway's race window, and a reset
// of a new connection can be the backend's wait for its first request
// running out; a time-out, by the request time-out. A cause nobody met
// needs no margin.
func margin(s *Scenario, p proxy.Profile, keepAlive, raceWindow time.Duration, scale float64, causes map[string]int64, around time.Duration) (time.Duration, string) {
	best, what := time.Duration(0), ""
	consider := func(d time.Duration, desc string) {
		if d > 0 && (best == 0 || d < best) {
			best, what = d, desc
		}
	}
	raced := causes[proxy.CauseKeepaliveRace] > 0
	reset := causes[proxy.CauseBackendResetMidRequest] > 0
	sweep := load.Pattern(s.Load.Pattern).Sweeps()
	switch {
	case raced && keepAlive > 0:
		if idle := p.BackendIdleTimeout; idle > time.Nanosecond && idle < keepAlive {
			consider(keepAlive-idle, fmt.Sprintf("backend keep-alive %s above gateway idle %s", keepAlive, idle))
		}
		longest := around + s.Load.GapTo.D()
		if idle := p.BackendIdleTimeout; idle > time.Nanosecond {
			longest = min(longest, idle) // the gateway retires a connection at its idle limit
		}
		if sweep && longest < keepAlive && longest != p.BackendIdleTimeout {
			consider(keepAlive-longest, fmt.Sprintf("backend keep-alive %s above the longest idle gap %s", keepAlive, longest))
		}
	case !raced && sweep && keepAlive > 0:
		half := (s.Load.GapTo.D() - s.Load.GapFrom.D()) / 2
		consider(half, fmt.Sprintf("the gap sweep aims within ±%s of %s", half, around))
	}
	if raced || reset {
		consider(raceWindow, fmt.Sprintf("the gateway's race window %s", raceWindow))
	}
	if reset {
		consider(keepAlive, fmt.Sprintf("the backend's wait for a new connection's first request %s", keepAlive))
	}
	if causes[proxy.CauseBackendTimeout] > 0 || len(s.Backend.Faults) > 0 {
		consider(p.RequestTimeout, fmt.Sprintf("request time-out %s", p.RequestTimeout))
	}
	return best, what
}

// latenessProbe measures, while a scenario runs, how late a short timer
// wakes its goroutine on this machine.
type latenessProbe struct {
	done    chan struct{}
	mu      sync.Mutex
	samples []time.Duration
}

// count is how many samples the probe has taken so far.
func (lp *latenessProbe) count() int {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return len(lp.samples)
}

// probeInterval is the probe's timer; about 500 wake-ups a second.
const probeInterval = 2 * time.Millisecond

// maxProbeSamples bounds the probe's memory (a run of 40 minutes).
const maxProbeSamples = 1 << 20

// startLatenessProbe starts the probe; it stops when ctx ends.
func startLatenessProbe(ctx context.Context) *latenessProbe {
	lp := &latenessProbe{done: make(chan struct{})}
	go func() {
		defer close(lp.done)
		t := time.NewTimer(probeInterval)
		defer t.Stop()
		for {
			at := time.Now()
			t.Reset(probeInterval)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				lp.mu.Lock()
				if len(lp.samples) < maxProbeSamples {
					lp.samples = append(lp.samples, max(time.Since(at)-probeInterval, 0))
				}
				lp.mu.Unlock()
			}
		}
	}()
	return lp
}

// result waits for the probe to stop (its context must have ended) and
// returns the 99th percentile and the maximum lateness.
func (lp *latenessProbe) result() (p99, worst time.Duration) {
	<-lp.done
	if len(lp.samples) == 0 {
		return 0, 0
	}
	s := slices.Clone(lp.samples)
	slices.Sort(s)
	return s[(len(s)-1)*99/100], s[len(s)-1]
}

// MachineLateness measures, for d, how late a short timer wakes its
// goroutine on this machine now: the worst wake-up seen.
func MachineLateness(ctx context.Context, d time.Duration) time.Duration {
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	lp := startLatenessProbe(pctx)
	_, worst := lp.result()
	return worst
}

// autoScaleFactor is how many times the measured lateness a scenario's
// shortest timer must be at an automatic time scale: twice keeps the
// lateness under half the margin, and four times more allows for the runs'
// own load (beside 12 busy loops: 20-40 ms measured before the runs, up to
// 100 ms during them).
const autoScaleFactor = 8

// AutoScale is the time scale to run s at on a machine whose timers run up
// to lateness late: s's own scale (for time_scale: auto, AutoFloor),
// raised (up to 1) until its shortest timer (backend keep-alive, gateway
// idle limit, request time-out, and a cure's keep-alive above the idle
// limit) is at least autoScaleFactor × lateness. The gap sweep's offsets
// and the link latency are wall time and do not scale.
func AutoScale(s *Scenario, lateness time.Duration) float64 {
	scale := s.Scale()
	if s.Backend.Real() {
		return scale // real time
	}
	shortest := s.shortestTimer()
	if shortest <= 0 || lateness <= 0 {
		return scale
	}
	need := float64(autoScaleFactor*lateness) / float64(shortest)
	return min(roundScaleUp(max(scale, need)), MaxTimeScale)
}

// roundScaleUp rounds a scale up to two significant digits (0.00067, not
// 0.0006666666666666666): never faster than asked, and readable.
func roundScaleUp(f float64) float64 {
	if f <= 0 {
		return f
	}
	e := math.Pow(10, math.Floor(math.Log10(f))-1)
	r, _ := strconv.ParseFloat(strconv.FormatFloat(math.Ceil(f/e-1e-9)*e, 'g', 2, 64), 64)
	return r
}

// autoMinTimer is the shortest a scenario's keep-alive and idle timers
// may be at time_scale: auto, even on an idle machine: 20 ms keeps the gap
// sweep's millisecond offsets and the link's round trip small beside them.
// autoMinRequestTimeout is the same for the request time-out, which every
// answer must beat, through the link and whatever else the machine runs.
const (
	autoMinTimer          = 20 * time.Millisecond
	autoMinRequestTimeout = 100 * time.Millisecond
)

// AutoFloor is the fastest scale time_scale: auto may pick for s: its
// keep-alive and idle timers (and a cure's margin between them) at least
// autoMinTimer; its request time-out at least autoMinRequestTimeout; a gap
// sweep's centre at least twice its reach below it (gap_from), so that its
// first gaps stay positive; an open loop bound by duration planning at
// least twice MinPlannedRequests. Never below MinTimeScale or above
// MaxTimeScale; rounded up to two significant digits.
func (s *Scenario) AutoFloor() float64 {
	floor := MinTimeScale
	idle, request := s.timers()
	if idle > 0 {
		floor = max(floor, float64(autoMinTimer)/float64(idle))
	}
	if request > 0 {
		floor = max(floor, float64(autoMinRequestTimeout)/float64(request))
	}
	l := s.Load
	switch load.Pattern(l.Pattern) {
	case load.PatternGapSweep, load.PatternAimed:
		if c := s.sweepCentre(1); c > 0 && l.GapFrom < 0 {
			floor = max(floor, float64(-2*l.GapFrom.D())/float64(c))
		}
	case load.PatternConstant, load.PatternPoisson:
		if l.Requests == 0 && l.Rate > 0 && l.Duration > 0 {
			floor = max(floor, 2*MinPlannedRequests/(l.Rate*l.Duration.D().Seconds()))
		}
	}
	return min(roundScaleUp(floor), MaxTimeScale)
}

// shortestTimer is the shortest of s's real-world timers that decide its
// answer (see AutoScale), unscaled; 0 when it has none.
func (s *Scenario) shortestTimer() time.Duration {
	idle, request := s.timers()
	if idle > 0 && (request <= 0 || idle < request) {
		return idle
	}
	return request
}

// timers returns, unscaled, the shortest of s's keep-alive and idle timers
// (backend keep-alive, gateway idle limit, and a cure's keep-alive above
// the idle limit) and the gateway's request time-out; 0 for none.
func (s *Scenario) timers() (idle, request time.Duration) {
	p, err := s.profile(1)
	if err != nil {
		return 0, 0
	}
	b, err := s.backendConfig(1)
	if err != nil {
		return 0, 0
	}
	consider := func(d time.Duration) {
		if d > 0 && (idle == 0 || d < idle) {
			idle = d
		}
	}
	closes := b.KeepAliveTimeout > 0 && !b.IdleForever
	if closes {
		consider(b.KeepAliveTimeout)
	}
	if g := p.BackendIdleTimeout; g > time.Nanosecond {
		consider(g)
		if closes && b.KeepAliveTimeout > g {
			consider(b.KeepAliveTimeout - g) // a cure's margin
		}
	}
	return idle, p.RequestTimeout
}

// Undecidable reports whether r's timing could have changed what it
// measured, whatever its expectations: the worst lateness seen during the
// run reached half of margin (the margin the measurement depends on, e.g.
// r.Timing.Margin or a model's window), and says why. Tests and reports use
// it to skip, not fail, a comparison the machine could not make.
func (r *Result) Undecidable(margin time.Duration) (bool, string) {
	return undecidable(r.Timing.Lateness(), margin, "up to")
}

// UndecidableShare is Undecidable for a measured share (how many of many
// requests met the race), which a few late wake-ups do not move: it weighs
// the 99th percentile of the lateness, not the worst.
func (r *Result) UndecidableShare(margin time.Duration) (bool, string) {
	return undecidable(max(r.Timing.LatenessP99, r.Timing.BackendTimerMax), margin, "at the 99th percentile")
}

func undecidable(l, margin time.Duration, which string) (bool, string) {
	if margin <= 0 || float64(l) < inconclusiveShare*float64(margin) {
		return false, ""
	}
	return true, fmt.Sprintf("timers ran %s %s late against a margin of %s", which, roundDur(l), roundDur(margin))
}
