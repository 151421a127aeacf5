package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// The gateway's client side is its own HTTP/1.1 connection loop, not
// net/http.Server, for the same reason the backend has one: what the client
// receives must be exactly what the gateway decided and logged. With
// net/http a handler that returns without writing sends an implicit 200,
// a response head cut short by a broken backend body may never leave its
// buffer, requests the server rejects itself never reach the access log,
// and a request body that stalls is never timed out. Here every answer,
// the gateway's own included, goes through one writer and one log line.

// maxHeaderBytes bounds a request's line and headers (net/http's default).
const maxHeaderBytes = 1 << 20

var (
	// errClientGone cancels an exchange whose client closed its connection.
	errClientGone = errors.New("client closed the connection")
	// errShutdown cancels the exchanges still running when the shutdown
	// grace ends.
	errShutdown = errors.New("gateway shutting down")
	// errHeadTooLarge ends a request head longer than maxHeaderBytes.
	errHeadTooLarge = errors.New("request head larger than 1 MiB")
	// aLongTimeAgo is a deadline in the past: it unblocks I/O at once.
	aLongTimeAgo = time.Unix(1, 0)
)

// front is the gateway's client side: its connections, for shutdown.
type front struct {
	g       *Gateway
	hard    context.Context // ends when the shutdown grace has passed
	closing atomic.Bool     // shutdown started: no new requests
	nextID  atomic.Uint64

	mu    sync.Mutex
	conns map[*frontConn]struct{}
	wg    sync.WaitGroup
}

// Serve accepts clients on ln until ctx ends, then shuts down: it stops
// accepting, closes idle client connections, lets the requests in flight
// finish within Config.ShutdownGrace, answers those still running then
// (503, cause gateway-shutdown, when nothing was sent yet) and closes the
// backend pool.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	hard, cutExchanges := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cutExchanges(nil)
	f := &front{g: g, hard: hard, conns: map[*frontConn]struct{}{}}
	g.emitConfig(ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- f.accept(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		_ = ln.Close()
		<-errc
	}
	f.shutdown(cutExchanges)
	g.pool.Close()
	if err != nil {
		return err
	}
	return nil
}

// accept runs the accept loop until ln is closed.
func (f *front) accept(ln net.Listener) error {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if isTemporaryAcceptError(err) {
				// Out of file descriptors or an aborted handshake: back
				// off as net/http does rather than spin or give up.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				f.g.log.Warn("accept failed; retrying", zap.Error(err), zap.Duration("retry_in", delay))
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		fc := f.register(c)
		if fc == nil {
			_ = c.Close()
			continue
		}
		go fc.serve()
	}
}

func isTemporaryAcceptError(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOBUFS) ||
		errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EINTR)
}

// register adds a client connection; nil when the gateway is shutting down.
func (f *front) register(c net.Conn) *frontConn {
	fc := &frontConn{f: f, c: c, id: f.nextID.Add(1), remote: c.RemoteAddr().String(), local: c.LocalAddr().String()}
	fc.lr = headLimitReader{c: c, remain: -1}
	fc.br = bufio.NewReader(&fc.lr)
	fc.bw = bufio.NewWriter(sendDeadline{fc})
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing.Load() {
		return nil
	}
	f.conns[fc] = struct{}{}
	f.wg.Add(1)
	return fc
}

func (f *front) unregister(fc *frontConn) {
	f.mu.Lock()
	delete(f.conns, fc)
	f.mu.Unlock()
	f.wg.Done()
}

// shutdown closes idle connections, waits up to the grace for the others,
// then cuts the exchanges still running (they answer at once) and, if
// any connection still lingers, closes it.
func (f *front) shutdown(cutExchanges context.CancelCauseFunc) {
	f.closing.Store(true)
	f.each(func(fc *frontConn) {
		fc.mu.Lock()
		if fc.idle {
			_ = fc.c.SetReadDeadline(aLongTimeAgo)
		}
		fc.mu.Unlock()
	})
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	grace := time.NewTimer(f.g.cfg.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
		return
	case <-grace.C:
	}
	cutExchanges(errShutdown)
	f.each(func(fc *frontConn) {
		_ = fc.c.SetReadDeadline(aLongTimeAgo)
		_ = fc.c.SetWriteDeadline(time.Now().Add(time.Second)) // room to answer, bounded
	})
	last := time.NewTimer(2 * time.Second)
	defer last.Stop()
	select {
	case <-done:
	case <-last.C:
		f.each(func(fc *frontConn) { _ = fc.c.Close() })
		<-done
	}
}

