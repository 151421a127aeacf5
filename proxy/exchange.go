package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// exchange forwards one client request to a backend member over the pool
// and answers the client: the backend's response, or the gateway's own
// status for a failure. It returns whether the client connection stays
// open for another request.
func (fc *frontConn) exchange(req *http.Request, start time.Time) bool {
	g := fc.f.g
	prof := g.prof()
	x := &exchangeLog{start: start, uri: req.RequestURI, headBytes: fc.headBytes, failure: Failure{ErrorInfo: ErrorInfoNone, Cause: CauseNone}}
	ctx, cancel := context.WithCancelCause(fc.f.hard)
	defer cancel(nil)
	defer fc.stopWatching()
	fc.curReq, fc.curX = req, x
	defer fc.logExchange()
	var body *clientBody
	defer func() {
		if body == nil {
			return
		}
		if !body.done() && !fc.gone.Load() {
			fc.linger = true // the rest of the body may still be on its way
		}
		if body.replay != nil {
			replayBuffers.Put(body.replay)
		}
	}()

	clientClose := req.Close
	if req.ContentLength != 0 {
		body = &clientBody{fc: fc, rc: req.Body, timeout: prof.ClientRequestTimeout, expect: expectsContinue(req),
			onEOF: func() { fc.watchClient(cancel) }}
		req.Body = body
	} else {
		req.Body = http.NoBody
		fc.watchClient(cancel)
	}
	// keepAlive says whether the client connection can carry another
	// request once this one is answered.
	keepAlive := func() bool {
		return !clientClose && g.cfg.Profile.ClientKeepAlive > 0 && !fc.f.closing.Load() &&
			(body == nil || body.done()) && !fc.gone.Load()
	}
	answer := func(f Failure) bool {
		x.failure, x.status = f, f.Status
		if f.Cause == CauseClientClosed {
			return false // nobody to answer
		}
		if prof.SilentCloseOnLaterRequest && fc.requests > 1 && (f.Cause == CauseKeepaliveRace || f.Cause == CauseBackendResetMidRequest) && closedBeforeResponse(x.rtErr) {
			// No answer: the client sees its keep-alive connection close,
			// as when a server closes an idle one, and may send again.
			x.status = 0
			fc.logExchange()
			return false
		}
		keep := keepAlive()
		x.sent = fc.writeGatewayAnswer(f, keep, req.Method == http.MethodHead)
		return keep
	}

	replay, replayable, err := g.replayableBody(req, body)
	if err != nil {
		x.received = int64(len(replay))
		var ce *clientBodyError
		if errors.As(err, &ce) {
			return answer(ce.failure(*prof))
		}
		return answer(classify(*prof, err, false, g.cfg.RaceWindow))
	}
	n := len(g.cfg.Backends)
	if n == 0 {
		return answer(classify(*prof, errNoLiveBackend, false, g.cfg.RaceWindow))
	}
	prepareOutgoing(req, fc.remote)
	idx := int(g.next.Add(1) - 1)
	fresh, triedOther := false, false
	for {
		x.member = g.cfg.Backends[idx%n]
		actx, acancel := context.WithTimeout(ctx, prof.RequestTimeout)
		out := outgoing(actx, req, x.member, replay, replayable)
		sent := time.Now()
		resp, ex, err := g.pool.roundTrip(out, fresh || prof.newConnFor(fc.requests))
		if err == nil {
			x.conn = ex.conn
			x.serverLatency = time.Since(sent)
			keep := fc.relay(ctx, req, resp, x, keepAlive())
			acancel()
			return keep
		}
		acancel()
		var rte *RoundTripError
		if errors.As(err, &rte) {
			x.conn, x.rtErr = rte.Conn, rte
		}
		// The client's own failure (a stalled, cut or malformed body) is
		// the client's, whatever it did to the backend exchange.
		if body != nil {
			if ce := body.clientErr(); ce != nil {
				return answer(ce.failure(*prof))
			}
		}
		switch context.Cause(ctx) {
		case errShutdown:
			return answer(Failure{Status: http.StatusServiceUnavailable, ErrorInfo: ErrorInfoGatewayShutdown, Cause: CauseGatewayShutdown})
		case errClientGone:
			return answer(classify(*prof, err, true, g.cfg.RaceWindow))
		}
		f := classify(*prof, err, false, g.cfg.RaceWindow)
		var again string
		switch {
		case f.Cause == CauseBackendTimeout && prof.TimeoutTriesOtherMember && !triedOther && n > 1 && replayable:
			triedOther, again = true, "timeout"
		case !fresh && replayable && prof.Retry.allows(out, rte):
			fresh, again = true, "policy" // a retry goes out on a new connection
		}
		if again != "" {
			idx++ // the next member
			x.retries++
			g.m.retries.WithLabelValues(again).Inc()
			g.stats.retries.Add(1)
			g.stats.recordRetried(f.Cause, rte, req.Method)
			continue
		}
		return answer(f)
	}
}

