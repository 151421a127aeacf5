package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// PoolOrder is the order in which idle connections are reused.
type PoolOrder string

const (
	// LIFO reuses the most recently used idle connection (Go's Transport,
	// nginx): the others age and are the ones that meet the backend's timer.
	LIFO PoolOrder = "lifo"
	// FIFO reuses the longest-idle connection first (round robin over the pool).
	FIFO PoolOrder = "fifo"
)

// ParsePoolOrder parses "lifo" or "fifo".
func ParsePoolOrder(s string) (PoolOrder, error) {
	switch PoolOrder(s) {
	case LIFO, FIFO:
		return PoolOrder(s), nil
	}
	return "", fmt.Errorf("unknown pool order %q (want lifo or fifo)", s)
}

// Initiator says which side closed a pooled connection.
type Initiator string

const (
	ByGateway Initiator = "gateway" // this side closed it (idle timeout, error, shutdown)
	ByBackend Initiator = "backend" // the peer closed it (FIN or RST seen)
	ByClient  Initiator = "client"  // a client connection's peer closed it
)

// Close reasons, a fixed set (they are metric label values).
const (
	ReasonIdleTimeout   = "idle-timeout"   // our idle deadline passed
	ReasonPeerClosed    = "peer-closed"    // FIN or RST seen while idle
	ReasonUnsolicited   = "unsolicited"    // bytes arrived while idle
	ReasonNotReusable   = "not-reusable"   // Connection: close, HTTP/1.0, or an unread body
	ReasonRequestFailed = "request-failed" // write or read failed during an exchange
	ReasonShutdown      = "shutdown"       // Pool.Close
)

// ConnInfo describes a pooled connection to hooks and in errors.
type ConnInfo struct {
	ID       uint64
	Addr     string    // the member address dialled
	Local    string    // local ip:port (the backend sees this as the remote port)
	Opened   time.Time // when the dial completed
	Requests int       // exchanges started on it, including the current one
}