func (f *front) each(fn func(*frontConn)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for fc := range f.conns {
		fn(fc)
	}
}

// headLimitReader is the reader under a client connection's bufio.Reader:
// while remain >= 0 (a request head is being read) it allows that many more
// bytes, and it keeps a copy of them in tee so the raw head can be checked
// for what net/http's parser removes (a Content-Length beside
// Transfer-Encoding).
type headLimitReader struct {
	c      net.Conn
	remain int64 // -1 = no limit
	tee    []byte
}

func (r *headLimitReader) Read(p []byte) (int, error) {
	if r.remain == 0 {
		return 0, errHeadTooLarge
	}
	if r.remain > 0 && int64(len(p)) > r.remain {
		p = p[:r.remain]
	}
	n, err := r.c.Read(p)
	if r.remain > 0 {
		r.remain -= int64(n)
		r.tee = append(r.tee, p[:n]...)
	}
	return n, err
}

// sendDeadline is the writer under a client connection's bufio.Writer: each
// write must complete within the client request time-out, so a client that
// stops reading its answer cannot hold the gateway forever (nginx's
// send_timeout, 60 s, works the same way).
type sendDeadline struct{ fc *frontConn }

func (w sendDeadline) Write(p []byte) (int, error) {
	if d := w.fc.f.g.prof().ClientRequestTimeout; d > 0 {
		_ = w.fc.c.SetWriteDeadline(time.Now().Add(d))
	}
	return w.fc.c.Write(p)
}

// frontConn is one client connection.
type frontConn struct {
	f        *front
	c        net.Conn
	lr       headLimitReader
	br       *bufio.Reader
	bw       *bufio.Writer
	id       uint64
	remote   string
	local    string
	requests int
	// headBytes is the size of the current request's head as read (request
	// line, header fields, blank line): with the body bytes read, the
	// access log's receivedBytes.
	headBytes int64

	mu   sync.Mutex
	idle bool // waiting for the next request (shutdown closes it at once)

	linger bool // the client may still be sending: close the lingering way
	// curReq and curX are the request being answered and its log entry
	// (curReq nil when the head did not parse); logExchange writes it.
	curReq *http.Request
	curX   *exchangeLog
	gone   atomic.Bool // the watch saw the client close or reset

	watchMu     sync.Mutex
	watchArmed  bool                    // an exchange wants its client watched
	watchCancel context.CancelCauseFunc // cancels that exchange
	watchTimer  *time.Timer             // starts the watch after watchDelay
	watching    chan struct{}           // closed when the running watch ends; nil = none
}

// serve runs the connection's requests one after another (pipelined
// requests wait in the read buffer) until one of the sides closes.
func (fc *frontConn) serve() {
	g := fc.f.g
	by, reason := ByGateway, "after-exchange"
	idleSince := time.Now()
	t := g.cfg.Trace
	if t != nil && t.ClientOpened != nil {
		t.ClientOpened(ClientConn{ID: fc.id, Local: fc.local, Remote: fc.remote})
	}
	defer func() {
		if fc.linger {
			fc.lingeringClose()
		}
		_ = fc.c.Close()
		if t != nil && t.ClientClosed != nil {
			t.ClientClosed(ClientConn{ID: fc.id, Local: fc.local, Remote: fc.remote, Requests: fc.requests}, by, reason, time.Since(idleSince))
		}
		fc.f.unregister(fc)
	}()
	for {
		idleSince = time.Now()
		switch waitErr := fc.waitRequest(); {
		case waitErr == nil:
		case errors.Is(waitErr, os.ErrDeadlineExceeded) && fc.f.closing.Load():
			reason = ReasonShutdown
			return
		case errors.Is(waitErr, os.ErrDeadlineExceeded):
			reason = ReasonIdleTimeout
			return
		default:
			by, reason = ByClient, ReasonPeerClosed
			return
		}
		if !fc.request() {
			return
		}
	}
}

// waitRequest waits for the first byte of the next request, for the client
// keep-alive (or, when keep-alive is off, the client request time-out).
func (fc *frontConn) waitRequest() error {
	p := fc.f.g.cfg.Profile
	wait := p.ClientKeepAlive
	if wait <= 0 {
		wait = fc.f.g.prof().ClientRequestTimeout
	}
	fc.mu.Lock()
	fc.idle = true
	if fc.f.closing.Load() {
		fc.mu.Unlock()
		return os.ErrDeadlineExceeded
	}
	if fc.br.Buffered() == 0 {
		var d time.Time
		if wait > 0 {
			d = time.Now().Add(wait)
		}
		_ = fc.c.SetReadDeadline(d)
	}
	fc.mu.Unlock()
	_, err := fc.br.Peek(1)
	fc.mu.Lock()
	fc.idle = false
	fc.mu.Unlock()
	return err
}