// closedBeforeResponse reports whether an attempt on an open backend
// connection failed before any response byte (the caller has the cause:
// the race, or a close mid-request; not a time-out). However the failure
// surfaced (EOF, a reset, a broken pipe, or the connection closed under a
// POST body still being written: net.ErrClosed), HAProxy sees a server
// connection that ended without a response.
func closedBeforeResponse(err *RoundTripError) bool {
	return err != nil && err.Op != "dial" && !err.ResponseStarted
}

// expectsContinue reports whether the client waits for 100 Continue
// before it sends its body.
func expectsContinue(req *http.Request) bool {
	return req.ProtoAtLeast(1, 1) && strings.EqualFold(req.Header.Get("Expect"), "100-continue")
}

// replayableBody buffers a small request body when a retry or a
// second-member attempt may need to send it again.
func (g *Gateway) replayableBody(r *http.Request, body *clientBody) ([]byte, bool, error) {
	if body == nil {
		return nil, true, nil
	}
	p := g.prof()
	mayReplay := p.Retry != RetryNone || p.TimeoutTriesOtherMember
	if !mayReplay || r.ContentLength < 0 || r.ContentLength > g.cfg.MaxReplayBody {
		return nil, false, nil
	}
	bp := replayBuffers.Get().(*[]byte)
	if int64(cap(*bp)) < r.ContentLength {
		*bp = make([]byte, r.ContentLength)
	}
	buf := (*bp)[:r.ContentLength]
	body.replay = bp // back to the pool when the exchange ends
	if n, err := io.ReadFull(body, buf); err != nil {
		return buf[:n], false, err
	}
	return buf, true, nil
}

// replayBuffers recycles the buffers of replayable request bodies.
var replayBuffers = sync.Pool{New: func() any { return new([]byte) }}

// prepareOutgoing turns the client's request into the one sent to the
// backend, in place: hop-by-hop headers removed, X-Forwarded-* added.
func prepareOutgoing(r *http.Request, remote string) {
	r.RequestURI = ""
	r.Close = false
	removeHopHeaders(r.Header)
	// One backing array for the added headers' values: one allocation, not
	// one per header.
	vals := make([]string, 4)
	add := func(i int, k, v string) {
		vals[i] = v
		r.Header[k] = vals[i : i+1 : i+1]
	}
	if _, ok := r.Header["User-Agent"]; !ok {
		add(0, "User-Agent", "") // no Go default
	}
	if _, _, err := net.SplitHostPort(remote); err == nil {
		if prior, ok := r.Header["X-Forwarded-For"]; ok {
			add(1, "X-Forwarded-For", strings.Join(append(prior, remote), ", "))
		} else {
			add(1, "X-Forwarded-For", remote)
		}
	}
	add(2, "X-Forwarded-Proto", "http")
	add(3, "X-Original-Host", r.Host)
}

// outgoing is one attempt's request to a member.
func outgoing(ctx context.Context, r *http.Request, member string, body []byte, replayable bool) *http.Request {
	out := r.WithContext(ctx)
	u := *r.URL
	u.Scheme, u.Host = "http", member
	out.URL = &u
	switch {
	case r.ContentLength == 0:
		out.Body = http.NoBody
	case replayable:
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
	}
	return out
}

