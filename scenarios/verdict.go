package scenarios

import (
	"fmt"
	"time"

	"github.com/gwsim/gwsim/proxy"
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
// them, in real-world units.
func (a *Analysis) Verdict() string {
	k, g := a.Backend.KeepAlive, a.Gateway.IdleTimeout
	haveK, haveG := a.Backend.Kind != "", a.Gateway.Kind != ""
	kReal, gReal := dur(a.real(k)), dur(a.real(g))
	switch {
	case a.Causes[proxy.CauseKeepaliveRace] > 0:
		switch {
		case haveK && haveG && g > 0 && k > 0:
			return fmt.Sprintf("backend keep-alive %s < gateway idle %s: the backend closes idle connections first and the gateway reuses one as it closes. Set the backend keep-alive above %s (e.g. %s) or turn keep-alive off.",
				kReal, gReal, gReal, dur(a.real(2*g)))
		case haveK && haveG && k > 0:
			return fmt.Sprintf("the gateway keeps idle backend connections with no limit (V1) and the backend closes them after %s. Set the backend keep-alive longer than any idle gap your traffic leaves (about 300 s) or turn keep-alive off.", kReal)
		case haveG && g > 0:
			return fmt.Sprintf("the backend closed idle connections the gateway reused. Set the backend keep-alive above the gateway idle %s (e.g. %s) or turn keep-alive off.", gReal, dur(a.real(2*g)))
		}
		return "the backend closed idle connections the gateway reused: make its keep-alive longer than the gateway's idle timeout, or turn keep-alive off."
	case a.Causes[CauseClientIdleRace] > 0:
		ka := a.Gateway.KeepAlive
		return fmt.Sprintf("the client keeps idle connections longer than the gateway's client keep-alive %s: set the client's idle timeout below %s (e.g. %s), or make the client retry a request that failed on a reused connection.",
			dur(a.real(ka)), dur(a.real(ka)), dur(a.real(ka*4/5)))
	case a.Causes[proxy.CauseBackendTimeout] > 0 || a.Causes[proxy.CauseBackendResetMidRequest] > 0:
		return "the backend stopped answering or cut connections it was serving: not the keep-alive race; look at the backend's health, load and time-outs."
	case len(a.Causes) > 0:
		return "failures other than the keep-alive race: see the causes above."
	case haveK && k == 0:
		return "no failure: backend keep-alive is off, no connection is reused."
	case haveK && haveG && g == 0 && k > 0:
		return fmt.Sprintf("no failure in this traffic: no idle gap reached the backend keep-alive %s; the gateway keeps idle connections with no limit (V1), so a longer gap would still race.", kReal)
	case haveK && haveG && g > 0 && (k < 0 || k > g):
		return fmt.Sprintf("no failure: backend keep-alive %s > gateway idle %s, the gateway always closes first.", keepAliveWords(a, k), gReal)
	}
	return "no failure."
}

func keepAliveWords(a *Analysis, k time.Duration) string {
	if k < 0 {
		return "unlimited"
	}
	return dur(a.real(k))
}