// request reads one request and answers it; false when the connection
// must close.
func (fc *frontConn) request() bool {
	g := fc.f.g
	prof := g.prof()
	start := time.Now()
	if d := prof.ClientRequestTimeout; d > 0 {
		_ = fc.c.SetReadDeadline(start.Add(d))
	} else {
		_ = fc.c.SetReadDeadline(time.Time{})
	}
	// The head's bytes: those already buffered, then those read while
	// parsing (headLimitReader.tee).
	buffered, _ := fc.br.Peek(fc.br.Buffered())
	fc.lr.tee = append(fc.lr.tee[:0], buffered...)
	fc.lr.remain = maxHeaderBytes + 4096
	req, err := http.ReadRequest(fc.br)
	fc.lr.remain = -1
	// The head's size on the wire: what the parse took from the buffered
	// bytes and the connection (the tee), less what it left buffered.
	fc.headBytes = int64(len(fc.lr.tee) - fc.br.Buffered())
	fc.requests++
	if err != nil {
		fc.reject(start, nil, err)
		return false
	}
	f, bad := checkRequest(req, fc.lr.tee)
	if cap(fc.lr.tee) > 64<<10 {
		fc.lr.tee = nil // a large head's copy is not kept for the connection's life
	}
	if bad {
		fc.answerClientError(start, req, f)
		return false
	}
	return fc.exchange(req, start)
}

// checkRequest applies RFC 9112's rules net/http's parser leaves to the
// server: an HTTP/1.x version, a Host header in 1.1, and no Content-Length
// beside Transfer-Encoding (request smuggling: answered and closed).
func checkRequest(req *http.Request, head []byte) (Failure, bool) {
	switch {
	case req.ProtoMajor != 1:
		return Failure{Status: http.StatusHTTPVersionNotSupported, ErrorInfo: ErrorInfoInvalidVersion, Cause: CauseClientBadRequest}, true
	case req.ProtoAtLeast(1, 1) && !headHasField(head, "host"):
		return Failure{Status: http.StatusBadRequest, ErrorInfo: ErrorInfoNoHostHeader, Cause: CauseClientBadRequest}, true
	case req.TransferEncoding != nil && headHasField(head, "content-length"):
		return Failure{Status: http.StatusBadRequest, ErrorInfo: ErrorInfoInvalidContentLength, Cause: CauseClientBadRequest}, true
	}
	return Failure{}, false
}

// headHasField reports whether the raw request head (up to its blank line)
// has a header field named name (lower case).
func headHasField(head []byte, name string) bool {
	if end := bytes.Index(head, []byte("\r\n\r\n")); end >= 0 {
		head = head[:end]
	} else if end := bytes.Index(head, []byte("\n\n")); end >= 0 {
		head = head[:end]
	}
	for len(head) > 0 {
		i := bytes.IndexByte(head, '\n')
		var line []byte
		if i < 0 {
			line, head = head, nil
		} else {
			line, head = head[:i], head[i+1:]
		}
		if len(line) > len(name) && line[len(name)] == ':' && bytes.EqualFold(line[:len(name)], []byte(name)) {
			return true
		}
	}
	return false
}

// reject answers a request whose head could not be read: 408 when the
// client stalled, 431 when the head is too large, 400 when it does not
// parse; nothing (logged as client-closed) when the client closed or reset
// the connection in the middle of the head.
func (fc *frontConn) reject(start time.Time, req *http.Request, err error) {
	prof := fc.f.g.prof()
	var f Failure
	switch {
	case errors.Is(err, errHeadTooLarge):
		f = Failure{Status: http.StatusRequestHeaderFieldsTooLarge, ErrorInfo: ErrorInfoInvalidRequest, Cause: CauseClientBadRequest}
	case errors.Is(err, os.ErrDeadlineExceeded) && fc.f.closing.Load():
		return // shutdown cut a request head: nothing to answer
	case errors.Is(err, os.ErrDeadlineExceeded):
		f = Failure{Status: http.StatusRequestTimeout, ErrorInfo: ErrorInfoInvalidRequest, Cause: CauseClientTimeout}
	case isConnClosed(err):
		f = Failure{Status: prof.ClientClosedStatus, ErrorInfo: ErrorInfoClientClosed, Cause: CauseClientClosed}
	default:
		f = Failure{Status: http.StatusBadRequest, ErrorInfo: ErrorInfoInvalidRequest, Cause: CauseClientBadRequest}
	}
	fc.answerClientError(start, req, f)
}