// PoolConfig configures a Pool. The zero value is a usable LIFO pool with no
// idle limit, no connection limit and no link latency.
type PoolConfig struct {
	// IdleTimeout closes a connection idle this long (App Gateway V2: 60 s).
	// 0 = idle connections are kept until the peer closes them (V1).
	IdleTimeout time.Duration
	// MaxConnsPerHost bounds the connections (busy and idle) to one address;
	// requests wait for one to free up. 0 = unlimited.
	MaxConnsPerHost int
	// Order of reuse; "" = LIFO.
	Order PoolOrder
	// DialTimeout bounds connect; 0 = 10 s.
	DialTimeout time.Duration
	// LinkLatency is the one-way delay injected on every connection, both
	// directions (see WithLatency); 0 = none.
	LinkLatency time.Duration
	// LinkJitter adds a random extra delay in [0, LinkJitter) to every
	// chunk, order kept (see WithLink); 0 = none.
	LinkJitter time.Duration
	// Trace observes connections and exchanges.
	Trace PoolTrace
	// DialContext replaces the TCP dialer (tests dial net.Pipe); nil = TCP.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Pool is an HTTP/1.1 connection pool and http.RoundTripper that never
// retries: a request that fails on a reused connection fails, with a
// *RoundTripError saying so. A goroutine per connection watches it while it
// is idle, so a FIN or RST that arrives removes it from the pool; the
// request that takes a connection in the instant before that FIN is noticed
// meets the keep-alive race, as in a real gateway.
type Pool struct {
	cfg         PoolConfig
	dialer      net.Dialer
	nextID      atomic.Uint64
	idleTimeout atomic.Int64 // cfg.IdleTimeout, changeable with SetIdleTimeout

	mu     sync.Mutex
	hosts  map[string]*hostConns
	closed bool
}

type hostConns struct {
	idle    []*persistConn // oldest first
	open    int            // connections counted against MaxConnsPerHost
	changed chan struct{}  // closed and replaced when idle or open changes and someone waits
	waiters int            // requests waiting on changed
}

// NewPool returns a pool with cfg.
func NewPool(cfg PoolConfig) *Pool {
	if cfg.Order == "" {
		cfg.Order = LIFO
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	p := &Pool{cfg: cfg, dialer: net.Dialer{Timeout: cfg.DialTimeout}, hosts: map[string]*hostConns{}}
	p.idleTimeout.Store(int64(cfg.IdleTimeout))
	return p
}

// SetIdleTimeout changes the idle limit for idle periods that start from
// now on (and for taking a connection: one idle longer than d is closed).
func (p *Pool) SetIdleTimeout(d time.Duration) { p.idleTimeout.Store(int64(d)) }

// IdleTimeout is the idle limit in force.
func (p *Pool) IdleTimeout() time.Duration { return time.Duration(p.idleTimeout.Load()) }

// exchangeInfo describes the exchange of req on ex.
func exchangeInfo(req *http.Request, ex exchange) ExchangeInfo {
	return ExchangeInfo{Conn: ex.conn, Method: req.Method, Reused: ex.reused, Idle: ex.idleFor}
}

// RoundTripError is the error of a failed exchange: where it failed, and the
// state of the connection it failed on.
type RoundTripError struct {
	Op              string // "dial", "write" or "read"
	Addr            string
	Conn            ConnInfo      // zero for a dial error
	Reused          bool          // the connection had served an exchange before
	IdleFor         time.Duration // how long it had been idle when taken (reused only)
	RequestWritten  bool          // the whole request was handed to the socket
	ResponseStarted bool          // at least one byte of the response arrived
	Elapsed         time.Duration // from taking the connection to the failure
	Err             error
}

func (e *RoundTripError) Error() string {
	s := fmt.Sprintf("%s %s", e.Op, e.Addr)
	if e.Conn.ID != 0 {
		s += fmt.Sprintf(" (conn %d", e.Conn.ID)
		if e.Reused {
			s += fmt.Sprintf(", reused after %s idle", e.IdleFor)
		}
		s += ")"
	}
	return s + ": " + e.Err.Error()
}

func (e *RoundTripError) Unwrap() error { return e.Err }

// RoundTrip sends req on a pooled connection to req.URL.Host and returns the
// response. It never retries. The response body must be read to EOF or
// closed; reading to EOF returns the connection to the pool.
func (p *Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, _, err := p.roundTrip(req, false)
	return resp, err
}

// RoundTripNew is RoundTrip on a newly dialled connection, never a reused
// one (what a retry policy uses after a reused connection failed).
func (p *Pool) RoundTripNew(req *http.Request) (*http.Response, error) {
	resp, _, err := p.roundTrip(req, true)
	return resp, err
}

// exchange describes the connection a successful round trip used.
type exchange struct {
	conn    ConnInfo
	reused  bool
	idleFor time.Duration
}

func (p *Pool) roundTrip(req *http.Request, fresh bool) (*http.Response, exchange, error) {
	if req.URL == nil || req.URL.Host == "" {
		return nil, exchange{}, errors.New("pool: request has no URL host")
	}
	if req.URL.Scheme != "http" {
		return nil, exchange{}, fmt.Errorf("pool: unsupported scheme %q", req.URL.Scheme)
	}
	ctx := req.Context()
	addr := req.URL.Host
	var body *bodyRecorder
	if req.Body != nil && req.Body != http.NoBody {
		// Tell the body's own read errors from the connection's.
		body = &bodyRecorder{rc: req.Body}
		r2 := *req
		r2.Body = body
		req = &r2
	}
	pc, idleFor, err := p.getConn(ctx, addr, fresh)
	if err != nil {
		return nil, exchange{}, &RoundTripError{Op: "dial", Addr: addr, Err: err}
	}
	taken := time.Now()
	reused := pc.info.Requests > 1
	ex := exchange{conn: pc.info, reused: reused, idleFor: idleFor}
	fail := func(op string, started, written bool, err error) error {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		if hk := p.cfg.Trace.ExchangeDone; hk != nil {
			xi := exchangeInfo(req, ex)
			xi.Err = err
			hk(xi)
		}
		return &RoundTripError{Op: op, Addr: addr, Conn: pc.info, Reused: reused, IdleFor: idleFor,
			RequestWritten: written, ResponseStarted: started, Elapsed: time.Since(taken), Err: err}
	}
	// Cancellation unblocks any I/O by expiring the deadline.
	stop := context.AfterFunc(ctx, func() { _ = pc.conn.SetDeadline(time.Unix(1, 0)) })
	rc := make(chan readResult, 1)
	pc.reqc <- readRequest{req: req, res: rc}
	werr, early := pc.write(req)
	if werr != nil && !early {
		if body != nil && body.failed() {
			// The request's own body failed (the client's): the backend
			// waits for bytes that will not come.
			stop()
			pc.kill(ByGateway, ReasonRequestFailed)
			r := <-rc // the reader ends on the closed connection
			return nil, ex, fail("write", r.started, false, werr)
		}
		// The backend may have answered before the request was written
		// and closed (413 before an upload ends): its answer, if the
		// reader gets one, is the outcome. The reader ends on the peer's
		// close, or on the request's deadline through the stop hook.
		r := <-rc
		if r.err != nil {
			stop()
			pc.kill(ByGateway, ReasonRequestFailed)
			return nil, ex, fail("write", r.started, false, werr)
		}
		rc <- r
		early = true
	}
	if hk := p.cfg.Trace.RequestWritten; hk != nil && werr == nil {
		hk(exchangeInfo(req, ex))
	}
	r := <-rc
	if r.err != nil {
		stop()
		return nil, ex, fail("read", r.started, true, r.err)
	}
	resp := r.resp
	// One event ends the exchange (the response head's own event would
	// cost the hot path another emission for little: see the benchmark).
	var report func(err error)
	if hk := p.cfg.Trace.ExchangeDone; hk != nil {
		report = func(err error) {
			xi := exchangeInfo(req, ex)
			xi.Status, xi.Err = resp.StatusCode, err
			hk(xi)
		}
	}
	// A request not written to its end (the backend answered early) leaves
	// the connection out of step: not reusable.
	reusable := !early && !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols
	if resp.Body == http.NoBody || resp.Body == nil {
		if report != nil {
			report(nil)
		}
		// A cancellation that already fired has expired the deadline: not reusable.
		pc.finish(nil, stop() && reusable)
		return resp, ex, nil
	}
	pb := &pooledBody{rc: resp.Body, pc: pc, stop: stop, reusable: reusable, report: report}
	resp.Body = pb
	return resp, ex, nil
}

// getConn takes an idle connection (unless fresh) or dials a new one.
func (p *Pool) getConn(ctx context.Context, addr string, fresh bool) (*persistConn, time.Duration, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, 0, errors.New("pool closed")
		}
		h := p.hosts[addr]
		if h == nil {
			h = &hostConns{changed: make(chan struct{})}
			p.hosts[addr] = h
		}
		for !fresh && len(h.idle) > 0 {
			var pc *persistConn
			if p.cfg.Order == FIFO {
				pc = h.idle[0]
				h.idle = h.idle[1:]
			} else {
				pc = h.idle[len(h.idle)-1]
				h.idle = h.idle[:len(h.idle)-1]
			}
			idleFor, ok := pc.take(p.IdleTimeout())
			if !ok {
				continue // found dead or past its idle deadline; closed by take
			}
			p.mu.Unlock()
			if hk := p.cfg.Trace.Reused; hk != nil {
				hk(pc.info, idleFor)
			}
			return pc, idleFor, nil
		}
		if max := p.cfg.MaxConnsPerHost; max <= 0 || h.open < max {
			h.open++
			p.mu.Unlock()
			pc, err := p.dial(ctx, addr)
			if err != nil {
				p.release(addr)
				return nil, 0, err
			}
			return pc, 0, nil
		}
		ch := h.changed
		h.waiters++
		p.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = fmt.Errorf("waiting for a connection to %s: %w", addr, ctx.Err())
		}
		p.mu.Lock()
		h.waiters--
		p.mu.Unlock()
		if err != nil {
			return nil, 0, err
		}
	}
}

