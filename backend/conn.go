package backend

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
)

// maxHeaderBytes bounds a request's line and headers; more is a bad request.
const maxHeaderBytes = 64 << 10

// conn is one accepted connection, served by one goroutine.
type conn struct {
	s        *Server
	id       uint64
	nc       net.Conn
	lr       *limitedReader
	br       *bufio.Reader
	bw       *bufio.Writer
	remote   string
	local    string
	accepted time.Time
	// lastWrite is when the last response write returned; zero before the
	// first response.
	lastWrite time.Time
	served    int // responses written
	// closedAt is when the FIN or RST left (the CloseWrite of a lingering
	// close); deadline is the keep-alive deadline of an idle close.
	closedAt time.Time
	deadline time.Time
	hdr      []byte // scratch buffer for response headers
	scratch  []byte // scratch buffer for discarding request bodies
}

// serveConn serves nc until it is closed; it always closes nc.
func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	c := &conn{
		s:        s,
		id:       s.nextID.Add(1),
		nc:       nc,
		remote:   nc.RemoteAddr().String(),
		local:    nc.LocalAddr().String(),
		accepted: time.Now(),
	}
	c.lr = &limitedReader{r: nc}
	c.br = bufio.NewReader(c.lr)
	c.bw = bufio.NewWriter(nc)
	s.update(func(st *Stats) { st.Connections++ })
	if t := c.s.trace; t != nil && t.ConnOpened != nil {
		t.ConnOpened(c.ref(c.accepted))
	}
	s.m.connections.Inc()
	s.m.open.Inc()
	defer s.m.open.Dec()

	for c.awaitRequest(ctx) && c.handleRequest(ctx) {
	}
}

// idleDeadline is when the wait for the next request's first byte ends;
// zero = never.
func (c *conn) idleDeadline() time.Time {
	cfg := &c.s.now().cfg
	switch {
	case cfg.IdleForever:
		return time.Time{}
	case cfg.KeepAliveTimeout > 0:
		from := c.lastWrite
		if from.IsZero() {
			from = c.accepted // first request: as Apache
		}
		return nextTick(from.Add(cfg.KeepAliveTimeout), c.s.start(), cfg.Tick)
	default: // keep-alive off: only a first request is ever awaited
		return c.accepted.Add(cfg.ReadHeaderTimeout)
	}
}

// nextTick is the first tick at or after t, ticks falling every tick since
// start; t itself when tick is 0.
func nextTick(t, start time.Time, tick time.Duration) time.Time {
	if tick <= 0 {
		return t
	}
	since := t.Sub(start)
	if since <= 0 {
		return start
	}
	n := (since + tick - 1) / tick
	return start.Add(n * tick)
}

// awaitRequest waits for the first byte of the next request. It reports
// false when the connection was closed (idle timeout, race trap, peer,
// shutdown).
func (c *conn) awaitRequest(ctx context.Context) bool {
	deadline := c.idleDeadline()
	if err := c.nc.SetReadDeadline(deadline); err != nil {
		c.closeQuiet(ctx)
		return false
	}
	_, err := c.br.Peek(1)
	if err == nil {
		return true
	}
	if !isTimeout(err) || ctx.Err() != nil {
		c.closeQuiet(ctx)
		return false
	}
	if !c.s.now().cfg.RaceTrap || !c.s.now().cfg.keepAlive() { // keep-alive off: a first-request timeout, no trap
		c.deadline = deadline
		at := c.closeStyled(c.s.now().cfg.Close)
		c.recordIdleClose(at.Sub(deadline), c.s.now().cfg.Close, CloseIdle)
		return false
	}

	// Race trap: keep the expired connection; close it the moment a
	// request arrives, without answering.
	lateness := time.Since(deadline)
	c.s.update(func(st *Stats) { st.TrapsArmed++ })
	c.deadline = deadline
	if t := c.s.trace; t != nil && t.TrapArmed != nil {
		t.TrapArmed(c.ref(time.Now()), TrapInfo{Deadline: deadline, Idle: c.idleFor()})
	}
	if c.s.onTrapArmed != nil {
		c.s.onTrapArmed()
	}
	if ce := c.s.log.Check(zap.DebugLevel, "backend race trap armed"); ce != nil {
		ce.Write(zap.Uint64("conn_id", c.id), zap.String("remote", c.remote),
			zap.Duration("idle_for", c.idleFor()), zap.Duration("lateness", lateness))
	}
	if err := c.nc.SetReadDeadline(time.Time{}); err != nil {
		c.closeQuiet(ctx)
		return false
	}
	if _, err := c.br.Peek(1); err != nil {
		c.closeQuiet(ctx)
		return false
	}
	c.closeStyled(c.s.now().cfg.Close)
	c.recordIdleClose(lateness, StyleTrap, CloseTrap)
	return false
}

