package explain

import (
	"sort"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/event"
)

// Explanation is the story of one failure: what the client saw, on which
// connection, and who closed what when.
type Explanation struct {
	Cause   string // one of proxy.Causes, CauseClientIdleRace or CauseBackendClosedReused
	Subkind string // keepalive-race: fin, rst, linger or trap (as the backend closed); "" when unknown
	// Status is what the gateway answered (0 for a client-side error).
	Status int
	// ClientErr is the client's error kind for a client-side failure.
	ClientErr string
	Method    string
	At        time.Time // when the failure was seen
	// Retried: the gateway's retry policy sent the request again, so the
	// client never saw this failure.
	Retried bool

	GatewayConn uint64 // the gateway's connection id (upstream, or downstream for client races)
	BackendConn uint64 // the backend's connection id; 0 when the backend left no events
	Local       string // the gateway's (or client's) ip:port on the connection
	Remote      string // the backend's (or gateway's) ip:port
	ConnAge     time.Duration
	Requests    int           // exchanges on the connection, this one included
	Idle        time.Duration // idle age when reused

	// ClosedFirst is the side that closed the connection first: backend,
	// gateway or "" when unknown.
	ClosedFirst string
	CloseStyle  string    // how it closed: fin, rst, linger, trap
	CloseAt     time.Time // when the close left (the trap: when it armed)
	WriteAt     time.Time // when the request was written
	FailAt      time.Time // when the writer read the EOF or reset
	// Delta is WriteAt − CloseAt: how long after the close the request went
	// out (negative: it left just before the close and crossed it).
	Delta    time.Duration
	HasDelta bool

	// PeerTimeout is the keep-alive of the side that closed (the backend's
	// keep-alive, or the gateway's client keep-alive); OwnTimeout is the
	// reusing side's idle limit (the gateway's backend idle timeout, or the
	// client's idle timeout). -1 = no limit, 0 = unknown or off.
	PeerTimeout, OwnTimeout time.Duration
	Err                     string
	// NotRace says, for CauseBackendClosedReused, why the failure is not
	// called the keep-alive race.
	NotRace string
	// ClientUnknown: the evidence does not say what the client got (a
	// capture of the gateway's backend side).
	ClientUnknown bool
	// ClosedSilently: the gateway answered nothing and closed the client
	// connection (status 0 with a backend cause: HAProxy on a client
	// connection's later request); ClientErr is what the client saw, when
	// its side is in the evidence.
	ClosedSilently bool
	// Wire: the times are when a capture saw the packets.
	Wire bool
	// PeerInferred: PeerTimeout was inferred from the failures' idle ages.
	PeerInferred bool
	// AccessLog is the gateway's access-log line of the request, when
	// one was joined (JoinAccessLog).
	AccessLog *AccessLogLine
}

// Key is the cause with its subkind, like keepalive-race/linger.
func (x *Explanation) Key() string {
	if x.Subkind == "" {
		return x.Cause
	}
	return x.Cause + "/" + x.Subkind
}

// Analysis is every failure explained, the upstream connections as lanes
// for the timeline, and the settings the evidence stated.
type Analysis struct {
	Start        time.Time
	End          time.Time
	Explanations []Explanation // visible failures first seen first, then hidden (retried) ones
	Causes       map[string]int64
	Subkinds     map[string]int64 // cause/subkind → count, visible failures only
	Lanes        []Lane           // one per upstream connection, in opening order
	// LanesOmitted counts the connections the evidence left out (a large
	// capture's closed connections with no failure): not in Lanes.
	LanesOmitted int
	Gateway      GatewaySettings
	Backend      BackendSettings
}

// Lane is one gateway→backend connection over time.
type Lane struct {
	GatewayConn, BackendConn uint64
	Local, Remote            string
	Opened, Closed           time.Time // Closed zero: still open at the end
	ClosedBy, CloseStyle     string    // backend or gateway; fin, rst, linger, trap
	CloseReason              string
	Exchanges                []Span
	Failures                 []Mark
}

// Span is one exchange on a lane.
type Span struct {
	Start, End time.Time
	Status     int // 0 when it failed
	Method     string
}