func (p *Pool) dial(ctx context.Context, addr string) (*persistConn, error) {
	dial := p.cfg.DialContext
	if dial == nil {
		dial = p.dialer.DialContext
	}
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	pc := &persistConn{
		pool: p,
		addr: addr,
		info: ConnInfo{ID: p.nextID.Add(1), Addr: addr, Local: c.LocalAddr().String(), Opened: time.Now(), Requests: 1},
		busy: true,
		reqc: make(chan readRequest, 1),
		next: make(chan struct{}, 1),
	}
	pc.conn = WithLink(c, p.cfg.LinkLatency, p.cfg.LinkJitter)
	pc.br = bufio.NewReaderSize(pc.conn, poolReadBuffer)
	// Writes go through the lent buffer only: a *net.TCPConn's ReadFrom
	// would copy a body through a 32 KiB buffer allocated per request.
	pc.w = writerOnly{pc.conn}
	if hk := p.cfg.Trace.Opened; hk != nil {
		hk(pc.info)
	}
	go pc.readLoop()
	return pc, nil
}

// Memory per idle connection (issue 8: nginx holds one in about 10 KB) is
// a goroutine's stack, the connection, and its read buffer: the write
// buffer is lent from writeBuffers only while a request is written, and
// the read buffer is small (response heads are short; a longer head is
// read in pieces, a body bypasses it into the caller's buffer).
const poolReadBuffer = 1 << 10

