package explain

import (
	"fmt"
	"time"

	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/rule"
)

// scale is the time scale the gateway stated (1 when absent).
func (a *Analysis) scale() float64 {
	if s := a.Gateway.TimeScale; s > 0 {
		return s
	}
	return 1
}

// real turns a measured (scaled) duration into its real-world value.
func (a *Analysis) real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / a.scale())
}

// Verdict is one line that says what the failures mean and what fixes
// them, in real-world units, in the race rule's words (package rule): the
// same verdict and recommended keep-alive as gwsim check.
func (a *Analysis) Verdict() string {
	k, g := a.Backend.KeepAlive, a.Gateway.IdleTimeout
	haveK, haveG := a.Backend.Known, a.Gateway.Known
	var d rule.Decision
	if haveK && haveG {
		d = rule.Decide(rule.Setting{GatewayIdle: a.real(g), BackendKeepAlive: max(a.real(k), 0), BackendNoLimit: k < 0})
	}
	switch {
	case a.Causes[proxy.CauseKeepaliveRace] > 0:
		switch {
		case haveK && haveG && k > 0 && d.Verdict != rule.Safe:
			return fmt.Sprintf("%s: %s.", d.Rule, d.Advice)
		case haveG && g > 0:
			return fmt.Sprintf("the backend closed idle connections the gateway reused: set the backend keep-alive to %s (above the gateway idle %s), or turn keep-alive off.",
				rule.Dur(rule.Recommend(a.real(g), 0)), dur(a.real(g)))
		}
		return "the backend closed idle connections the gateway reused: make its keep-alive longer than the gateway's idle timeout, or turn keep-alive off."
	case a.Causes[CauseClientIdleRace] > 0:
		ka := a.Gateway.ClientKeepAlive
		return fmt.Sprintf("the client keeps idle connections longer than the gateway's client keep-alive %s: set the client's idle timeout below %s (e.g. %s), or make the client retry a request that failed on a reused connection.",
			dur(a.real(ka)), dur(a.real(ka)), dur(a.real(ka*4/5)))
	case a.Causes[proxy.CauseBackendTimeout] > 0 || a.Causes[proxy.CauseBackendResetMidRequest] > 0:
		return "the backend stopped answering or cut connections it was serving: not the keep-alive race; look at the backend's health, load and time-outs."
	case len(a.Causes) > 0:
		return "failures other than the keep-alive race: see the causes above."
	case haveK && k == 0:
		return "no failure: backend keep-alive is off, no connection is reused."
	case haveK && haveG && d.Verdict == rule.Safe:
		return fmt.Sprintf("no failure: %s.", d.Rule)
	case haveK && haveG:
		return fmt.Sprintf("no failure in this traffic, but the rule says %s: %s; %s.", d.Verdict, d.Rule, d.Advice)
	}
	return "no failure."
}
