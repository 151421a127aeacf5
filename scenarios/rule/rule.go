// Package rule is gwsim's one keep-alive race rule: given how long a
// gateway keeps an idle backend connection and how long the backend keeps
// it, can the gateway send a request on a connection the backend is
// closing, and what backend keep-alive removes the race? The static check
// (gwsim check), the analytic model, the explanation of a run and the
// reports all decide with this package, so they cannot disagree.
//
// The rule (see scenarios/model.go for the derivation): a backend that
// closes an idle connection at keep-alive K meets a request the gateway
// sends at idle age a when K − W <= a < K, W being the race window (one
// round trip plus how late the timers on both sides fire); the gateway
// sends nothing past its own idle limit G. The window in idle age is
// therefore [K − W, min(K, G)), empty exactly when K >= G + W.
package rule

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Verdict is the rule's answer for one gateway and one backend.
type Verdict string

// Verdicts.
const (
	// Safe: the gateway always closes an idle connection first by more
	// than the race window (or nothing is ever reused, or nobody closes
	// idle connections).
	Safe Verdict = "safe"
	// Marginal: the race is possible but rare or mitigated: the gateway
	// closes first by less than the race window (a request it sends just
	// before its idle limit can still reach the backend after the close),
	// or a gateway with no idle limit is in front of a keep-alive of at
	// least NoLimitKeepAlive (only a gap that long can race: mitigated,
	// not removed, as the seed article says).
	Marginal Verdict = "marginal"
	// Unsafe: the backend closes idle connections first (keep-alive <=
	// gateway idle, or a gateway with no idle limit and a keep-alive
	// shorter than NoLimitKeepAlive): the race happens whenever traffic
	// leaves a connection idle that long.
	Unsafe Verdict = "unsafe"
)

// Defaults of the real-world rule.
const (
	// DefaultTimerSlack is how late a real server's or gateway's idle timer
	// may act: many check their time-outs on a one-second tick (Node.js
	// <= 25 closes about 1 s after its keepAliveTimeout; issue 14 measures
	// each server's tick), so a keep-alive less than a second above the
	// gateway's idle limit is marginal.
	DefaultTimerSlack = time.Second
	// DefaultRTT is the gateway-backend round trip of a deployment when
	// none is given: 1 ms, within one region.
	DefaultRTT = time.Millisecond
	// NoLimitKeepAlive is the backend keep-alive advised behind a gateway
	// that keeps idle backend connections with no limit (Application
	// Gateway V1): about 300 s, the seed article's advice ("set the backend
	// to ~300 s or turn keep-alive off").
	NoLimitKeepAlive = 300 * time.Second
	// minHeadroom and maxHeadroom bound the headroom Recommend adds above
	// the gateway's idle limit (half of it in between).
	minHeadroom = 5 * time.Second
	maxHeadroom = time.Minute
)

// Setting is what the rule needs: no traffic, only timeouts. Durations are
// in one time base (real-world, or all scaled alike).
type Setting struct {
	Gateway string // a name for messages ("" = "the gateway")
	// GatewayIdle is the gateway's backend idle limit; 0 = no limit.
	GatewayIdle time.Duration
	// GatewayNoReuse: the gateway opens a new backend connection per
	// request.
	GatewayNoReuse bool
	Backend        string // a name for messages ("" = "the backend")
	// BackendKeepAlive is when the backend closes an idle connection; 0 =
	// keep-alive off.
	BackendKeepAlive time.Duration
	// BackendNoLimit: the backend never closes an idle connection.
	BackendNoLimit bool
	// GatewayReuseSafe: the gateway sends a client connection's first
	// request on a new backend connection (HAProxy's http-reuse safe), so
	// only later requests can meet the race.
	GatewayReuseSafe bool
	// GatewaySilentClose: the gateway answers the race on a client
	// connection's later request by closing it without a response (HAProxy).
	GatewaySilentClose bool
	// Window is the race window W: one round trip plus how late the
	// timers act; 0 = DefaultRTT + DefaultTimerSlack.
	Window time.Duration
}

