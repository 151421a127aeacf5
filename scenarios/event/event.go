// Package event is the vocabulary gwsim's actors (gateway, backend, load
// driver) use to say what happened on each connection: typed events with a
// wall-clock and a monotonic timestamp and the TCP 4-tuple, delivered
// through a Sink the actor is given. The runner joins gateway and backend
// events by 4-tuple (the gateway's local port is the backend's remote port)
// to explain each failure; journals (JSON lines) let `gwsim explain` do the
// same offline, also across separate processes on one machine.
//
// The package depends on nothing of gwsim's, so every actor can import it
// and none imports the runner.
package event

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Actor is who emitted an event.
type Actor string

const (
	Gateway Actor = "gateway" // the proxy; its connections to backends, and its client side
	Backend Actor = "backend" // the toy backend
	Client  Actor = "client"  // the load driver
)

// Kind is what happened.
type Kind string

const (
	// Config states an actor's settings once, at start (KeepAlive,
	// IdleTimeout, Profile, Addr).
	Config Kind = "config"
	// ConnOpened: a connection was dialled (gateway, client) or accepted
	// (backend). Side says which side of the gateway for the gateway.
	ConnOpened Kind = "conn-opened"
	// RequestWritten: a request was handed to the socket (gateway, client).
	// Reused and Idle say whether the connection came from the pool and how
	// long it had been idle.
	RequestWritten Kind = "request-written"
	// RequestReceived: the first byte of a request arrived (backend).
	RequestReceived Kind = "request-received"
	// ResponseWritten: a response was written (backend), with Status.
	ResponseWritten Kind = "response-written"
	// ResponseFinished: a response was read to its end (gateway, client),
	// with Status; a body that broke is an ExchangeFailed (with Status)
	// instead.
	ResponseFinished Kind = "response-finished"
	// ExchangeFailed: a request got no complete response (gateway from its
	// backend, client from the gateway). ErrKind and Err say how; the
	// gateway adds its own Cause and the Status it answered.
	ExchangeFailed Kind = "exchange-failed"
	// Answered: the gateway answered its client (Status, Cause).
	Answered Kind = "answered"
	// TrapArmed: the backend's keep-alive expired under the race trap.
	TrapArmed Kind = "trap-armed"
	// Closed: a connection was closed. Initiator is the side that closed
	// first, Reason why, Style how (fin, rst, linger, trap).
	Closed Kind = "closed"
)

// Side is which of the gateway's two sides a gateway event is about.
const (
	SideUpstream   = "upstream"   // gateway → backend connections
	SideDownstream = "downstream" // client → gateway connections
)

