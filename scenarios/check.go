package scenarios

import (
	"fmt"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/rule"
)

// Verdict, its values and CheckResult are the race rule's (package rule),
// named here for the check's callers.
type (
	Verdict     = rule.Verdict
	CheckResult = rule.Decision
)

// Verdicts.
const (
	Safe     = rule.Safe
	Marginal = rule.Marginal
	Unsafe   = rule.Unsafe
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
	// GatewayReuseSafe and GatewaySilentClose: see rule.Setting.
	GatewayReuseSafe, GatewaySilentClose bool
	// RTT is the gateway↔backend round trip; 0 = rule.DefaultRTT.
	RTT time.Duration
	// TimerSlack is how late timers act; 0 = rule.DefaultTimerSlack in the
	// real world, this host's rule.TimerSlack in a simulation (Scale < 1).
	TimerSlack time.Duration
	// Scale is the time scale the values will run at; 0 = 1 (the real
	// world). A simulation's window is physical, so at scale f it is 1/f as
	// long in real-world terms.
	Scale float64
}

// Check decides, without traffic, whether the gateway and backend of in
// can meet the keep-alive race: rule.Decide with the race window of in. In
// the real world (Scale 1) the window is RTT plus TimerSlack (default
// rule.DefaultTimerSlack, the one-second tick of real servers' timers); as
// a simulation at Scale f runs it, it is the model's physical window (RTT,
// the host's rule.TimerSlack, rule.LoopbackSlack) over f in real-world terms.
func Check(in CheckInput) CheckResult {
	if in.RTT <= 0 {
		in.RTT = rule.DefaultRTT
	}
	if in.Scale <= 0 {
		in.Scale = 1
	}
	window := in.RTT + in.TimerSlack
	switch {
	case in.Scale < 1:
		slack := in.TimerSlack
		if slack <= 0 {
			slack = rule.TimerSlack()
		}
		window = time.Duration(float64(rule.SimWindow(in.RTT, slack)) / in.Scale)
	case in.TimerSlack <= 0:
		window += rule.DefaultTimerSlack
	}
	return rule.Decide(rule.Setting{Gateway: in.Gateway, GatewayIdle: in.GatewayIdle, GatewayNoReuse: in.GatewayNoReuse,
		Backend: in.Backend, BackendKeepAlive: in.BackendKeepAlive, BackendNoLimit: in.BackendNoLimit, Window: window,
		GatewayReuseSafe: in.GatewayReuseSafe, GatewaySilentClose: in.GatewaySilentClose})
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
	if s.Backend.Real() && b.KeepAliveTimeout == 0 {
		return CheckResult{}, fmt.Errorf("%s: the backend at %s declares no keep-alive: set backend.keepalive_timeout, or measure it with gwsim probe %s", s.Name, s.Backend.URL, s.Backend.URL)
	}
	in := CheckFor(p, b)
	in.Backend = s.Backend.Preset
	in.RTT, in.TimerSlack, in.Scale = 2*s.linkLatency(), slack, scale
	return Check(in), nil
}

// CheckFor fills a CheckInput from a gateway profile and a backend
// configuration (both real-world).
func CheckFor(p proxy.Profile, b backend.Config) CheckInput {
	in := CheckInput{Gateway: p.Name, GatewayIdle: p.BackendIdleTimeout, BackendKeepAlive: b.KeepAliveTimeout, BackendNoLimit: b.IdleForever,
		GatewayReuseSafe: p.Reuse == proxy.ReuseSafe, GatewaySilentClose: p.SilentCloseOnLaterRequest}
	if in.GatewayIdle > 0 && in.GatewayIdle < time.Microsecond {
		in.GatewayIdle, in.GatewayNoReuse = 0, true
	}
	return in
}