// Decision is the rule's answer with its reasons.
type Decision struct {
	Verdict Verdict
	// Rule is the rule that decided, with the values, in plain words.
	Rule string
	// Advice is what to set on the backend, in plain words.
	Advice string
	// Recommended is the backend keep-alive to use (Recommend's figure)
	// whenever the gateway reuses connections, whatever the verdict; 0 when
	// it does not.
	Recommended time.Duration
	// Window is the race window the decision used.
	Window time.Duration
}

// RaceWindow is the range of idle ages [from, to) at which a request the
// gateway sends meets the backend's close, for keep-alive k, gateway idle
// limit g (0 = none) and race window w; to <= from when there is none.
func RaceWindow(k, g, w time.Duration) (from, to time.Duration) {
	from, to = max(k-w, 0), k
	if g > 0 && g < to {
		to = g
	}
	return from, to
}

// Recommend is the backend keep-alive to advise behind a gateway idle limit
// g with race window w: g plus half of g, at least 5 s and at most a
// minute, and at least twice the window; rounded up to 5 s. 60 s gives 90 s
// (the seed article's 90-120 s for Application Gateway V2, whose 60 s is
// observed, not documented, so headroom for a changed limit matters);
// 600 s gives 660 s (above GCP's 600 s and the usual 620 s); an hour gives
// 3660 s. Past a minute, more headroom only holds idle connections (and,
// on prefork servers, workers) longer. g = 0 (no limit) gives
// NoLimitKeepAlive.
func Recommend(g, w time.Duration) time.Duration {
	if g <= 0 {
		return NoLimitKeepAlive
	}
	headroom := max(min(max(g/2, minHeadroom), maxHeadroom), 2*w)
	const step = 5 * time.Second
	r := g + headroom
	return time.Duration(math.Ceil(float64(r)/float64(step))) * step
}

// Decide applies the rule to s.
func Decide(s Setting) Decision {
	w := s.Window
	if w <= 0 {
		w = DefaultRTT + DefaultTimerSlack
	}
	k, g := s.BackendKeepAlive, s.GatewayIdle
	be, gw := orName(s.Backend, "the backend"), orName(s.Gateway, "the gateway")
	d := Decision{Window: w}
	if !s.GatewayNoReuse {
		d.Recommended = Recommend(g, w)
	}
	rec := Dur(d.Recommended)
	switch {
	case s.GatewayNoReuse:
		d.Verdict, d.Rule = Safe, fmt.Sprintf("%s opens a new backend connection for every request: nothing idle is reused", gw)
		d.Advice = "nothing to change"
	case !s.BackendNoLimit && k == 0:
		d.Verdict, d.Rule = Safe, fmt.Sprintf("%s has keep-alive off: every response says Connection: close and no connection is reused", be)
		d.Advice = fmt.Sprintf("nothing to change for the race (keep-alive off costs a connection per request; to turn it on, use %s)", rec)
	case s.BackendNoLimit:
		d.Verdict, d.Rule = Safe, fmt.Sprintf("%s never closes an idle connection, so it never closes one under the gateway", be)
		d.Advice = fmt.Sprintf("nothing to change for the race; if you set an idle limit, use %s", rec)
	case g == 0 && k < NoLimitKeepAlive:
		d.Verdict = Unsafe
		d.Rule = fmt.Sprintf("%s keeps idle backend connections with no limit, so %s always closes them first (after %s): any request after an idle gap that long can meet the close",
			gw, be, Dur(k))
		d.Advice = fmt.Sprintf("set the backend keep-alive to %s (the usual advice for a gateway with no idle limit: only a gap that long can still race), or turn keep-alive off", rec)
	case g == 0:
		d.Verdict = Marginal
		d.Rule = fmt.Sprintf("%s keeps idle backend connections with no limit and %s closes them after %s: only a request after an idle gap that long can meet the close (mitigated, not removed)",
			gw, be, Dur(k))
		d.Advice = "turn backend keep-alive off to remove the race; only an idle limit on the gateway below the keep-alive would remove it otherwise"
	case k <= g:
		d.Verdict = Unsafe
		d.Rule = fmt.Sprintf("backend keep-alive %s <= gateway idle %s: %s closes idle connections first, and a request %s sends as it closes meets a closed connection",
			Dur(k), Dur(g), be, gw)
		d.Advice = fmt.Sprintf("set the backend keep-alive to %s, or turn keep-alive off", rec)
	default:
		if from, to := RaceWindow(k, g, w); to > from {
			d.Verdict = Marginal
			d.Rule = fmt.Sprintf("backend keep-alive %s > gateway idle %s by only %s, less than the race window %s (one round trip plus timer slack): a request sent just before %s can still arrive after the backend closed",
				Dur(k), Dur(g), Dur(k-g), Dur(w), Dur(g))
			d.Advice = fmt.Sprintf("raise the backend keep-alive to %s", rec)
			break
		}
		d.Verdict = Safe
		d.Rule = fmt.Sprintf("backend keep-alive %s >= gateway idle %s + the race window %s (one round trip plus timer slack): %s always closes idle connections first",
			Dur(k), Dur(g), Dur(w), gw)
		d.Advice = "nothing to change"
		if k < d.Recommended {
			d.Advice = fmt.Sprintf("nothing to change (%s leaves more headroom if the gateway's limit changes)", rec)
		}
	}
	if d.Verdict != Safe {
		d.Rule += who(s)
	}
	return d
}

