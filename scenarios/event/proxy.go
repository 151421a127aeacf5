package event

import (
	"time"

	"github.com/gwsim/gwsim/proxy"
)

// PoolTrace is a proxy.PoolTrace that writes a pool's connections and
// exchanges to sink as journal events, labelled with actor and side (the
// gateway's upstream pool, or the load driver's).
func PoolTrace(sink Sink, actor Actor, side string) proxy.PoolTrace {
	if sink == nil {
		return proxy.PoolTrace{}
	}
	exchange := func(kind Kind, x proxy.ExchangeInfo) Event {
		e := Event{Actor: actor, Side: side, Kind: kind, Conn: x.Conn.ID, Local: x.Conn.Local, Remote: x.Conn.Addr,
			Method: x.Method, Reused: x.Reused, Idle: x.Idle, Requests: x.Conn.Requests, Status: x.Status}
		if x.Err != nil {
			e.Kind, e.ErrKind, e.Err = ExchangeFailed, ErrKind(x.Err), x.Err.Error()
		}
		return e
	}
	return proxy.PoolTrace{
		Opened: func(c proxy.ConnInfo) {
			sink.Emit(Event{Actor: actor, Side: side, Kind: ConnOpened, Conn: c.ID, Local: c.Local, Remote: c.Addr})
		},
		Closed: func(c proxy.ConnInfo, by proxy.Initiator, reason string) {
			sink.Emit(Event{Actor: actor, Side: side, Kind: Closed, Conn: c.ID, Local: c.Local, Remote: c.Addr,
				Initiator: string(by), Reason: reason, Requests: c.Requests})
		},
		RequestWritten: func(x proxy.ExchangeInfo) { sink.Emit(exchange(RequestWritten, x)) },
		ExchangeDone:   func(x proxy.ExchangeInfo) { sink.Emit(exchange(ResponseFinished, x)) },
	}
}

// GatewayTrace is a proxy.Trace that writes what the gateway does (its
// configuration, client connections, answers and upstream pool) to sink as
// journal events.
func GatewayTrace(sink Sink) *proxy.Trace {
	if sink == nil {
		return nil
	}
	return &proxy.Trace{
		Config: func(c proxy.ConfigInfo) {
			p := c.Profile
			sink.Emit(Event{Actor: Gateway, Kind: Config, Profile: p.Name, Addr: c.Addr,
				KeepAlive: p.ClientKeepAlive, IdleTimeout: p.BackendIdleTimeout, TimeScale: c.TimeScale})
		},
		ClientOpened: func(c proxy.ClientConn) {
			sink.Emit(Event{Actor: Gateway, Side: SideDownstream, Kind: ConnOpened, Conn: c.ID, Local: c.Local, Remote: c.Remote})
		},
		ClientClosed: func(c proxy.ClientConn, by proxy.Initiator, reason string, idle time.Duration) {
			sink.Emit(Event{Actor: Gateway, Side: SideDownstream, Kind: Closed, Conn: c.ID, Local: c.Local, Remote: c.Remote,
				Requests: c.Requests, Idle: idle, Initiator: string(by), Reason: reason})
		},
		Answered: func(a proxy.Answer) {
			e := Event{Actor: Gateway, Kind: Answered, Side: SideDownstream, Conn: a.Upstream.ID,
				Local: a.Upstream.Local, Remote: a.Member, Peer: a.Peer, Method: a.Method, Status: a.Status, Cause: a.Cause}
			if a.Err != nil {
				e.ErrKind, e.Err = ErrKind(a.Err), a.Err.Err.Error()
			}
			sink.Emit(e)
		},
		Upstream: PoolTrace(sink, Gateway, SideUpstream),
	}
}
