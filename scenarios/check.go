package scenarios

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
)

// Verdict is the static check's answer: can this gateway and this backend
// race at all?
type Verdict string

// Verdicts.
const (
	// Safe: the gateway always closes an idle connection first (or nothing
	// is ever reused, or nobody closes idle connections).
	Safe Verdict = "safe"
	// Marginal: the gateway closes first, but by less than the race window
	// (one RTT plus timer slack): a request it sends just before its idle
	// limit can still reach the backend after the backend closed.
	Marginal Verdict = "marginal"
	// Unsafe: the backend closes idle connections first (backend keep-alive
	// <= gateway idle, or a gateway with no idle limit): the race happens.
	Unsafe Verdict = "unsafe"
)

// CheckInput is what the static check needs: no traffic, only timeouts.
// Durations are real-world, except RTT and TimerSlack, which are physical.
type CheckInput struct {
	Gateway string // a name for messages
	// GatewayIdle is the gateway's backend idle timeout; 0 = no limit.
	GatewayIdle time.Duration
	// GatewayNoReuse: the gateway opens a new backend connection per request.
	GatewayNoReuse bool
	Backend        string // a name for messages
	// BackendKeepAlive is when the backend closes an idle connection; 0 =
	// keep-alive off.
	BackendKeepAlive time.Duration
	// BackendNoLimit: the backend never closes an idle connection.
	BackendNoLimit bool
	// RTT is the gateway↔backend round trip; 0 = 2 × DefaultLinkLatency.
	RTT time.Duration
	// TimerSlack is how late timers fire; 0 = 1 ms (Go's timers on a
	// millisecond-tick host; see TimerSlack for this host's).
	TimerSlack time.Duration
	// Scale is the time scale the values will run at; 0 = 1 (the real
	// world). The margin is physical, so at scale f it is 1/f as long in
	// real-world terms.
	Scale float64
}

// CheckResult is the static check's decision and its reasons.
type CheckResult struct {
	Verdict Verdict
	// Rule is the rule that decided, with the values, in plain words.
	Rule string
	// Advice is the recommended backend setting, in plain words.
	Advice string
	// Recommended is the backend keep-alive to set (real-world): 0 when
	// the advice is to turn keep-alive off or nothing is needed.
	Recommended time.Duration
	// Margin is the race window's width in real-world terms: RTT plus timer
	// slack plus loopbackSlack, divided by the scale.
	Margin time.Duration
}

