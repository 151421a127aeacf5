package explain

import (
	"sort"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/event"
)

// The connection model: what any evidence (gwsim's journals today; packet
// captures, gateway logs and probes next) says about the connections of a
// gateway path, in words that do not depend on where it came from. The
// join, the causes, the stories, the lanes and the verdict work on it
// alone (Explain); FromEvents builds it from journal events.

// Hop is where on the path a connection runs.
type Hop string

// Hops.
const (
	Upstream   Hop = "upstream"   // the gateway to a backend
	Downstream Hop = "downstream" // a client to the gateway
)

// Side is one end of a connection.
type Side string

// Sides.
const (
	ClientSide Side = "client" // the side that connected (the gateway, upstream; the client, downstream)
	ServerSide Side = "server" // the side that accepted (the backend, upstream; the gateway, downstream)
)

// Conn is one TCP connection as the evidence shows it.
type Conn struct {
	Hop Hop
	// Client and Server are the ip:port of the connecting and of the
	// accepting side: with the hop, the 4-tuple.
	Client, Server string
	// ClientID and ServerID are each side's own number for the
	// connection, when it has one (0 = none known).
	ClientID, ServerID uint64
	// Opened is when the client side opened it (zero = not seen);
	// ServerOpened when the server side accepted it.
	Opened, ServerOpened time.Time
	// ClientSeen and ServerSeen say whose evidence there is: a side with
	// no evidence tells nothing, which is not the same as "did nothing".
	ClientSeen, ServerSeen bool
	Exchanges              []Exchange
	// Wire: the evidence is a capture's, its times when packets were seen
	// (else each side's own clock at the event).
	Wire bool
	// Closes are the closes each side recorded, in time order.
	Closes []Close

	trapArmed   time.Time // while building from events
	clientOrder int       // the order of the client side's first event
}

// Exchange is one request and its answer (or failure) on a connection.
type Exchange struct {
	Method string
	Number int           // exchanges on the connection, this one included
	Reused bool          // the connection had served an exchange before
	Idle   time.Duration // how long it had been idle when reused
	// Written is when the client side wrote the request (zero = not
	// seen); Done when it read the answer whole or failed.
	Written, Done time.Time
	Status        int // the answer's status; 0 when none
	// Failed: the client side read an error instead of a whole answer.
	Failed       bool
	ErrKind, Err string
}

// CloseKind is why a side closed, in the engine's words.
type CloseKind string

// Close kinds.
const (
	CloseIdle     CloseKind = "idle"     // an idle timer fired (a keep-alive, an idle limit)
	CloseCut      CloseKind = "cut"      // the side cut the connection while it held a request
	ClosePeer     CloseKind = "peer"     // the side closed because the other side had
	CloseShutdown CloseKind = "shutdown" // the side shut down
	CloseOther    CloseKind = "other"    // after an answer (Connection: close, a limit, a bad request), or unknown
)

// Close is a close one side recorded.
type Close struct {
	Seen Side      // whose record this is
	By   Side      // who closed (the recording side, or its peer)
	At   time.Time // when the close left (or was seen, when By is the peer)
	Kind CloseKind
	// How is fin, rst, linger or trap (expired, closed on the next
	// request's arrival); "" when unknown.
	How string
	// Reason is the recording side's own word for it (shown as is).
	Reason string
	// Expired is when the side's idle timer expired, when that differs
	// from At (the race trap arms there); zero otherwise.
	Expired time.Time
}

// Answer is what the gateway answered a client, and the upstream
// connection it used.
type Answer struct {
	At     time.Time
	Peer   string // the client's ip:port
	Client string // the gateway's ip:port on the upstream connection; "" when none
	Server string // the backend's ip:port on it
	Method string
	Status int
	Cause  string // the gateway's own classification (proxy.Causes)
}

// GatewaySettings are the gateway's timers as the evidence states them.
type GatewaySettings struct {
	Known bool // the evidence states them
	Name  string
	// IdleTimeout is the backend idle limit; 0 = none.
	IdleTimeout     time.Duration
	ClientKeepAlive time.Duration
	// TimeScale is the scale the durations ran at (1 = real world).
	TimeScale float64
}