// Mark is a failure on a lane.
type Mark struct {
	At      time.Time
	Status  int // what the client got; 0 for hidden (retried) failures
	Cause   string
	Retried bool
}

// Analyze joins journal events from any mix of actors and explains them:
// Explain(FromEvents(events)).
func Analyze(events []event.Event) *Analysis { return Explain(FromEvents(events)) }

// Explain explains every failure in the evidence.
func Explain(ev *Evidence) *Analysis {
	a := &Analysis{Start: ev.Start, End: ev.End, Causes: map[string]int64{}, Subkinds: map[string]int64{},
		Gateway: ev.Gateway, Backend: ev.Backend, LanesOmitted: ev.ConnsOmitted}
	up := map[string]*Conn{} // upstream, by gateway ip:port > backend ip:port
	for _, c := range ev.Conns {
		if c.Hop == Upstream {
			up[connKey(c.Client, c.Server)] = c
		}
	}
	idx := indexAnswers(ev.Answers)
	// Failures the client saw from the gateway, and the ones it retried.
	for _, ans := range ev.Answers {
		if ans.Cause == "" || ans.Cause == proxy.CauseNone || ans.Status >= 200 && ans.Status < 300 {
			continue // a 2xx whose body broke shows up as a client error
		}
		x := explainUpstream(a, ans.Cause, ans.Status, ans.Method, ans.At, up[connKey(ans.Client, ans.Server)])
		x.ClosedSilently = ans.closedSilently()
		a.add(x)
	}
	for _, c := range ev.Conns {
		if c.Hop != Downstream {
			continue
		}
		for i := range c.Exchanges {
			f := &c.Exchanges[i]
			if !f.Failed {
				continue
			}
			if ans := idx.silentClose(c.Client, f.Done); ans != nil {
				// The gateway's silent close, explained above: the client's
				// error is how it saw it, not another failure.
				for j := range a.Explanations {
					if x := &a.Explanations[j]; x.ClosedSilently && x.At.Equal(ans.At) && x.ClientErr == "" {
						x.ClientErr = f.ErrKind
						break
					}
				}
				continue
			}
			a.add(explainClient(a, c, f, idx))
		}
	}
	for _, c := range ev.Conns {
		if c.Hop != Upstream {
			continue
		}
		for i := range c.Exchanges {
			f := &c.Exchanges[i]
			// A failure with a status broke a body after the head: the
			// client saw it as such (or the gateway cut its answer).
			if !f.Failed || f.Status != 0 || idx.failureAnswer(c, f) != nil {
				continue
			}
			cause := proxy.CauseBackendResetMidRequest
			switch {
			case f.ErrKind == event.ErrTimeout:
				cause = proxy.CauseBackendTimeout
			case f.Reused:
				cause = proxy.CauseKeepaliveRace
			}
			x := explainUpstream(a, cause, 0, f.Method, f.Done, c)
			if !ev.AnswersSeen {
				x.ClientUnknown = true // a capture: what the client got is not in it
				a.add(x)
				continue
			}
			x.Retried = true
			a.Explanations = append(a.Explanations, x)
		}
	}
	a.requalifyRaces()
	sort.SliceStable(a.Explanations, func(i, j int) bool {
		if a.Explanations[i].Retried != a.Explanations[j].Retried {
			return !a.Explanations[i].Retried
		}
		return a.Explanations[i].At.Before(a.Explanations[j].At)
	})
	for _, c := range ev.Conns {
		if c.Hop == Upstream && c.ClientSeen {
			a.Lanes = append(a.Lanes, lane(c, idx))
		}
	}
	return a
}

// connKey names a connection by its 4-tuple, as the connecting side sees
// it: its own ip:port, then the peer's.
func connKey(local, remote string) string { return local + ">" + remote }

func (a *Analysis) add(x Explanation) {
	a.Explanations = append(a.Explanations, x)
	a.Causes[x.Cause]++
	if x.Subkind != "" {
		a.Subkinds[x.Key()]++
	}
}

// answerIndex holds the gateway's failure answers, indexed so a join stays
// linear in the evidence's size (a demo that ran for hours has millions of
// successful answers and a few failures).
type answerIndex struct {
	byConn map[string][]Answer // non-2xx answers and silent closes, by upstream connection
	byPeer map[string][]Answer // answers with a failure cause, by client ip:port
}

