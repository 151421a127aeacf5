package explain

import (
	"fmt"
	"time"

	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/rule"
)

// requalifyRaces keeps the keep-alive race as the cause of a failure that
// no backend event explains (the backend is not gwsim's) only when the
// connection's idle age fits the backend closing it at its keep-alive: at
// least the keep-alive less a tenth of it. The keep-alive is the one the
// backend stated, else the shortest of the cluster of the longest idle
// ages (see rule.IdleCluster: races happen at the keep-alive, or later when the
// backend's timer runs late, so they pile up there). Any other such
// failure becomes CauseBackendClosedReused, with the reason.
func (a *Analysis) requalifyRaces() {
	var idle []time.Duration
	for _, x := range a.Explanations {
		if x.Cause == proxy.CauseKeepaliveRace && x.BackendConn == 0 {
			idle = append(idle, x.Idle)
		}
	}
	if len(idle) == 0 {
		return
	}
	k, source := time.Duration(0), ""
	switch {
	case a.Backend.Known && a.Backend.KeepAlive > 0:
		k, source = a.Backend.KeepAlive, "the backend's keep-alive"
	default:
		if c, ok := rule.IdleCluster(idle); ok {
			k, source = c, "the keep-alive the failures' idle ages point to"
		}
	}
	for i := range a.Explanations {
		x := &a.Explanations[i]
		if x.Cause != proxy.CauseKeepaliveRace || x.BackendConn != 0 {
			continue
		}
		switch {
		case k == 0:
			x.NotRace = "nothing tells when the backend closes idle connections (no backend events, no keep-alive stated, no cluster of idle ages), so this cannot be called the keep-alive race"
		case x.Idle < k-k/10:
			x.NotRace = fmt.Sprintf("it had been idle far less than %s (%s), so the backend did not close it for idleness: not the keep-alive race", source, dur(k))
		default:
			x.PeerTimeout, x.PeerInferred = k, !a.Backend.Known || a.Backend.KeepAlive <= 0
			continue
		}
		x.Cause, x.Subkind = CauseBackendClosedReused, ""
		if !x.Retried {
			a.Causes[proxy.CauseKeepaliveRace]--
			if a.Causes[proxy.CauseKeepaliveRace] == 0 {
				delete(a.Causes, proxy.CauseKeepaliveRace)
			}
			a.Causes[CauseBackendClosedReused]++
		}
	}
}