// BackendSettings are the backend's timers as the evidence states them.
type BackendSettings struct {
	Known bool
	// KeepAlive is its idle keep-alive: -1 = no limit, 0 = off.
	KeepAlive time.Duration
}

// Evidence is everything the engine explains: the connections, the
// gateway's answers, the stated settings, and the span of time covered.
type Evidence struct {
	Start, End time.Time
	Gateway    GatewaySettings
	Backend    BackendSettings
	Conns      []*Conn // in the order first seen
	// ConnsOmitted counts connections a large capture left out of Conns:
	// closed with no failure, past the first maxDetailedConns (they would
	// only draw lanes nobody reads, and hold the memory of the capture).
	ConnsOmitted int
	Answers      []Answer
	// AnswersSeen: the evidence holds the gateway's answers to its
	// clients (its journal); without them (a capture of the backend's
	// side) a failed upstream exchange is told without what the client got.
	AnswersSeen bool
}

// FromEvents builds the evidence from journal events of any mix of actors
// (one in-process run, or the journals of standalone processes on one
// host), joined by 4-tuple.
func FromEvents(events []event.Event) *Evidence {
	evs := append([]event.Event(nil), events...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
	ev := &Evidence{}
	if len(evs) > 0 {
		ev.Start, ev.End = evs[0].Time, evs[len(evs)-1].Time
	}
	conns := map[string]*Conn{}
	conn := func(hop Hop, client, server string) *Conn {
		k := string(hop) + " " + client + ">" + server
		c := conns[k]
		if c == nil {
			c = &Conn{Hop: hop, Client: client, Server: server}
			conns[k] = c
			ev.Conns = append(ev.Conns, c)
		}
		return c
	}
	for i, e := range evs {
		switch {
		case e.Kind == event.Config && e.Actor == event.Gateway:
			scale := e.TimeScale
			if scale <= 0 {
				scale = 1
			}
			ev.Gateway = GatewaySettings{Known: true, Name: e.Profile, IdleTimeout: e.IdleTimeout, ClientKeepAlive: e.KeepAlive, TimeScale: scale}
			ev.AnswersSeen = true
		case e.Kind == event.Config && e.Actor == event.Backend:
			if !ev.Backend.Known {
				ev.Backend = BackendSettings{Known: true, KeepAlive: e.KeepAlive}
			}
		case e.Actor == event.Gateway && e.Kind == event.Answered:
			ev.AnswersSeen = true
			ev.Answers = append(ev.Answers, Answer{At: e.Time, Peer: e.Peer, Client: e.Local, Server: e.Remote,
				Method: e.Method, Status: e.Status, Cause: e.Cause})
		case e.Actor == event.Gateway && e.Side == event.SideUpstream:
			conn(Upstream, e.Local, e.Remote).clientEvent(e, i)
		case e.Actor == event.Backend:
			conn(Upstream, e.Remote, e.Local).serverEvent(e)
		case e.Actor == event.Client:
			conn(Downstream, e.Local, e.Remote).clientEvent(e, i)
		case e.Actor == event.Gateway && e.Side == event.SideDownstream:
			conn(Downstream, e.Remote, e.Local).serverEvent(e)
		}
	}
	// In the order the client side first showed them (the gateway's own
	// order is the lanes' order); those seen only by their server side (a
	// backend's journal without the gateway's) after them.
	sort.SliceStable(ev.Conns, func(i, j int) bool {
		a, b := ev.Conns[i], ev.Conns[j]
		if a.ClientSeen != b.ClientSeen {
			return a.ClientSeen
		}
		return a.ClientSeen && a.clientOrder < b.clientOrder
	})
	return ev
}

// clientEvent records an event of the connecting side (a proxy.Pool's:
// its closes name this side "gateway" and the peer "backend", whichever
// hop it is on).
func (c *Conn) clientEvent(e event.Event, order int) {
	if !c.ClientSeen {
		c.ClientSeen, c.clientOrder = true, order
	}
	switch e.Kind {
	case event.ConnOpened:
		c.ClientID, c.Opened = e.Conn, e.Time
	case event.RequestWritten:
		c.Exchanges = append(c.Exchanges, Exchange{Method: e.Method, Number: e.Requests, Reused: e.Reused, Idle: e.Idle, Written: e.Time})
	case event.ResponseFinished, event.ExchangeFailed:
		x := c.openExchange(e.Requests)
		if x == nil {
			c.Exchanges = append(c.Exchanges, Exchange{Method: e.Method, Number: e.Requests, Reused: e.Reused, Idle: e.Idle})
			x = &c.Exchanges[len(c.Exchanges)-1]
		}
		x.Done, x.Status = e.Time, e.Status
		if e.Kind == event.ExchangeFailed {
			x.Failed, x.ErrKind, x.Err = true, e.ErrKind, e.Err
		}
	case event.Closed:
		by := ClientSide
		if proxy.Initiator(e.Initiator) == proxy.ByBackend {
			by = ServerSide
		}
		c.Closes = append(c.Closes, Close{Seen: ClientSide, By: by, At: e.Time, Kind: clientCloseKind(e.Reason), Reason: e.Reason})
	}
}

// openExchange is the exchange numbered n that has no end yet, if any.
func (c *Conn) openExchange(n int) *Exchange {
	if k := len(c.Exchanges); k > 0 {
		x := &c.Exchanges[k-1]
		if x.Done.IsZero() && x.Number == n {
			return x
		}
	}
	return nil
}

// serverEvent records an event of the accepting side.
func (c *Conn) serverEvent(e event.Event) {
	c.ServerSeen = true
	switch e.Kind {
	case event.ConnOpened:
		c.ServerID, c.ServerOpened = e.Conn, e.Time
	case event.TrapArmed:
		c.trapArmed = e.Time
	case event.Closed:
		by := ServerSide
		if i := e.Initiator; backend.Initiator(i) == backend.ByPeer || proxy.Initiator(i) == proxy.ByClient {
			by = ClientSide
		}
		cl := Close{Seen: ServerSide, By: by, At: e.Time, Kind: serverCloseKind(e.Reason), How: e.Style, Reason: e.Reason}
		if backend.CloseReason(e.Reason) == backend.CloseTrap {
			cl.Expired = c.trapArmed // the trap armed at the expiry and closed on the request's arrival
		}
		c.Closes = append(c.Closes, cl)
	}
}

// serverCloseKind is a backend's close reason (or the gateway's, on its
// client side) in the engine's words.
func serverCloseKind(reason string) CloseKind {
	switch backend.CloseReason(reason) {
	case backend.CloseIdle, backend.CloseTrap:
		return CloseIdle
	case backend.CloseFault:
		return CloseCut
	case backend.ClosePeer:
		return ClosePeer
	case backend.CloseShutdown:
		return CloseShutdown
	}
	return clientCloseKind(reason) // the gateway's words, on its client side
}

// clientCloseKind is a gateway's close reason (a pool's, or its front's) in
// the engine's words.
func clientCloseKind(reason string) CloseKind {
	switch reason {
	case proxy.ReasonIdleTimeout:
		return CloseIdle
	case proxy.ReasonPeerClosed:
		return ClosePeer
	case proxy.ReasonShutdown:
		return CloseShutdown
	}
	return CloseOther
}

// serverClose is the first close the server side recorded, if any.
func (c *Conn) serverClose() *Close {
	for i := range c.Closes {
		if c.Closes[i].Seen == ServerSide {
			return &c.Closes[i]
		}
	}
	return nil
}

// clientClose is the first close the client side recorded, if any.
func (c *Conn) clientClose() *Close {
	for i := range c.Closes {
		if c.Closes[i].Seen == ClientSide {
			return &c.Closes[i]
		}
	}
	return nil
}

// failureAt is the last failed exchange that ended at or before t.
func (c *Conn) failureAt(t time.Time) *Exchange {
	var out *Exchange
	for i := range c.Exchanges {
		x := &c.Exchanges[i]
		if x.Failed && !x.Done.After(t) {
			out = x
		}
	}
	return out
}