// writerOnly hides everything of a writer but Write.
type writerOnly struct{ io.Writer }

// writeBuffers lends 32 KiB write buffers to the requests being written:
// a request head and a body of up to 32 KiB leave in one write.
var writeBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}

// release gives back a connection slot for addr and wakes waiters.
func (p *Pool) release(addr string) {
	p.mu.Lock()
	if h := p.hosts[addr]; h != nil {
		h.open--
		h.wake()
	}
	p.mu.Unlock()
}

// wake tells the requests waiting for a connection that one may be free;
// with nobody waiting it costs nothing (no channel per request).
func (h *hostConns) wake() {
	if h.waiters == 0 {
		return
	}
	close(h.changed)
	h.changed = make(chan struct{})
}

// putIdle returns pc to its host's idle list.
func (p *Pool) putIdle(pc *persistConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.hosts[pc.addr]
	if p.closed || h == nil {
		return false
	}
	pc.mu.Lock()
	if pc.dead {
		pc.mu.Unlock()
		return false
	}
	pc.busy = false
	pc.idleSince = time.Now()
	pc.idleLimit = p.IdleTimeout()
	if d := pc.idleLimit; d > 0 {
		// One timer per connection, re-armed for each idle period.
		if pc.idleTimer == nil {
			pc.idleTimer = time.AfterFunc(d, pc.idleExpired)
		} else {
			pc.idleTimer.Reset(d)
		}
	}
	pc.mu.Unlock()
	h.idle = append(h.idle, pc)
	h.wake()
	return true
}

// removeIdle drops pc from its host's idle list, if it is there.
func (p *Pool) removeIdle(pc *persistConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.hosts[pc.addr]
	if h == nil {
		return
	}
	for i, c := range h.idle {
		if c == pc {
			h.idle = append(h.idle[:i], h.idle[i+1:]...)
			h.wake()
			return
		}
	}
}

// Fork returns a new pool with p's configuration and none of its
// connections (the load driver's aimed pattern gives each worker one).
func (p *Pool) Fork() http.RoundTripper {
	q := NewPool(p.cfg)
	q.SetIdleTimeout(p.IdleTimeout())
	return q
}

// Close closes every idle connection; busy ones close when their exchange
// ends. Later round trips fail.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	var idle []*persistConn
	for _, h := range p.hosts {
		idle = append(idle, h.idle...)
		h.idle = nil
		h.wake()
	}
	p.mu.Unlock()
	for _, pc := range idle {
		pc.kill(ByGateway, ReasonShutdown)
	}
}

// IdleConns returns how many idle connections the pool holds for addr.
func (p *Pool) IdleConns(addr string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h := p.hosts[addr]; h != nil {
		return len(h.idle)
	}
	return 0
}

// readRequest hands an exchange to the connection's reader goroutine.
type readRequest struct {
	req *http.Request
	res chan readResult
}

type readResult struct {
	resp    *http.Response
	started bool // a byte of the response had arrived
	err     error
}

// persistConn is one pooled connection. Its reader goroutine blocks in
// Peek(1) whether the connection is idle or busy: idle, a byte or an error
// there means the peer closed (or misbehaved) and the connection is dropped;
// busy, it is the start of the response.
type persistConn struct {
	pool *Pool
	addr string
	info ConnInfo
	conn net.Conn
	br   *bufio.Reader // poolReadBuffer bytes; the writer is lent per request
	w    io.Writer     // conn, without its ReadFrom
	reqc chan readRequest
	next chan struct{} // the current response body is done; peek again

	wmu           sync.Mutex
	writing       bool // a request is being written
	answeredEarly bool // a final response came while writing

	mu        sync.Mutex
	busy      bool // an exchange holds the connection
	dead      bool
	idleSince time.Time
	idleLimit time.Duration // the pool's idle limit when this idle period began
	idleTimer *time.Timer   // created at the first idle period, re-armed after
}