func indexAnswers(answers []Answer) answerIndex {
	idx := answerIndex{byConn: map[string][]Answer{}, byPeer: map[string][]Answer{}}
	for _, ans := range answers {
		if failedStatus(ans.Status) || ans.closedSilently() {
			k := connKey(ans.Client, ans.Server)
			idx.byConn[k] = append(idx.byConn[k], ans)
		}
		if ans.Cause != "" && ans.Cause != proxy.CauseNone {
			idx.byPeer[ans.Peer] = append(idx.byPeer[ans.Peer], ans)
		}
	}
	return idx
}

// closedSilently reports whether the gateway answered a backend failure
// with no response at all: status 0 with a cause that is not the client's.
func (ans *Answer) closedSilently() bool {
	return ans.Status == 0 && ans.Cause != "" && ans.Cause != proxy.CauseNone && ans.Cause != proxy.CauseClientClosed
}

// silentClose is the gateway's silent close of the client at peer within a
// second of at, if any.
func (idx answerIndex) silentClose(peer string, at time.Time) *Answer {
	for i, ans := range idx.byPeer[peer] {
		if ans.closedSilently() && !ans.At.After(at.Add(time.Second)) && !ans.At.Before(at.Add(-time.Second)) {
			return &idx.byPeer[peer][i]
		}
	}
	return nil
}

// failedStatus is a status the client got instead of an answer (not 0,
// which V1 logs for a client that left, nor 2xx).
func failedStatus(st int) bool { return st != 0 && (st < 200 || st >= 300) }

// failureAnswer is the first failure answer on c at or after the failed
// exchange f: the one that reported f to the client (nil: none did, the
// gateway retried it).
func (idx answerIndex) failureAnswer(c *Conn, f *Exchange) *Answer {
	answers := idx.byConn[connKey(c.Client, c.Server)]
	for i := range answers {
		if !answers[i].At.Before(f.Done) {
			return &answers[i]
		}
	}
	return nil
}

// explainUpstream tells the story of a failed gateway→backend exchange,
// refining the gateway's own cause with what the backend's side shows.
func explainUpstream(a *Analysis, cause string, status int, method string, at time.Time, c *Conn) Explanation {
	x := Explanation{Cause: cause, Status: status, Method: method, At: at,
		PeerTimeout: a.Backend.KeepAlive, OwnTimeout: a.Gateway.IdleTimeout}
	if a.Gateway.Known && a.Gateway.IdleTimeout == 0 {
		x.OwnTimeout = -1 // the gateway stated no backend idle limit
	}
	if c == nil || !c.ClientSeen {
		return x
	}
	x.Wire = c.Wire
	if c.Wire {
		x.Local, x.Remote = c.Client, c.Server // a capture's 4-tuple, opening seen or not
	}
	if !c.Opened.IsZero() {
		x.GatewayConn, x.Local, x.Remote = c.ClientID, c.Client, c.Server
		x.ConnAge = at.Sub(c.Opened)
	}
	fail := c.failureAt(at)
	if fail == nil {
		return x
	}
	x.FailAt, x.Err, x.Idle, x.Requests = fail.Done, fail.Err, fail.Idle, fail.Number
	x.WriteAt = fail.Done
	if !fail.Written.IsZero() {
		x.WriteAt = fail.Written
	}
	if !c.ServerSeen {
		if fail.Reused && cause == proxy.CauseKeepaliveRace {
			x.ClosedFirst = string(backend.ByBackend) // the gateway saw EOF/RST before any response byte
		}
		return x
	}
	x.BackendConn = c.ServerID
	cl := c.serverClose()
	if cl == nil {
		return x
	}
	x.CloseStyle = cl.How
	switch cl.Kind {
	case CloseIdle:
		x.ClosedFirst = string(backend.ByBackend)
		x.CloseAt = cl.At
		if !cl.Expired.IsZero() {
			x.CloseAt = cl.Expired
		}
		x.Delta, x.HasDelta = x.WriteAt.Sub(x.CloseAt), true
		if fail.Reused && cause != proxy.CauseClientClosed && cause != proxy.CauseBackendTimeout {
			x.Cause, x.Subkind = proxy.CauseKeepaliveRace, cl.How
		}
	case CloseCut:
		x.ClosedFirst = string(backend.ByBackend)
		x.CloseAt = cl.At
		if x.Cause == proxy.CauseKeepaliveRace {
			// The backend had the request and cut the connection: not the race.
			x.Cause = proxy.CauseBackendResetMidRequest
		}
	case ClosePeer, CloseShutdown:
		x.ClosedFirst = string(proxy.ByGateway)
	}
	return x
}