// handleRequest reads one request (its first byte is buffered), answers
// it and reports whether the connection stays open.
func (c *conn) handleRequest(ctx context.Context) bool {
	cfg := &c.s.now().cfg
	arrival := time.Now()
	if t := c.s.trace; t != nil && t.RequestReceived != nil {
		t.RequestReceived(c.ref(arrival), RequestInfo{Idle: arrival.Sub(c.idleSince()), Requests: c.served + 1})
	}
	if c.s.onRequest != nil {
		c.s.onRequest()
	}
	if f, ok := c.s.faultAt(arrival); ok {
		c.fault(ctx, f)
		return false
	}

	if err := c.nc.SetReadDeadline(arrival.Add(cfg.ReadHeaderTimeout)); err != nil {
		c.closeQuiet(ctx)
		return false
	}
	c.lr.limit(maxHeaderBytes)
	req, err := http.ReadRequest(c.br)
	hitLimit := c.lr.unlimit()
	if err == nil {
		err = c.nc.SetReadDeadline(time.Time{})
	}
	switch {
	case err == nil:
	case hitLimit:
		c.badRequest(ctx, http.StatusBadRequest, "request header too large")
		return false
	case ctx.Err() != nil || isPeerGone(err):
		c.closeQuiet(ctx)
		return false
	case isTimeout(err):
		c.badRequest(ctx, http.StatusRequestTimeout, "request header timeout")
		return false
	default:
		c.badRequest(ctx, http.StatusBadRequest, "malformed request")
		return false
	}
	if req.ProtoMajor != 1 {
		c.badRequest(ctx, http.StatusBadRequest, "unsupported protocol version")
		return false
	}

	if req.Body != http.NoBody && strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
		_, err := c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if err == nil {
			err = c.bw.Flush()
		}
		if err != nil { // the client is gone: do not read its body or answer
			c.closeQuiet(ctx)
			return false
		}
	}
	if err := c.discardBody(req.Body); err != nil {
		switch {
		case ctx.Err() != nil || isPeerGone(err):
			c.closeQuiet(ctx)
		case isTimeout(err):
			c.badRequest(ctx, http.StatusRequestTimeout, "request body stalled")
		default:
			c.badRequest(ctx, http.StatusBadRequest, "malformed body")
		}
		return false
	}
	c.s.update(func(st *Stats) { st.Requests++ })

	var closeReason CloseReason
	switch {
	case !cfg.keepAlive():
		closeReason = CloseKeepAliveOff
	case cfg.MaxKeepAliveRequests > 0 && c.served+1 >= cfg.MaxKeepAliveRequests:
		closeReason = CloseMaxRequests
	case req.Close: // `Connection: close`, or HTTP/1.0 without keep-alive
		closeReason = ClosePeer
	}

	if cfg.Delay > 0 && !sleepCtx(ctx, cfg.Delay) {
		c.closeQuiet(ctx)
		return false
	}
	if err := c.writeResponse(req, cfg.Status, closeReason != ""); err != nil {
		c.closeQuiet(ctx)
		return false
	}
	if closeReason == "" {
		return true
	}
	c.closeStyled(cfg.Close)
	c.logClose(closeReason, cfg.Close)
	c.s.m.closes.WithLabelValues(string(closeReason)).Inc()
	switch closeReason {
	case CloseKeepAliveOff:
		c.s.update(func(st *Stats) { st.KeepAliveOffCloses++ })
	case CloseMaxRequests:
		c.s.update(func(st *Stats) { st.MaxRequestCloses++ })
	}
	return false
}

// discardBody reads and discards body; each wait for body bytes is bounded
// by ReadHeaderTimeout.
func (c *conn) discardBody(body io.ReadCloser) error {
	if body == http.NoBody {
		return nil
	}
	defer body.Close()
	if c.scratch == nil {
		c.scratch = make([]byte, 8<<10)
	}
	for {
		if err := c.nc.SetReadDeadline(time.Now().Add(c.s.now().cfg.ReadHeaderTimeout)); err != nil {
			return err
		}
		_, err := body.Read(c.scratch)
		if errors.Is(err, io.EOF) {
			return c.nc.SetReadDeadline(time.Time{})
		}
		if err != nil {
			return err
		}
	}
}