// take marks an idle connection busy. It fails, closing the connection, when
// the reader already found it dead or its idle deadline has passed.
func (pc *persistConn) take(idleTimeout time.Duration) (time.Duration, bool) {
	pc.mu.Lock()
	if pc.dead {
		pc.mu.Unlock()
		return 0, false
	}
	idleFor := time.Since(pc.idleSince)
	if pc.idleTimer != nil {
		pc.idleTimer.Stop()
	}
	if idleTimeout > 0 && idleFor >= idleTimeout {
		info := pc.markDeadLocked()
		pc.mu.Unlock()
		go pc.closeDead(info, ByGateway, ReasonIdleTimeout) // the caller holds pool.mu
		return 0, false
	}
	pc.busy = true
	pc.info.Requests++
	pc.mu.Unlock()
	return idleFor, true
}

// idleExpired closes pc when it is idle and has been for its idle limit
// (a firing left over from an earlier idle period finds it busy or idle for
// less, and does nothing). It marks pc dead under the lock take uses, so a
// request that takes pc in the same instant either gets it first (and the
// timer does nothing) or finds it dead; never a connection closed under it.
func (pc *persistConn) idleExpired() {
	pc.mu.Lock()
	if pc.dead || pc.busy || pc.idleLimit <= 0 || time.Since(pc.idleSince) < pc.idleLimit {
		pc.mu.Unlock()
		return
	}
	info := pc.markDeadLocked()
	pc.mu.Unlock()
	pc.pool.removeIdle(pc)
	pc.closeDead(info, ByGateway, ReasonIdleTimeout)
}

// write sends req. While it runs, a final response from the backend
// (status 300 or more: it refuses the rest of the body) stops it: the
// reader expires the write deadline. early reports that the backend
// answered before the request was written to its end; the connection is
// then out of step and is not reused.
func (pc *persistConn) write(req *http.Request) (err error, early bool) {
	pc.wmu.Lock()
	pc.writing = true
	pc.wmu.Unlock()
	bw := writeBuffers.Get().(*bufio.Writer)
	bw.Reset(pc.w)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	writeBuffers.Put(bw)
	pc.wmu.Lock()
	pc.writing = false
	early = pc.answeredEarly
	pc.answeredEarly = false
	pc.wmu.Unlock()
	return err, early
}

// answerArrived is called by the reader when a response head arrived: if
// the request is still being written and the backend refuses it, the
// write stops.
func (pc *persistConn) answerArrived(status int) {
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	if pc.writing && status >= 300 {
		pc.answeredEarly = true
		_ = pc.conn.SetWriteDeadline(aLongTimeAgo)
	}
}

// kill closes the connection once and reports who closed it and why.
func (pc *persistConn) kill(by Initiator, reason string) {
	pc.mu.Lock()
	if pc.dead {
		pc.mu.Unlock()
		return
	}
	info := pc.markDeadLocked()
	pc.mu.Unlock()
	pc.closeDead(info, by, reason)
}

// markDeadLocked marks pc dead so no exchange can take it; pc.mu is held.
func (pc *persistConn) markDeadLocked() ConnInfo {
	pc.dead = true
	if pc.idleTimer != nil {
		pc.idleTimer.Stop()
	}
	return pc.info
}

// closeDead closes a connection marked dead and reports it.
func (pc *persistConn) closeDead(info ConnInfo, by Initiator, reason string) {
	_ = pc.conn.Close()
	pc.pool.release(pc.addr)
	if hk := pc.pool.cfg.Trace.Closed; hk != nil {
		hk(info, by, reason)
	}
}

// finish ends an exchange: back to the pool when reusable, else closed.
//
// A connection with any byte pending after a complete response (a second,
// unsolicited response in the same write, a body on a 204) is not
// reusable: those bytes would be read as the next request's response.
func (pc *persistConn) finish(err error, reusable bool) {
	stray := pc.br.Buffered() > 0
	if err == nil && reusable && !stray && pc.pool.putIdle(pc) {
		pc.next <- struct{}{}
		return
	}
	reason := ReasonNotReusable
	switch {
	case err != nil:
		reason = ReasonRequestFailed
	case stray:
		reason = ReasonUnsolicited
	}
	pc.kill(ByGateway, reason)
	pc.next <- struct{}{}
}

