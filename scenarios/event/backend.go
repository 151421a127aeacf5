package event

import "github.com/gwsim/gwsim/backend"

// BackendTrace is a backend.Trace that writes what the backend does to
// sink as journal events: the journal subscribes to the backend as any
// other observer does.
func BackendTrace(sink Sink) *backend.Trace {
	if sink == nil {
		return nil
	}
	conn := func(kind Kind, c backend.ConnRef) Event {
		return Event{Time: c.At, Actor: Backend, Kind: kind, Conn: c.ID, Local: c.Local, Remote: c.Remote}
	}
	emit := func(e Event) { sink(At(e, e.Time)) }
	return &backend.Trace{
		Config: func(c backend.ConfigInfo) {
			emit(Event{Time: c.At, Actor: Backend, Kind: Config, Addr: c.Addr, KeepAlive: c.KeepAlive, CloseStyle: string(c.Close), RaceTrap: c.RaceTrap})
		},
		ConnOpened: func(c backend.ConnRef) { emit(conn(ConnOpened, c)) },
		RequestReceived: func(c backend.ConnRef, r backend.RequestInfo) {
			e := conn(RequestReceived, c)
			e.Idle, e.Requests = r.Idle, r.Requests
			emit(e)
		},
		ResponseWritten: func(c backend.ConnRef, r backend.ResponseInfo) {
			e := conn(ResponseWritten, c)
			e.Status, e.Requests = r.Status, r.Requests
			emit(e)
		},
		TrapArmed: func(c backend.ConnRef, t backend.TrapInfo) {
			e := conn(TrapArmed, c)
			e.Deadline, e.Idle = t.Deadline, t.Idle
			emit(e)
		},
		Closed: func(c backend.ConnRef, cl backend.CloseInfo) {
			e := conn(Closed, c)
			e.Initiator, e.Reason, e.Style = string(cl.Initiator), string(cl.Reason), string(cl.Style)
			e.Deadline, e.Idle, e.Requests = cl.Deadline, cl.Idle, cl.Requests
			emit(e)
		},
	}
}