// fault applies a fault window to the connection.
func (c *conn) fault(ctx context.Context, f Fault) {
	if f.Kind == FaultHang {
		end := c.s.start().Add(f.Start + f.Duration)
		if !sleepCtx(ctx, time.Until(end)) {
			c.closeQuiet(ctx)
			return
		}
	}
	c.closeStyled(CloseRST)
	c.logClose(CloseFault, CloseRST)
	c.s.m.closes.WithLabelValues(string(CloseFault)).Inc()
	c.s.update(func(st *Stats) { st.FaultCloses++ })
}

// badRequest answers status with `Connection: close` and closes.
func (c *conn) badRequest(ctx context.Context, status int, why string) {
	c.s.update(func(st *Stats) { st.BadRequests++ })
	if ce := c.s.log.Check(zap.DebugLevel, "backend bad request"); ce != nil {
		ce.Write(zap.Uint64("conn_id", c.id), zap.String("remote", c.remote), zap.String("why", why))
	}
	c.nc.SetReadDeadline(time.Time{})
	if err := c.writeResponse(nil, status, true); err != nil {
		c.closeQuiet(ctx)
		return
	}
	c.closeAfterError()
	c.logClose(CloseBadRequest, CloseFIN)
	c.s.m.closes.WithLabelValues(string(CloseBadRequest)).Inc()
}

// recordIdleClose counts a close by the keep-alive timer or the race trap.
func (c *conn) recordIdleClose(lateness time.Duration, style CloseStyle, reason CloseReason) {
	c.logClose(reason, style)
	c.s.m.idleCloses.WithLabelValues(string(style)).Inc()
	c.s.m.closes.WithLabelValues(string(reason)).Inc()
	c.s.update(func(st *Stats) {
		st.IdleCloses++
		if reason == CloseTrap {
			st.TrapCloses++
		}
		if len(st.IdleCloseLateness) < maxLatenessSamples {
			st.IdleCloseLateness = append(st.IdleCloseLateness, lateness)
		}
	})
}

// closeQuiet closes a connection the peer closed or reset, or on shutdown.
func (c *conn) closeQuiet(ctx context.Context) {
	c.nc.Close()
	c.closedAt = time.Now()
	reason := ClosePeer
	if ctx.Err() != nil {
		reason = CloseShutdown
	}
	c.logClose(reason, "none")
	c.s.m.closes.WithLabelValues(string(reason)).Inc()
}

func (c *conn) idleFor() time.Duration { return time.Since(c.idleSince()) }

// idleSince is when the connection last went idle: the end of the last
// response write, or the accept.
func (c *conn) idleSince() time.Time {
	if c.lastWrite.IsZero() {
		return c.accepted
	}
	return c.lastWrite
}

// ref names this connection at the moment at.
func (c *conn) ref(at time.Time) ConnRef {
	return ConnRef{At: at, ID: c.id, Local: c.local, Remote: c.remote}
}

func (c *conn) logClose(reason CloseReason, style CloseStyle) {
	if t := c.s.trace; t != nil && t.Closed != nil {
		initiator := ByBackend
		if reason == ClosePeer {
			initiator = ByPeer
		}
		at := c.closedAt
		if at.IsZero() {
			at = time.Now()
		}
		t.Closed(c.ref(at), CloseInfo{Initiator: initiator, Reason: reason, Style: style,
			Deadline: c.deadline, Idle: at.Sub(c.idleSince()), Requests: c.served})
	}
	if ce := c.s.log.Check(zap.DebugLevel, "backend close"); ce != nil {
		ce.Write(zap.Uint64("conn_id", c.id), zap.String("remote", c.remote),
			zap.Duration("idle_for", c.idleFor()), zap.String("reason", string(reason)),
			zap.String("style", string(style)), zap.Int("served", c.served))
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// isPeerGone reports an error caused by the peer closing or resetting the
// connection (or by our own close on shutdown), as opposed to bad input.
func isPeerGone(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

// limitedReader caps how many bytes may be read while a limit is set, so
// that a request's headers cannot grow without bound.
type limitedReader struct {
	r       io.Reader
	limited bool
	remain  int64
	hit     bool
}

var errHeaderTooLarge = errors.New("backend: request header too large")

func (l *limitedReader) limit(n int64) { l.limited, l.remain, l.hit = true, n, false }

// unlimit removes the limit and reports whether it was hit.
func (l *limitedReader) unlimit() bool {
	l.limited = false
	return l.hit
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if !l.limited {
		return l.r.Read(p)
	}
	if l.remain <= 0 {
		l.hit = true
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.remain {
		p = p[:l.remain]
	}
	n, err := l.r.Read(p)
	l.remain -= int64(n)
	return n, err
}