// Check decides, without traffic, whether the gateway and backend of in
// can meet the keep-alive race. It is the model's window (see model.go)
// reduced to a yes/no: the window [K − margin, min(K, G)) is empty, tiny
// or there.
func Check(in CheckInput) CheckResult {
	if in.RTT <= 0 {
		in.RTT = 2 * DefaultLinkLatency
	}
	if in.TimerSlack <= 0 {
		in.TimerSlack = time.Millisecond
	}
	if in.Scale <= 0 {
		in.Scale = 1
	}
	margin := time.Duration(float64(in.RTT+in.TimerSlack+loopbackSlack) / in.Scale)
	k, g := in.BackendKeepAlive, in.GatewayIdle
	be, gw := orName(in.Backend, "the backend"), orName(in.Gateway, "the gateway")
	r := CheckResult{Margin: margin}
	switch {
	case !in.BackendNoLimit && k == 0:
		r.Verdict, r.Rule = Safe, fmt.Sprintf("%s has keep-alive off: every response says Connection: close and no connection is reused", be)
		r.Advice = "nothing to change (keep-alive off costs a connection per request)"
	case in.GatewayNoReuse:
		r.Verdict, r.Rule = Safe, fmt.Sprintf("%s opens a new backend connection for every request: nothing idle is reused", gw)
		r.Advice = "nothing to change"
	case in.BackendNoLimit:
		r.Verdict, r.Rule = Safe, fmt.Sprintf("%s never closes an idle connection, so it never closes one under the gateway", be)
		r.Advice = "nothing to change for the race (an idle limit above the gateway's is kinder to the backend)"
		if g > 0 {
			r.Recommended = recommend(g, margin)
			r.Advice = fmt.Sprintf("nothing to change for the race; if you set an idle limit, keep it above %s, e.g. %s", checkDur(g), checkDur(r.Recommended))
		}
	case g == 0:
		r.Verdict = Unsafe
		r.Rule = fmt.Sprintf("%s keeps idle backend connections with no limit, so %s always closes them first (after %s): any request after an idle gap that long can meet the close",
			gw, be, checkDur(k))
		r.Advice = "turn backend keep-alive off, or make it longer than any idle gap your traffic leaves (about 300 s is the usual advice for Application Gateway V1); only a gateway idle limit below it removes the race"
	case k <= g:
		r.Verdict = Unsafe
		r.Recommended = recommend(g, margin)
		r.Rule = fmt.Sprintf("backend keep-alive %s <= gateway idle %s: %s closes idle connections first, and a request %s sends as it closes meets a closed connection",
			checkDur(k), checkDur(g), be, gw)
		r.Advice = fmt.Sprintf("set the backend keep-alive above %s, e.g. %s, or turn keep-alive off", checkDur(g), checkDur(r.Recommended))
	case k < g+margin:
		r.Verdict = Marginal
		r.Recommended = recommend(g, margin)
		r.Rule = fmt.Sprintf("backend keep-alive %s > gateway idle %s by only %s, less than one RTT plus timer slack (%s): a request sent just before %s can still arrive after the backend closed",
			checkDur(k), checkDur(g), checkDur(k-g), checkDur(margin), checkDur(g))
		r.Advice = fmt.Sprintf("raise the backend keep-alive to %s or more", checkDur(r.Recommended))
	default:
		r.Verdict = Safe
		r.Rule = fmt.Sprintf("backend keep-alive %s > gateway idle %s + %s (one RTT plus timer slack): %s always closes idle connections first",
			checkDur(k), checkDur(g), checkDur(margin), gw)
		r.Advice = "nothing to change"
	}
	return r
}

// recommend is the backend keep-alive to advise behind a gateway idle g:
// g + max(5 s, g/30, 2 × margin), up to a whole second (60 s → 65 s, the
// AWS advice; 600 s → 620 s, the GCP advice).
func recommend(g, margin time.Duration) time.Duration {
	r := g + max(5*time.Second, g/30, 2*margin)
	return time.Duration(math.Ceil(r.Seconds())) * time.Second
}

func orName(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

// CheckScenario is the static check of a scenario's gateway and backend,
// with its link latency, for values run at scale (0 = the real world: the
// check is about the deployment, not the simulation).
func CheckScenario(s *Scenario, scale float64, slack time.Duration) (CheckResult, error) {
	p, err := s.profile(1)
	if err != nil {
		return CheckResult{}, err
	}
	b, err := s.backendConfig(1)
	if err != nil {
		return CheckResult{}, err
	}
	in := CheckFor(p, b)
	in.Backend = s.Backend.Preset
	in.RTT, in.TimerSlack, in.Scale = 2*s.linkLatency(), slack, scale
	return Check(in), nil
}

// CheckFor fills a CheckInput from a gateway profile and a backend
// configuration (both real-world).
func CheckFor(p proxy.Profile, b backend.Config) CheckInput {
	in := CheckInput{Gateway: p.Name, GatewayIdle: p.BackendIdleTimeout, BackendKeepAlive: b.KeepAliveTimeout, BackendNoLimit: b.IdleForever}
	if in.GatewayIdle > 0 && in.GatewayIdle < time.Microsecond {
		in.GatewayIdle, in.GatewayNoReuse = 0, true
	}
	return in
}

// checkDur prints a real-world duration: 5 s, 60 s, 1.5 s, 2 h, 500 ms.
func checkDur(d time.Duration) string {
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
