package explain

import (
	"fmt"
	"strings"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
)

// Story tells an explanation in plain words. start is the run's start
// (times are given relative to it).
func (x *Explanation) Story(start time.Time) string {
	var b strings.Builder
	who := "the client"
	if x.ClientUnknown {
		who = "what the client got is not in this evidence"
	} else if x.ClosedSilently {
		saw := "its connection close"
		if x.ClientErr != "" {
			saw = x.ClientErr
		}
		who = "the gateway closed the client connection without a response (as HAProxy does on a client connection's later request), so the client saw " + saw
	} else if x.Status != 0 {
		who = fmt.Sprintf("the client got %d", x.Status)
	} else if x.Retried {
		who = "the gateway sent it again (retry policy, or a second member after a time-out), so the client never saw it"
	} else if x.ClientErr != "" {
		who = "the client saw " + x.ClientErr
	}
	method := x.Method
	if method == "" {
		method = "a request"
	}
	switch {
	case x.Cause == proxy.CauseKeepaliveRace && x.Wire:
		x.wireStory(&b, method, start)
	case x.Cause == proxy.CauseKeepaliveRace:
		fmt.Fprintf(&b, "%s at %s went out on connection %d (%s → %s, %s old, request %d on it) after it had been idle %s",
			method, rel(x.At, start), x.GatewayConn, x.Local, x.Remote, dur(x.ConnAge), x.Requests, dur(x.Idle))
		if x.HasDelta {
			what := closeWhat(x.Subkind, false)
			ka := ""
			if x.PeerTimeout > 0 {
				ka = " (" + dur(x.PeerTimeout) + ")"
			}
			when := fmt.Sprintf("%s before the gateway wrote the request", dur(x.Delta))
			if x.Delta < 0 {
				when = fmt.Sprintf("%s after the gateway wrote the request, before it arrived", dur(-x.Delta))
			}
			fmt.Fprintf(&b, "; the backend's keep-alive%s fired and it %s %s", ka, what, when)
		} else {
			b.WriteString("; the backend had closed it")
		}
		fmt.Fprintf(&b, "; the gateway read %s %s after writing; %s.", errWord(x.Err), dur(x.FailAt.Sub(x.WriteAt)), who)
	case x.Cause == CauseClientIdleRace:
		fmt.Fprintf(&b, "%s at %s went out on client connection %s → %s after it had been idle %s", method, rel(x.At, start), x.Local, x.Remote, dur(x.Idle))
		if x.ClosedFirst == string(proxy.ByGateway) {
			fmt.Fprintf(&b, "; the gateway had closed it at its client keep-alive")
			if x.PeerTimeout > 0 {
				fmt.Fprintf(&b, " (%s)", dur(x.PeerTimeout))
			}
			fmt.Fprintf(&b, " %s earlier", dur(x.FailAt.Sub(x.CloseAt)))
		}
		fmt.Fprintf(&b, "; %s.", who)
	case x.Cause == CauseBackendClosedReused && x.Wire:
		fmt.Fprintf(&b, "%s at %s on %s → %s (request %d on it) after the connection had been idle %s; the server's %s came %s after the request was seen, before any answer byte; %s; %s.",
			method, rel(x.At, start), x.Local, x.Remote, x.Requests, dur(x.Idle), wireWord(x.Err), dur(x.FailAt.Sub(x.WriteAt)), x.NotRace, who)
	case x.Cause == CauseBackendClosedReused:
		fmt.Fprintf(&b, "%s at %s went out on connection %d (%s → %s, request %d on it) after it had been idle %s; the gateway read %s %s after writing, before any answer byte; %s; %s.",
			method, rel(x.At, start), x.GatewayConn, x.Local, x.Remote, x.Requests, dur(x.Idle), errWord(x.Err), dur(x.FailAt.Sub(x.WriteAt)), x.NotRace, who)
	default:
		fmt.Fprintf(&b, "%s at %s: %s", method, rel(x.At, start), x.Cause)
		if x.GatewayConn != 0 {
			fmt.Fprintf(&b, " on connection %d (%s → %s)", x.GatewayConn, x.Local, x.Remote)
		}
		if x.Err != "" {
			fmt.Fprintf(&b, " (%s)", x.Err)
		}
		fmt.Fprintf(&b, "; %s.", who)
	}
	if x.AccessLog != nil {
		b.WriteString(x.AccessLog.words())
	}
	return b.String()
}

// wireWord names what a capture saw end an exchange: RST or FIN.
func wireWord(err string) string {
	if strings.Contains(err, "reset") {
		return "RST"
	}
	return "FIN"
}

func errWord(err string) string {
	switch {
	case strings.Contains(err, "reset"):
		return "a reset"
	case strings.Contains(err, "EOF"):
		return "EOF"
	}
	return "an error"
}

func rel(t, start time.Time) string {
	if start.IsZero() {
		return t.Format("15:04:05.000000")
	}
	return dur(t.Sub(start))
}

// dur prints a duration with units that suit it.
func dur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + dur(-d)
	case d >= time.Second:
		return fmt.Sprintf("%.4g s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.4g ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0f µs", float64(d)/1e3)
}

// wireStory tells a race found in a capture: the times are when the
// capture saw the packets, so it says what crossed what on the wire, and
// no more (not when the gateway read what it read, nor what the client got).
func (x *Explanation) wireStory(b *strings.Builder, method string, start time.Time) {
	fmt.Fprintf(b, "%s at %s on %s → %s (request %d on it) after the connection had been idle %s", method, rel(x.At, start), x.Local, x.Remote, x.Requests, dur(x.Idle))
	what := closeWhat(x.Subkind, true)
	if x.HasDelta {
		when := fmt.Sprintf("%s before the request was seen", dur(x.Delta))
		if x.Delta < 0 {
			when = fmt.Sprintf("%s after the request was seen, without reading it: they crossed", dur(-x.Delta))
		}
		fmt.Fprintf(b, "; the server %s %s", what, when)
	}
	if x.PeerTimeout > 0 {
		from := "its stated keep-alive"
		if x.PeerInferred {
			from = "told by the failures' idle ages"
		}
		fmt.Fprintf(b, " (its keep-alive: about %s, %s)", dur(x.PeerTimeout), from)
	}
	if x.AccessLog != nil && x.AccessLog.Status != 0 {
		fmt.Fprintf(b, "; no answer came back; the client got %d.", x.AccessLog.Status)
	} else {
		b.WriteString("; no answer came back; what the client got is not in the capture.")
	}
}

// closeWhat says how the backend closed a connection (a race's subkind);
// wire adds what a capture showed of the request that followed.
func closeWhat(subkind string, wire bool) string {
	switch backend.CloseStyle(subkind) {
	case backend.CloseFIN:
		if wire {
			return "closed it (FIN; the request was reset)"
		}
		return "closed it (FIN)"
	case backend.CloseRST:
		return "reset it (RST)"
	case backend.CloseLinger:
		if wire {
			return "closed it (FIN, then drained the request: lingering close)"
		}
		return "closed it (lingering close: FIN, then drain)"
	case backend.StyleTrap:
		return "expired it under the race trap"
	}
	return "closed it"
}
