package proxy

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gwsim/gwsim/scenarios/event"
)

// downstreamEvents returns an http.Server ConnState hook that reports client
// connections opening and closing, and who closed them: the gateway at its
// client keep-alive (idle-timeout), the client (an idle connection it
// closed), or the gateway after an exchange.
func (g *Gateway) downstreamEvents() func(net.Conn, http.ConnState) {
	type connState struct {
		id    uint64
		state http.ConnState
		since time.Time
		count int // requests seen
	}
	var (
		mu     sync.Mutex
		conns  = map[net.Conn]*connState{}
		nextID uint64
	)
	keepAlive := g.cfg.Profile.ClientKeepAlive
	return func(c net.Conn, st http.ConnState) {
		now := time.Now()
		mu.Lock()
		cs := conns[c]
		if cs == nil {
			nextID++
			cs = &connState{id: nextID}
			conns[c] = cs
		}
		prev, since := cs.state, cs.since
		cs.state, cs.since = st, now
		if st == http.StateActive {
			cs.count++
		}
		if st == http.StateClosed || st == http.StateHijacked {
			delete(conns, c)
		}
		id, count := cs.id, cs.count
		mu.Unlock()

		e := event.Event{Actor: event.Gateway, Side: event.SideDownstream, Conn: id,
			Local: c.LocalAddr().String(), Remote: c.RemoteAddr().String(), Requests: count}
		switch st {
		case http.StateNew:
			e.Kind = event.ConnOpened
		case http.StateClosed:
			e.Kind = event.Closed
			e.Idle = now.Sub(since)
			switch {
			case prev == http.StateIdle && keepAlive > 0 && e.Idle >= keepAlive:
				e.Initiator, e.Reason = string(ByGateway), ReasonIdleTimeout
			case prev == http.StateIdle || prev == http.StateNew:
				e.Initiator, e.Reason = "client", ReasonPeerClosed
			default:
				e.Initiator, e.Reason = string(ByGateway), "after-exchange"
			}
		default:
			return
		}
		g.cfg.Events.Emit(e)
	}
}