// who qualifies an unsafe or marginal rule by which requests can meet the
// race and what their clients see.
func who(s Setting) string {
	switch {
	case s.GatewayReuseSafe && s.GatewaySilentClose:
		return "; only a client connection's second and later requests go out on reused connections (a client sending one request per connection never meets the race), and the gateway answers the race by closing the client connection without a response: clients see a closed connection, not a 502, and the gateway's log has no line"
	case s.GatewayReuseSafe:
		return "; only a client connection's second and later requests go out on reused connections (a client sending one request per connection never meets the race)"
	case s.GatewaySilentClose:
		return "; on a client connection's second or later request the gateway answers the race by closing the client connection without a response: clients see a closed connection, not a 502, and the gateway's log has no line"
	}
	return ""
}

func orName(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

// Dur prints a real-world duration: 5 s, 60 s, 1.5 s, 2 h, 500 ms.
func Dur(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d >= time.Second && d%time.Second == 0:
		return fmt.Sprintf("%d s", d/time.Second)
	case d >= time.Second:
		return strconv.FormatFloat(d.Seconds(), 'g', 6, 64) + " s"
	case d >= time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e6, 'g', 4, 64) + " ms"
	}
	return d.String()
}

// raceCluster is how many failures' idle ages the cluster at the top must
// hold to tell the backend's keep-alive when nothing else does; each age
// in it is within raceClusterStep of the next longer one.
const (
	raceCluster     = 3
	raceClusterStep = 0.8
)

// IdleCluster is the backend keep-alive that the idle ages of failed
// requests on reused connections point to, when nothing states it: the
// shortest age of the largest cluster, a run of ages each within 80% of
// the next longer (the longer run on a tie). Races happen at the
// keep-alive, or later when the backend's timer runs late (its closes
// spread upward, never below its keep-alive), so they pile up there; a
// failure far below is a gap away, and one late outlier above the pile
// does not hide it. It needs at least 3 ages in the cluster.
func IdleCluster(idle []time.Duration) (time.Duration, bool) {
	s := slices.Clone(idle)
	slices.Sort(s)
	bestFrom, bestLen := 0, 0
	for from := 0; from < len(s); {
		to := from + 1
		for to < len(s) && float64(s[to-1]) >= raceClusterStep*float64(s[to]) {
			to++
		}
		if to-from >= bestLen {
			bestFrom, bestLen = from, to-from
		}
		from = to
	}
	if bestLen < raceCluster {
		return 0, false
	}
	return s[bestFrom], true
}
