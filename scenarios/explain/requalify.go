package explain

import (
	"fmt"
	"slices"
	"time"

	"github.com/gwsim/gwsim/proxy"
)

// raceCluster is how many failures' idle ages must lie within
// raceClusterShare of the longest for the cluster to tell the backend's
// keep-alive when nothing else does.
const (
	raceCluster      = 3
	raceClusterShare = 0.9
)

// requalifyRaces keeps the keep-alive race as the cause of a failure that
// no backend event explains (the backend is not gwsim's) only when the
// connection's idle age fits the backend closing it at its keep-alive: at
// least the keep-alive less a tenth of it. The keep-alive is the one the
// backend stated, else the median of the cluster of the longest idle ages
// (at least raceCluster failures within raceClusterShare of the longest:
// races happen at the keep-alive, so they pile up there). Any other such
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
		if c, ok := idleCluster(idle); ok {
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

// idleCluster is the median of the idle ages within raceClusterShare of
// the longest, when there are at least raceCluster of them.
func idleCluster(idle []time.Duration) (time.Duration, bool) {
	s := slices.Clone(idle)
	slices.Sort(s)
	longest := s[len(s)-1]
	i, _ := slices.BinarySearch(s, time.Duration(raceClusterShare*float64(longest)))
	top := s[i:]
	if len(top) < raceCluster {
		return 0, false
	}
	return top[len(top)/2], true
}