// Event is one thing that happened. Fields that do not apply are zero and
// omitted from JSON.
type Event struct {
	Time time.Time `json:"time"` // wall clock (joins across processes on one host)
	// Scenario names the scenario of an in-process run ("" for standalone
	// actors), so one journal can hold several.
	Scenario string `json:"scenario,omitempty"`
	Mono     int64  `json:"mono_ns"` // monotonic nanoseconds since the emitting process's epoch
	Actor    Actor  `json:"actor"`
	Kind     Kind   `json:"kind"`
	Side     string `json:"side,omitempty"`
	// Conn is the emitter's own connection id.
	Conn uint64 `json:"conn,omitempty"`
	// Local and Remote are this side's ip:port pair; with the peer's pair
	// reversed they form the 4-tuple.
	Local  string `json:"local,omitempty"`
	Remote string `json:"remote,omitempty"`
	// Peer is the client's ip:port on a gateway Answered event (Local and
	// Remote are then the upstream connection's).
	Peer string `json:"peer,omitempty"`

	Method   string        `json:"method,omitempty"`
	Status   int           `json:"status,omitempty"`
	Reused   bool          `json:"reused,omitempty"`
	Idle     time.Duration `json:"idle_ns,omitempty"`  // idle age at the event
	Requests int           `json:"requests,omitempty"` // exchanges on the connection, this one included

	Initiator string `json:"initiator,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Style     string `json:"style,omitempty"`
	Cause     string `json:"cause,omitempty"`
	ErrKind   string `json:"err_kind,omitempty"`
	Err       string `json:"err,omitempty"`
	// Deadline is when an idle close was scheduled (backend keep-alive).
	Deadline time.Time `json:"deadline,omitzero"`

	// Config events.
	Profile     string        `json:"profile,omitempty"`
	Addr        string        `json:"addr,omitempty"`
	KeepAlive   time.Duration `json:"keepalive_ns,omitempty"`    // backend keep-alive, or the gateway's client keep-alive
	IdleTimeout time.Duration `json:"idle_timeout_ns,omitempty"` // gateway backend idle limit, or client idle limit
	CloseStyle  string        `json:"close_style,omitempty"`
	RaceTrap    bool          `json:"race_trap,omitempty"`
	TimeScale   float64       `json:"time_scale,omitempty"`
}

// Sink receives events. It must be safe for concurrent use and quick; a
// nil Sink means events are off.
type Sink func(Event)

// epoch anchors Mono.
var epoch = time.Now()

// Now stamps e with the current time (wall and monotonic) and returns it.
func Now(e Event) Event {
	now := time.Now()
	e.Time = now
	e.Mono = int64(now.Sub(epoch))
	return e
}

// At stamps e with t, a time.Now() reading taken earlier (when the thing
// happened rather than when it is reported).
func At(e Event, t time.Time) Event {
	e.Time = t
	e.Mono = int64(t.Sub(epoch))
	return e
}

// Emit stamps e and sends it to s, if s is set.
func (s Sink) Emit(e Event) {
	if s != nil {
		s(Now(e))
	}
}

// Tee returns a sink that sends to every non-nil sink given; nil if none.
func Tee(sinks ...Sink) Sink {
	var live []Sink
	for _, s := range sinks {
		if s != nil {
			live = append(live, s)
		}
	}
	switch len(live) {
	case 0:
		return nil
	case 1:
		return live[0]
	}
	return func(e Event) {
		for _, s := range live {
			s(e)
		}
	}
}

// Recorder keeps events in memory, in fixed-size chunks so that growing
// never copies what is already there.
type Recorder struct {
	mu     sync.Mutex
	chunks [][]Event
}

const recorderChunk = 1024

// Sink returns the recorder's sink.
func (r *Recorder) Sink() Sink {
	return func(e Event) {
		r.mu.Lock()
		n := len(r.chunks)
		if n == 0 || len(r.chunks[n-1]) == recorderChunk {
			r.chunks = append(r.chunks, make([]Event, 0, recorderChunk))
			n++
		}
		r.chunks[n-1] = append(r.chunks[n-1], e)
		r.mu.Unlock()
	}
}

// Events returns a copy of what was recorded, in arrival order.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, c := range r.chunks {
		out = append(out, c...)
	}
	return out
}

// Journal writes events as JSON lines.
type Journal struct {
	mu  sync.Mutex
	w   *bufio.Writer
	buf []byte
	err error
}

// NewJournal writes to w; call Flush before closing w.
func NewJournal(w io.Writer) *Journal {
	return &Journal{w: bufio.NewWriterSize(w, 64<<10)}
}

// Sink returns the journal's sink.
func (j *Journal) Sink() Sink {
	return func(e Event) {
		j.mu.Lock()
		if j.err == nil {
			j.buf = append(e.AppendJSON(j.buf[:0]), '\n')
			_, j.err = j.w.Write(j.buf)
		}
		j.mu.Unlock()
	}
}

// Flush writes buffered events and returns the first write error.
func (j *Journal) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err == nil {
		j.err = j.w.Flush()
	}
	return j.err
}

// Read reads a journal. A malformed line is an error naming its number.
func Read(r io.Reader) ([]Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out []Event
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if e.Actor == "" || e.Kind == "" {
			return nil, fmt.Errorf("line %d: not a gwsim event (no actor or kind)", n)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