// lingeringClose closes the sending side, then reads and drops what the
// client still sends for a short while before the close: closing a socket
// with unread input resets it, and the reset can destroy the answer the
// client has not read yet (Apache's lingering close; net/http's
// closeWriteAndWait).
func (fc *frontConn) lingeringClose() {
	_ = fc.bw.Flush()
	tc, ok := fc.c.(interface{ CloseWrite() error })
	if !ok || tc.CloseWrite() != nil {
		return
	}
	_ = fc.c.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, fc.c, lingerBytes)
}

// lingerTime and lingerBytes bound a lingering close.
const (
	lingerTime  = time.Second
	lingerBytes = 1 << 20
)

// answerClientError answers (unless the client is gone) and logs a request
// the gateway refuses itself; the connection then closes.
func (fc *frontConn) answerClientError(start time.Time, req *http.Request, f Failure) {
	x := &exchangeLog{start: start, failure: f, status: f.Status}
	if req != nil {
		x.uri = req.RequestURI
		x.headBytes = fc.headBytes
	}
	fc.curReq, fc.curX = req, x
	defer fc.logExchange()
	if f.Cause != CauseClientClosed {
		x.sent = fc.writeGatewayAnswer(f, false, req != nil && req.Method == http.MethodHead)
		fc.linger = true
	}
}

// logExchange logs and counts the current exchange, once. The answer's
// writers call it just before their last flush, so that whoever has the
// whole answer also finds it counted and logged (as net/http's handlers
// finished before their buffered answer went out).
func (fc *frontConn) logExchange() {
	if fc.curX == nil {
		return
	}
	fc.f.g.finish(fc, fc.curReq, fc.curX)
	fc.curReq, fc.curX = nil, nil
}

// writeGatewayAnswer writes the gateway's own response for f (a short text
// body) and flushes; it returns the bytes sent.
func (fc *frontConn) writeGatewayAnswer(f Failure, keepAlive, head bool) int64 {
	msg := gatewayAnswerBody(f)
	w := &countWriter{w: fc.bw}
	writeStatusLine(w, f.Status, "")
	_, _ = io.WriteString(w, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: ")
	_, _ = io.WriteString(w, strconv.Itoa(len(msg)))
	if keepAlive {
		_, _ = io.WriteString(w, "\r\n\r\n")
	} else {
		_, _ = io.WriteString(w, "\r\nConnection: close\r\n\r\n")
	}
	if !head {
		_, _ = io.WriteString(w, msg)
	}
	if fc.curX != nil {
		fc.curX.sent = w.n
	}
	fc.logExchange()
	if err := fc.bw.Flush(); err != nil {
		return 0
	}
	return w.n
}

func gatewayAnswerBody(f Failure) string {
	text := http.StatusText(f.Status)
	if f.Status >= 500 {
		return strconv.Itoa(f.Status) + " " + text + " - the gateway got no valid response from the backend (" + f.ErrorInfo + ")\n"
	}
	return strconv.Itoa(f.Status) + " " + text + " (" + f.ErrorInfo + ")\n"
}

// writeStatusLine writes "HTTP/1.1 <code> <reason>\r\n"; reason "" = the
// standard text.
func writeStatusLine(w io.Writer, code int, reason string) {
	if reason == "" {
		reason = http.StatusText(code)
	}
	_, _ = io.WriteString(w, "HTTP/1.1 ")
	_, _ = io.WriteString(w, strconv.Itoa(code))
	_, _ = io.WriteString(w, " ")
	_, _ = io.WriteString(w, reason)
	_, _ = io.WriteString(w, "\r\n")
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countWriter) WriteString(s string) (int, error) {
	n, err := io.WriteString(c.w, s)
	c.n += int64(n)
	return n, err
}

// watchClient arranges to notice, while an exchange runs, that the client
// closed or reset its connection, and then to cancel the exchange (cause
// client-closed). The watch starts watchDelay after this call, so the
// common quick exchange costs a timer, not a goroutine and a read. It reads
// into the connection's buffer, so a pipelined next request is kept. It is
// called once the request body has been read to its end, and does nothing
// when a pipelined request is already buffered (nothing to learn then).
func (fc *frontConn) watchClient(cancel context.CancelCauseFunc) {
	if fc.br.Buffered() > 0 {
		return
	}
	fc.watchMu.Lock()
	defer fc.watchMu.Unlock()
	fc.watchArmed, fc.watchCancel = true, cancel
	if fc.watchTimer == nil {
		fc.watchTimer = time.AfterFunc(watchDelay, fc.watch)
	} else {
		fc.watchTimer.Reset(watchDelay)
	}
}

// watchDelay is how long an exchange runs before the gateway starts
// watching its client for a close.
const watchDelay = time.Millisecond

// watch runs on the watch timer's goroutine: it blocks until the client
// sends or closes, or stopWatching expires the read deadline.
func (fc *frontConn) watch() {
	fc.watchMu.Lock()
	if !fc.watchArmed || fc.watching != nil {
		// Not wanted, or already running: a timer that fired for an
		// earlier exchange can arrive after the next one re-armed it.
		fc.watchMu.Unlock()
		return
	}
	_ = fc.c.SetReadDeadline(time.Time{})
	done := make(chan struct{})
	fc.watching = done
	cancel := fc.watchCancel
	fc.watchMu.Unlock()
	defer close(done)
	if _, err := fc.br.Peek(1); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		fc.gone.Store(true)
		cancel(errClientGone)
	}
}