// explainClient tells the story of a client-side error: the failed
// exchange f on the downstream connection c.
func explainClient(a *Analysis, c *Conn, f *Exchange, idx answerIndex) Explanation {
	x := Explanation{Cause: CauseClientIdleRace, ClientErr: f.ErrKind, Method: f.Method, At: f.Done,
		Local: c.Client, Remote: c.Server, Idle: f.Idle, Requests: f.Number, Err: f.Err, FailAt: f.Done,
		PeerTimeout: a.Gateway.ClientKeepAlive}
	// A gateway answer to this client after the failure means the gateway
	// broke the response itself (mid-body); take its cause.
	for _, ans := range idx.byPeer[c.Client] {
		if !ans.At.After(f.Done.Add(time.Second)) && !ans.At.Before(f.Done.Add(-time.Second)) {
			x.Cause = ans.Cause
			return x
		}
	}
	if !f.Reused || f.ErrKind == event.ErrTimeout || f.ErrKind == event.ErrCanceled {
		x.Cause = proxy.CauseClientClosed
		if f.ErrKind == event.ErrTimeout {
			x.Cause = proxy.CauseBackendTimeout
		}
		return x
	}
	if !c.ServerSeen {
		return x
	}
	if !c.ServerOpened.IsZero() {
		x.GatewayConn = c.ServerID
		x.ConnAge = f.Done.Sub(c.ServerOpened)
	}
	if cl := c.serverClose(); cl != nil {
		closedBy := string(proxy.ByGateway)
		if cl.By == ClientSide {
			closedBy = string(proxy.ByClient)
		}
		x.ClosedFirst, x.CloseStyle, x.CloseAt = closedBy, "fin", cl.At
		x.WriteAt = f.Done
	}
	return x
}

// lane is the timeline lane of an upstream connection.
func lane(c *Conn, idx answerIndex) Lane {
	l := Lane{GatewayConn: c.ClientID, Local: c.Client, Remote: c.Server, Opened: c.Opened}
	for i := range c.Exchanges {
		f := &c.Exchanges[i]
		start := f.Written
		switch {
		case start.IsZero() && !f.Failed:
			continue // an answer to a request not seen written: no span to draw
		case start.IsZero():
			start = f.Done
		}
		span := Span{Start: start, End: f.Done, Method: f.Method}
		if !f.Failed {
			span.Status = f.Status
		}
		l.Exchanges = append(l.Exchanges, span)
		if !f.Failed {
			continue
		}
		m := Mark{At: f.Done, Cause: proxy.CauseBackendResetMidRequest, Retried: true}
		if f.Reused {
			m.Cause = proxy.CauseKeepaliveRace
		}
		if ans := idx.failureAnswer(c, f); ans != nil {
			m.Status, m.Cause, m.Retried = ans.Status, ans.Cause, false
		}
		l.Failures = append(l.Failures, m)
	}
	if cl := c.clientClose(); cl != nil {
		l.Closed, l.CloseReason = cl.At, cl.Reason
		l.ClosedBy = string(proxy.ByGateway)
		if cl.By == ServerSide {
			l.ClosedBy = string(proxy.ByBackend)
		}
	}
	if c.ServerSeen {
		l.BackendConn = c.ServerID
		if cl := c.serverClose(); cl != nil && cl.By == ServerSide {
			// The backend's close is the one that matters when it came first.
			if l.Closed.IsZero() || !cl.At.After(l.Closed) || l.ClosedBy == string(proxy.ByBackend) {
				l.Closed, l.ClosedBy, l.CloseStyle, l.CloseReason = cl.At, string(backend.ByBackend), cl.How, cl.Reason
			}
		}
	}
	return l
}