func (pc *persistConn) readLoop() {
	for {
		_, perr := pc.br.Peek(1)
		pc.mu.Lock()
		if !pc.busy {
			// Idle: the peer closed or misbehaved. Marking it dead under
			// the lock that take uses means no exchange can take it now.
			if pc.dead {
				pc.mu.Unlock()
				return
			}
			info := pc.markDeadLocked()
			pc.mu.Unlock()
			pc.pool.removeIdle(pc)
			switch {
			case perr == nil:
				pc.closeDead(info, ByBackend, ReasonUnsolicited)
			case errors.Is(perr, net.ErrClosed) || errors.Is(perr, os.ErrDeadlineExceeded):
				pc.closeDead(info, ByGateway, ReasonShutdown)
			default:
				pc.closeDead(info, ByBackend, ReasonPeerClosed)
			}
			return
		}
		pc.mu.Unlock()
		rr := <-pc.reqc
		if perr != nil {
			pc.kill(ByGateway, ReasonRequestFailed)
			rr.res <- readResult{err: peerErr(perr)}
			return
		}
		resp, err := readResponse(pc.br, rr.req)
		if err != nil {
			pc.kill(ByGateway, ReasonRequestFailed)
			rr.res <- readResult{started: true, err: err}
			return
		}
		pc.answerArrived(resp.StatusCode)
		rr.res <- readResult{resp: resp, started: true}
		<-pc.next
		pc.mu.Lock()
		dead := pc.dead
		pc.mu.Unlock()
		if dead {
			// next is buffered: before this reader got it, the connection
			// may have gone back to the pool, been taken by an exchange
			// that handed over its request and then killed it (its write
			// failed). That exchange waits for an answer.
			select {
			case rr := <-pc.reqc:
				rr.res <- readResult{err: fmt.Errorf("connection closed before the response: %w", net.ErrClosed)}
			default:
			}
			return
		}
	}
}

// peerErr turns a bare EOF at the start of a response into
// io.ErrUnexpectedEOF wrapped with what it means, keeping errors.Is(io.EOF).
func peerErr(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("connection closed by backend before any response byte: %w", err)
	}
	return err
}

// readResponse reads the response to req, skipping 1xx interim responses
// other than 101.
//
// A status below 100, a 101 to a request that asked for no upgrade, or more
// than maxInterim interim responses is a malformed response.
func readResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	for range maxInterim + 1 {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode < 100:
			return nil, fmt.Errorf("malformed HTTP status code %d", resp.StatusCode)
		case resp.StatusCode == http.StatusSwitchingProtocols && req.Header.Get("Upgrade") == "":
			return nil, errors.New("malformed response: 101 Switching Protocols to a request without Upgrade")
		case resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols:
			return resp, nil
		}
	}
	return nil, fmt.Errorf("malformed response: more than %d interim (1xx) responses", maxInterim)
}

// maxInterim bounds the 1xx responses read before a final one.
const maxInterim = 10

// pooledBody returns the connection to the pool when read to EOF and closes
// it when abandoned early or on a read error.
type pooledBody struct {
	rc       io.ReadCloser
	pc       *persistConn
	stop     func() bool     // stops the cancellation hook; false if it fired
	reusable bool            // the response allows keep-alive
	report   func(err error) // emits the end of the exchange; nil = events off
	once     sync.Once
	mu       sync.Mutex
}

func (b *pooledBody) done(err error, eof bool) {
	b.once.Do(func() {
		stopped := b.stop()
		if b.report != nil {
			b.report(err)
		}
		b.pc.finish(err, eof && stopped && b.reusable)
	})
}

func (b *pooledBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.done(nil, true)
	} else if err != nil {
		b.done(err, false)
	}
	return n, err
}

func (b *pooledBody) Close() error {
	b.done(errBodyClosedEarly, false)
	return nil
}

// errBodyClosedEarly ends an exchange whose body was closed before EOF.
var errBodyClosedEarly = errors.New("body closed before EOF")

// bodyRecorder remembers whether reading a request body failed, so a
// failed write can be told apart: the body's source (a client) or the
// connection.
type bodyRecorder struct {
	rc  io.ReadCloser
	mu  sync.Mutex
	err error
}

func (b *bodyRecorder) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
	}
	return n, err
}

func (b *bodyRecorder) Close() error { return b.rc.Close() }

func (b *bodyRecorder) failed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err != nil
}
