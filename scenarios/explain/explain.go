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
}

// Key is the cause with its subkind, like keepalive-race/linger.
func (x *Explanation) Key() string {
	if x.Subkind == "" {
		return x.Cause
	}
	return x.Cause + "/" + x.Subkind
}

// Analysis is the join of a run's events: every failure explained, the
// connections as lanes for the timeline, and the settings the actors
// stated.
type Analysis struct {
	Start        time.Time
	End          time.Time
	Explanations []Explanation // visible failures first seen first, then hidden (retried) ones
	Causes       map[string]int64
	Subkinds     map[string]int64 // cause/subkind → count, visible failures only
	Lanes        []Lane           // one per upstream connection, in opening order
	Gateway      event.Event      // the gateway's config event (zero if absent)
	Backend      event.Event      // the first backend's config event (zero if absent)
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

// connKey names a connection by its 4-tuple, as the connecting side sees
// it: its own ip:port, then the peer's.
func connKey(local, remote string) string { return local + ">" + remote }

// connLog is every event of one connection of one actor, in time order.
type connLog struct {
	events []event.Event
}

func (c *connLog) first(kind event.Kind) *event.Event {
	for i := range c.events {
		if c.events[i].Kind == kind {
			return &c.events[i]
		}
	}
	return nil
}

// last returns the last event of kind at or before t.
func (c *connLog) last(kind event.Kind, t time.Time) *event.Event {
	var out *event.Event
	for i := range c.events {
		e := &c.events[i]
		if e.Time.After(t) {
			break
		}
		if e.Kind == kind {
			out = e
		}
	}
	return out
}

// Analyze joins events from any mix of actors (one in-process run, or the
// journals of standalone processes on one host).
func Analyze(events []event.Event) *Analysis {
	evs := append([]event.Event(nil), events...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
	a := &Analysis{Causes: map[string]int64{}, Subkinds: map[string]int64{}}
	if len(evs) > 0 {
		a.Start, a.End = evs[0].Time, evs[len(evs)-1].Time
	}
	up := map[string]*connLog{}   // gateway upstream, by gateway local > backend
	back := map[string]*connLog{} // backend, by gateway local > backend (its remote > local)
	down := map[string]*connLog{} // gateway downstream, by client > gateway
	var upOrder []string
	add := func(m map[string]*connLog, k string, e event.Event) *connLog {
		c := m[k]
		if c == nil {
			c = &connLog{}
			m[k] = c
		}
		c.events = append(c.events, e)
		return c
	}
	var answers, clientFails []event.Event
	for _, e := range evs {
		switch {
		case e.Kind == event.Config && e.Actor == event.Gateway:
			a.Gateway = e
		case e.Kind == event.Config && e.Actor == event.Backend:
			if a.Backend.Kind == "" {
				a.Backend = e
			}
		case e.Actor == event.Gateway && e.Kind == event.Answered:
			answers = append(answers, e)
		case e.Actor == event.Gateway && e.Side == event.SideUpstream:
			k := connKey(e.Local, e.Remote)
			if _, ok := up[k]; !ok {
				upOrder = append(upOrder, k)
			}
			add(up, k, e)
		case e.Actor == event.Gateway && e.Side == event.SideDownstream:
			add(down, connKey(e.Remote, e.Local), e)
		case e.Actor == event.Backend:
			add(back, connKey(e.Remote, e.Local), e)
		case e.Actor == event.Client && e.Kind == event.ExchangeFailed:
			clientFails = append(clientFails, e)
		}
	}

	idx := indexAnswers(answers)
	// Failures the client saw from the gateway, and the ones it retried.
	for _, ans := range answers {
		if ans.Cause == "" || ans.Cause == proxy.CauseNone || ans.Status >= 200 && ans.Status < 300 {
			continue // a 2xx whose body broke shows up as a client error
		}
		x := explainUpstream(a, ans.Cause, ans.Status, ans.Method, ans.Time, up[connKey(ans.Local, ans.Remote)], back[connKey(ans.Local, ans.Remote)])
		a.add(x)
	}
	for _, cf := range clientFails {
		a.add(explainClient(a, cf, down[connKey(cf.Local, cf.Remote)], idx))
	}
	for _, k := range upOrder {
		for _, f := range up[k].events {
			// A failure with a status broke a body after the head: the
			// client saw it as such (or the gateway cut its answer).
			if f.Kind != event.ExchangeFailed || f.Status != 0 || idx.answeredAfter(f) {
				continue
			}
			cause := proxy.CauseBackendResetMidRequest
			switch {
			case f.ErrKind == event.ErrTimeout:
				cause = proxy.CauseBackendTimeout
			case f.Reused:
				cause = proxy.CauseKeepaliveRace
			}
			x := explainUpstream(a, cause, 0, f.Method, f.Time, up[k], back[k])
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
	for _, k := range upOrder {
		a.Lanes = append(a.Lanes, lane(up[k], back[k], idx))
	}
	return a
}

func (a *Analysis) add(x Explanation) {
	a.Explanations = append(a.Explanations, x)
	a.Causes[x.Cause]++
	if x.Subkind != "" {
		a.Subkinds[x.Key()]++
	}
}

// answerIndex holds the gateway's failure answers, indexed so a join stays
// linear in the journal's size (a demo that ran for hours has millions of
// successful answers and a few failures).
type answerIndex struct {
	byConn map[string][]event.Event // non-2xx answers, by upstream connection
	byPeer map[string][]event.Event // answers with a failure cause, by client ip:port
}

func indexAnswers(answers []event.Event) answerIndex {
	idx := answerIndex{byConn: map[string][]event.Event{}, byPeer: map[string][]event.Event{}}
	for _, ans := range answers {
		if failedStatus(ans.Status) {
			k := connKey(ans.Local, ans.Remote)
			idx.byConn[k] = append(idx.byConn[k], ans)
		}
		if ans.Cause != "" && ans.Cause != proxy.CauseNone {
			idx.byPeer[ans.Peer] = append(idx.byPeer[ans.Peer], ans)
		}
	}
	return idx
}

// failedStatus is a status the client got instead of an answer (not 0,
// which V1 logs for a client that left, nor 2xx).
func failedStatus(st int) bool { return st != 0 && (st < 200 || st >= 300) }

// failureAnswer is the first failure answer on f's connection at or after
// f: the one that reported f to the client.
func (idx answerIndex) failureAnswer(f event.Event) *event.Event {
	for i, ans := range idx.byConn[connKey(f.Local, f.Remote)] {
		if !ans.Time.Before(f.Time) {
			return &idx.byConn[connKey(f.Local, f.Remote)][i]
		}
	}
	return nil
}

// answeredAfter reports whether a failure on an upstream connection is the
// one a gateway answer (non-2xx) reported, rather than one it retried.
func (idx answerIndex) answeredAfter(f event.Event) bool { return idx.failureAnswer(f) != nil }

// explainUpstream tells the story of a failed gateway→backend exchange,
// refining the gateway's own cause with what the backend says it did.
func explainUpstream(a *Analysis, cause string, status int, method string, at time.Time, gw, be *connLog) Explanation {
	x := Explanation{Cause: cause, Status: status, Method: method, At: at,
		PeerTimeout: a.Backend.KeepAlive, OwnTimeout: a.Gateway.IdleTimeout}
	if a.Gateway.Kind != "" && a.Gateway.IdleTimeout == 0 {
		x.OwnTimeout = -1 // the gateway stated no backend idle limit
	}
	if gw == nil {
		return x
	}
	if o := gw.first(event.ConnOpened); o != nil {
		x.GatewayConn, x.Local, x.Remote = o.Conn, o.Local, o.Remote
		x.ConnAge = at.Sub(o.Time)
	}
	fail := gw.last(event.ExchangeFailed, at)
	if fail == nil {
		return x
	}
	x.FailAt, x.Err, x.Idle, x.Requests = fail.Time, fail.Err, fail.Idle, fail.Requests
	x.WriteAt = fail.Time
	if w := gw.last(event.RequestWritten, fail.Time); w != nil && w.Requests == fail.Requests {
		x.WriteAt = w.Time
	}
	if be == nil {
		if fail.Reused && cause == proxy.CauseKeepaliveRace {
			x.ClosedFirst = string(backend.ByBackend) // the gateway saw EOF/RST before any response byte
		}
		return x
	}
	if o := be.first(event.ConnOpened); o != nil {
		x.BackendConn = o.Conn
	}
	cl := be.first(event.Closed)
	if cl == nil {
		return x
	}
	x.CloseStyle = cl.Style
	switch backend.CloseReason(cl.Reason) {
	case backend.CloseIdle, backend.CloseTrap:
		x.ClosedFirst = string(backend.ByBackend)
		x.CloseAt = cl.Time
		if backend.CloseReason(cl.Reason) == backend.CloseTrap {
			if armed := be.first(event.TrapArmed); armed != nil {
				x.CloseAt = armed.Time
			}
		}
		x.Delta, x.HasDelta = x.WriteAt.Sub(x.CloseAt), true
		if fail.Reused && cause != proxy.CauseClientClosed && cause != proxy.CauseBackendTimeout {
			x.Cause, x.Subkind = proxy.CauseKeepaliveRace, cl.Style
		}
	case backend.CloseFault:
		x.ClosedFirst = string(backend.ByBackend)
		x.CloseAt = cl.Time
		if x.Cause == proxy.CauseKeepaliveRace {
			// The backend had the request and cut the connection: not the race.
			x.Cause = proxy.CauseBackendResetMidRequest
		}
	case backend.ClosePeer, backend.CloseShutdown:
		x.ClosedFirst = string(proxy.ByGateway)
	}
	return x
}

// explainClient tells the story of a client-side error.
func explainClient(a *Analysis, cf event.Event, gw *connLog, idx answerIndex) Explanation {
	x := Explanation{Cause: CauseClientIdleRace, ClientErr: cf.ErrKind, Method: cf.Method, At: cf.Time,
		Local: cf.Local, Remote: cf.Remote, Idle: cf.Idle, Requests: cf.Requests, Err: cf.Err, FailAt: cf.Time,
		PeerTimeout: a.Gateway.KeepAlive}
	// A gateway answer to this client after the failure means the gateway
	// broke the response itself (mid-body); take its cause.
	for _, ans := range idx.byPeer[cf.Local] {
		if !ans.Time.After(cf.Time.Add(time.Second)) && !ans.Time.Before(cf.Time.Add(-time.Second)) {
			x.Cause = ans.Cause
			return x
		}
	}
	if !cf.Reused || cf.ErrKind == event.ErrTimeout || cf.ErrKind == event.ErrCanceled {
		x.Cause = proxy.CauseClientClosed
		if cf.ErrKind == event.ErrTimeout {
			x.Cause = proxy.CauseBackendTimeout
		}
		return x
	}
	if gw == nil {
		return x
	}
	if o := gw.first(event.ConnOpened); o != nil {
		x.GatewayConn = o.Conn
		x.ConnAge = cf.Time.Sub(o.Time)
	}
	if cl := gw.first(event.Closed); cl != nil {
		x.ClosedFirst, x.CloseStyle, x.CloseAt = cl.Initiator, "fin", cl.Time
		x.WriteAt = cf.Time
	}
	return x
}

// lane builds a timeline lane from an upstream connection's events.
func lane(gw, be *connLog, idx answerIndex) Lane {
	var l Lane
	var open *Span
	for _, e := range gw.events {
		switch e.Kind {
		case event.ConnOpened:
			l.GatewayConn, l.Local, l.Remote, l.Opened = e.Conn, e.Local, e.Remote, e.Time
		case event.RequestWritten:
			l.Exchanges = append(l.Exchanges, Span{Start: e.Time, Method: e.Method})
			open = &l.Exchanges[len(l.Exchanges)-1]
		case event.ResponseFinished:
			if open != nil {
				open.End, open.Status = e.Time, e.Status
				open = nil
			}
		case event.ExchangeFailed:
			if open == nil {
				l.Exchanges = append(l.Exchanges, Span{Start: e.Time, Method: e.Method})
				open = &l.Exchanges[len(l.Exchanges)-1]
			}
			open.End = e.Time
			m := Mark{At: e.Time, Cause: proxy.CauseBackendResetMidRequest, Retried: true}
			if e.Reused {
				m.Cause = proxy.CauseKeepaliveRace
			}
			if ans := idx.failureAnswer(e); ans != nil {
				m.Status, m.Cause, m.Retried = ans.Status, ans.Cause, false
			}
			l.Failures = append(l.Failures, m)
			open = nil
		case event.Closed:
			l.Closed, l.ClosedBy, l.CloseReason = e.Time, e.Initiator, e.Reason
		}
	}
	if be != nil {
		if o := be.first(event.ConnOpened); o != nil {
			l.BackendConn = o.Conn
		}
		if cl := be.first(event.Closed); cl != nil && backend.Initiator(cl.Initiator) == backend.ByBackend {
			// The backend's close is the one that matters when it came first.
			if l.Closed.IsZero() || !cl.Time.After(l.Closed) || l.ClosedBy == string(proxy.ByBackend) {
				l.Closed, l.ClosedBy, l.CloseStyle, l.CloseReason = cl.Time, string(backend.ByBackend), cl.Style, cl.Reason
			}
		}
	}
	return l
}