// stopWatching stops the client watch and waits for it to end.
func (fc *frontConn) stopWatching() {
	fc.watchMu.Lock()
	fc.watchArmed, fc.watchCancel = false, nil
	if fc.watchTimer != nil {
		fc.watchTimer.Stop()
	}
	w := fc.watching
	fc.watching = nil
	if w != nil {
		_ = fc.c.SetReadDeadline(aLongTimeAgo)
	}
	fc.watchMu.Unlock()
	if w != nil {
		<-w
	}
}

// clientBody is a client request body as the backend pool reads it. It
// sends 100 Continue on the first read when the client asked for it, gives
// each read the client request time-out, remembers the first error (the
// client's, never the backend's) and never drains on Close: a body not read
// to its end closes the client connection instead.
type clientBody struct {
	fc      *frontConn
	rc      io.ReadCloser
	timeout time.Duration
	expect  bool // send 100 Continue before the first read
	onEOF   func()
	replay  *[]byte // the buffer the body was read into for replay, from replayBuffers
	n       int64
	eof     bool
	err     error // the client's error, a *clientBodyError
	mu      sync.Mutex
}

// clientBodyError is an error of the client's request body: a time-out,
// a close, a framing error. It is the client's, never the backend's.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "read client body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }
func (e *clientBodyError) failure(p Profile) Failure {
	switch {
	case errors.Is(e.err, os.ErrDeadlineExceeded):
		return Failure{Status: http.StatusRequestTimeout, ErrorInfo: ErrorInfoInvalidRequest, Cause: CauseClientTimeout}
	case errors.Is(e.err, io.ErrUnexpectedEOF) || isConnClosed(e.err):
		return Failure{Status: p.ClientClosedStatus, ErrorInfo: ErrorInfoClientClosed, Cause: CauseClientClosed}
	}
	return Failure{Status: http.StatusBadRequest, ErrorInfo: ErrorInfoInvalidRequest, Cause: CauseClientBadRequest}
}

func (b *clientBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eof {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.expect {
		b.expect = false
		if _, err := b.fc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n"); err == nil {
			if err := b.fc.bw.Flush(); err != nil {
				b.err = &clientBodyError{err}
				return 0, b.err
			}
		}
	}
	if b.timeout > 0 {
		_ = b.fc.c.SetReadDeadline(time.Now().Add(b.timeout))
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	switch {
	case err == io.EOF:
		b.eof = true
		if b.onEOF != nil {
			b.onEOF()
		}
	case err != nil:
		b.err = &clientBodyError{err}
		return n, b.err
	}
	return n, err
}

// Close marks the body abandoned; it never drains the client.
func (b *clientBody) Close() error { return nil }

// done reports whether the body was read to its end.
func (b *clientBody) done() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eof
}

// clientErr is the client's body error, if any.
func (b *clientBody) clientErr() *clientBodyError {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ce *clientBodyError
	if errors.As(b.err, &ce) {
		return ce
	}
	return nil
}