// relay streams the backend's response to the client, head first. A
// backend body that breaks after the head went out leaves the client with
// the head and the bytes that came, then a close: the access log keeps the
// status that was sent and names the cause. It returns whether the client
// connection stays open.
func (fc *frontConn) relay(ctx context.Context, req *http.Request, resp *http.Response, x *exchangeLog, keep bool) bool {
	g := fc.f.g
	defer resp.Body.Close()
	removeHopHeaders(resp.Header)
	code := resp.StatusCode
	x.serverStatus, x.status = code, code
	noBody := req.Method == http.MethodHead || code/100 == 1 || code == http.StatusNoContent || code == http.StatusNotModified
	http11 := req.ProtoAtLeast(1, 1)
	chunked := false
	if !noBody {
		delete(resp.Header, "Content-Length")
		if resp.ContentLength < 0 {
			if http11 {
				chunked = true
			} else {
				keep = false // the body ends when the connection does
			}
		}
	}
	w := &countWriter{w: fc.bw}
	defer func() { x.sent = w.n }()
	reason := resp.Status
	if i := strings.IndexByte(reason, ' '); i >= 0 {
		reason = reason[i+1:]
	} else {
		reason = ""
	}
	writeStatusLine(w, code, reason)
	for k, vv := range resp.Header {
		for _, v := range vv {
			_, _ = w.WriteString(k)
			_, _ = w.WriteString(": ")
			_, _ = w.WriteString(v)
			_, _ = w.WriteString("\r\n")
		}
	}
	switch {
	case noBody:
	case chunked:
		_, _ = w.WriteString("Transfer-Encoding: chunked\r\n")
	case resp.ContentLength >= 0:
		_, _ = w.WriteString("Content-Length: ")
		_, _ = w.WriteString(strconv.FormatInt(resp.ContentLength, 10))
		_, _ = w.WriteString("\r\n")
	}
	switch {
	case !keep:
		_, _ = w.WriteString("Connection: close\r\n")
	case !http11:
		_, _ = w.WriteString("Connection: keep-alive\r\n")
	}
	_, _ = w.WriteString("\r\n")
	clientFailed := func(err error) bool {
		x.failure = classify(*g.prof(), err, true, g.cfg.RaceWindow)
		if errors.Is(err, os.ErrDeadlineExceeded) && context.Cause(ctx) != errShutdown {
			// The client stopped reading its answer (sendDeadline).
			x.failure = Failure{Status: x.status, ErrorInfo: ErrorInfoClientClosed, Cause: CauseClientTimeout}
		}
		return false
	}
	if noBody {
		x.sent = w.n
		fc.logExchange()
		if err := fc.bw.Flush(); err != nil {
			return clientFailed(err)
		}
		return keep
	}
	streaming := resp.ContentLength < 0
	bp := relayBuffers.Get().(*[]byte)
	defer relayBuffers.Put(bp)
	buf := *bp
	var sizeBuf [20]byte
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if chunked {
				_, _ = w.Write(strconv.AppendInt(sizeBuf[:0], int64(n), 16))
				_, _ = w.WriteString("\r\n")
			}
			_, werr := w.Write(buf[:n])
			if chunked {
				_, werr = w.WriteString("\r\n")
			}
			if werr == nil && streaming {
				werr = fc.bw.Flush()
			}
			if werr != nil {
				return clientFailed(werr)
			}
		}
		if rerr == io.EOF {
			if chunked {
				_, _ = w.WriteString("0\r\n\r\n")
			}
			x.sent = w.n
			fc.logExchange()
			if err := fc.bw.Flush(); err != nil {
				return clientFailed(err)
			}
			return keep
		}
		if rerr != nil {
			_ = fc.bw.Flush() // the head and the bytes that came
			switch context.Cause(ctx) {
			case errClientGone:
				x.failure = classify(*g.prof(), rerr, true, g.cfg.RaceWindow)
			case errShutdown:
				x.failure = Failure{Status: http.StatusServiceUnavailable, ErrorInfo: ErrorInfoGatewayShutdown, Cause: CauseGatewayShutdown}
			default:
				x.failure = classify(*g.prof(), rerr, false, g.cfg.RaceWindow)
				if x.failure.Cause == CauseKeepaliveRace || x.failure.Cause == CauseBackendMalformed {
					x.failure.Cause = CauseBackendResetMidRequest
				}
			}
			return false // the status already went out: the close tells the client
		}
	}
}

// relayBuffers recycles the 32 KiB copy buffers of relay.
var relayBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
