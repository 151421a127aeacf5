package explain

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/gwsim/gwsim/scenarios/gwlog"
)

// AccessLogLine is the gateway's own log line of a request a capture
// shows: what the client was sent, which the capture of the backend side
// cannot say.
type AccessLogLine struct {
	File     string
	Line     int
	Status   int
	Class    gwlog.Class
	Evidence string
}

// JoinStats is what JoinAccessLog matched.
type JoinStats struct {
	// Joined counts explanations given their log line.
	Joined int
	// UnjoinedExplanations counts explanations no log line matched.
	UnjoinedExplanations int
	// LogFailures counts the log's failures that name a source port (the
	// only ones that can join); LogFailuresUnjoined those no explanation
	// took, with the first few for the report.
	LogFailures, LogFailuresUnjoined int
	Unjoined                         []gwlog.Record
}

// JoinAccessLog joins the gateway's access-log failures to the
// explanations of a capture taken on the gateway↔backend side: a record
// whose gateway source port (Application Gateway's upstreamSourcePort,
// HAProxy's %bp, Envoy's upstream local port) is the connection's client
// port, whose backend (when the log names it as ip:port) is the
// connection's server, and whose time, stretched by slack on both sides
// for the two clocks, holds the request's time on the wire. The nearest
// such record wins; each record joins one explanation at most. A joined
// explanation from a capture gets the status the client was sent.
func (a *Analysis) JoinAccessLog(recs []gwlog.Record, slack time.Duration) JoinStats {
	var st JoinStats
	byPort := map[int][]int{}
	for i, r := range recs {
		if r.SourcePort > 0 && r.Failed() {
			byPort[r.SourcePort] = append(byPort[r.SourcePort], i)
			st.LogFailures++
		}
	}
	taken := make([]bool, len(recs))
	for i := range a.Explanations {
		x := &a.Explanations[i]
		_, portText, err := net.SplitHostPort(x.Local)
		port, perr := strconv.Atoi(portText)
		if err != nil || perr != nil {
			st.UnjoinedExplanations++
			continue
		}
		at := x.WriteAt
		if at.IsZero() {
			at = x.At
		}
		best, bestDist := -1, time.Duration(0)
		for _, j := range byPort[port] {
			r := &recs[j]
			if taken[j] || !sameServer(r.Upstream, x.Remote) {
				continue
			}
			end, ok := r.End()
			if !ok {
				end = r.Time
			}
			if at.Before(r.Time.Add(-slack)) || at.After(end.Add(slack)) {
				continue
			}
			d := max(r.Time.Sub(at), at.Sub(end), 0)
			if best < 0 || d < bestDist {
				best, bestDist = j, d
			}
		}
		if best < 0 {
			st.UnjoinedExplanations++
			continue
		}
		taken[best] = true
		r := &recs[best]
		x.AccessLog = &AccessLogLine{File: r.File, Line: r.Line, Status: r.Status, Class: r.Class, Evidence: r.Evidence}
		if x.ClientUnknown && r.Status != 0 {
			x.Status, x.ClientUnknown = r.Status, false
		}
		st.Joined++
	}
	for _, idx := range byPort {
		for _, j := range idx {
			if !taken[j] {
				st.LogFailuresUnjoined++
				if len(st.Unjoined) < 10 {
					st.Unjoined = append(st.Unjoined, recs[j])
				}
			}
		}
	}
	return st
}

// sameServer reports whether a log's backend names the capture's server:
// yes when the log names none, or names a host rather than ip:port.
func sameServer(logged, server string) bool {
	h, p, err := net.SplitHostPort(logged)
	if err != nil || net.ParseIP(h) == nil {
		return true
	}
	sh, sp, err := net.SplitHostPort(server)
	if err != nil {
		return true
	}
	return p == sp && net.ParseIP(h).Equal(net.ParseIP(sh))
}

// words tells the joined log line for a story.
func (l *AccessLogLine) words() string {
	return fmt.Sprintf(" The gateway's access log (%s:%d): %s.", l.File, l.Line, l.Evidence)
}
