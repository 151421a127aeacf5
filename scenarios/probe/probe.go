// Package probe measures a real HTTP/1.1 server's keep-alive as a packet
// capture would, from the client's side of its sockets: when it closes an
// idle connection (over several connections opened at once), how it closes
// it (FIN, FIN then drain, or RST), what a request sent just after the
// close gets, the Keep-Alive timeout it advertises, and how many requests
// it serves on one connection. Verdicts against every gateway preset come
// from the race rule (package rule).
package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gwsim/gwsim/backend"
)

// Options configure a probe.
type Options struct {
	// URL is the server to probe: http or https, host and port, path.
	URL *url.URL
	// Connections is how many idle connections are watched at once; 0 = 5.
	Connections int
	// MaxWait bounds the wait for an idle close; 0 = 2 minutes.
	MaxWait time.Duration
	// MaxRequests bounds the requests sent on one connection to count
	// the server's limit; 0 = 1000.
	MaxRequests int
	// LateWait is how long a request written just after the close waits
	// for a reset or an answer; 0 = 500 ms.
	LateWait time.Duration
	// Insecure skips the certificate check of an https URL.
	Insecure bool
}

// Close styles, as a packet capture would name them: the backend's words,
// so that a measured style is a toy backend's close setting.
const (
	StyleFIN    = string(backend.CloseFIN)    // a FIN; a request sent after it is reset
	StyleLinger = string(backend.CloseLinger) // a FIN, then the server drains what comes for a while (Apache's lingering close)
	StyleRST    = string(backend.CloseRST)    // the close itself is a reset
)

// What a request written just after the idle close got.
const (
	LateReset    = "reset"    // the server's kernel reset the connection
	LateDrained  = "drained"  // read and dropped without an answer or a reset
	LateAnswered = "answered" // answered (the close was not the end)
)

// Result is what the probe measured.
type Result struct {
	URL string
	// KeepAlive is false when the server answers Connection: close to a
	// request that asks for keep-alive.
	KeepAlive bool
	// IdleCloses are the idle closes seen, one per connection, from the
	// end of the answer to the close, sorted; empty when none came within
	// MaxWait.
	IdleCloses []time.Duration
	// Median and Spread (largest less smallest) of IdleCloses.
	Median, Spread time.Duration
	// NoCloseWithin is MaxWait when no connection was closed within it.
	NoCloseWithin time.Duration
	// Style is fin, linger or rst ("" when no close was seen).
	Style string
	// LateRequest is what a request written just after the close got
	// (reset, drained or answered; "" for an rst close or none).
	LateRequest string
	// Advertised is the Keep-Alive timeout the server states; -1 = none.
	Advertised time.Duration
	// MaxRequests is the requests one connection served before the
	// server said Connection: close (or closed); 0 = none up to
	// RequestBound.
	MaxRequests  int
	RequestBound int
	// Watched is how many connections waited for an idle close.
	Watched int
	// Failed counts the idle-close connections that could not tell (a
	// failed dial or answer); their errors are in Errors.
	Failed int
	Errors []string
}

// Run probes o.URL. It fails only when no connection could get an answer.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.URL == nil || (o.URL.Scheme != "http" && o.URL.Scheme != "https") || o.URL.Host == "" {
		return nil, errors.New("probe: want an http:// or https:// URL with a host")
	}
	if o.Connections <= 0 {
		o.Connections = 5
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 2 * time.Minute
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = 1000
	}
	if o.LateWait <= 0 {
		o.LateWait = 500 * time.Millisecond
	}
	p := &prober{o: o, addr: hostPort(o.URL)}
	res := &Result{URL: o.URL.String(), Advertised: -1, RequestBound: o.MaxRequests, Watched: o.Connections}

	idle := make([]idleProbe, o.Connections)
	var wg sync.WaitGroup
	for i := range idle {
		wg.Go(func() { idle[i] = p.idleClose(ctx) })
	}
	var count requestCount
	wg.Go(func() { count = p.countRequests(ctx) })
	wg.Wait()

	answered := false
	for _, ip := range idle {
		if ip.err != nil {
			res.Failed++
			res.Errors = append(res.Errors, ip.err.Error())
			continue
		}
		answered = true
		if ip.advertised >= 0 {
			res.Advertised = ip.advertised
		}
		if ip.closeOff {
			continue
		}
		res.KeepAlive = true
		if ip.closed {
			res.IdleCloses = append(res.IdleCloses, ip.after)
			if res.Style == "" || ip.style == StyleRST {
				res.Style, res.LateRequest = ip.style, ip.late
			}
		}
	}
	if !answered {
		return nil, fmt.Errorf("probe %s: no connection got an answer: %s", o.URL, res.Errors[0])
	}
	if count.err == nil {
		res.MaxRequests = count.n
	}
	slices.Sort(res.IdleCloses)
	if n := len(res.IdleCloses); n > 0 {
		res.Median = res.IdleCloses[n/2]
		if n%2 == 0 {
			res.Median = (res.IdleCloses[n/2-1] + res.IdleCloses[n/2]) / 2
		}
		res.Spread = res.IdleCloses[n-1] - res.IdleCloses[0]
	} else if res.KeepAlive {
		res.NoCloseWithin = o.MaxWait
	}
	return res, nil
}

type prober struct {
	o    Options
	addr string
}

// hostPort is u's host with its port (80 or 443 when none).
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// dial opens a connection (TLS for https) and returns it with the raw TCP
// connection under it: after the server's close, what the kernel does to
// more bytes (reset or drain) shows on the raw connection, which a TLS
// connection hides behind its first error.
func (p *prober) dial(ctx context.Context) (c, raw net.Conn, err error) {
	var d net.Dialer
	raw, err = d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, nil, err
	}
	if p.o.URL.Scheme != "https" {
		return raw, raw, nil
	}
	tc := tls.Client(raw, &tls.Config{ServerName: p.o.URL.Hostname(), InsecureSkipVerify: p.o.Insecure, NextProtos: []string{"http/1.1"}})
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, nil, err
	}
	return tc, raw, nil
}

// request is the probe's GET, asking for keep-alive as browsers and
// gateways do.
func (p *prober) request() string {
	path := p.o.URL.RequestURI()
	return "GET " + path + " HTTP/1.1\r\nHost: " + p.o.URL.Host + "\r\nConnection: keep-alive\r\nUser-Agent: gwsim-probe\r\nAccept: */*\r\n\r\n"
}

// exchange sends the GET on c and reads the whole answer.
func (p *prober) exchange(c net.Conn, br *bufio.Reader) (*http.Response, error) {
	if _, err := io.WriteString(c, p.request()); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("read the answer: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read the body: %w", err)
	}
	return resp, nil
}

type idleProbe struct {
	advertised time.Duration // -1 = none
	closeOff   bool          // Connection: close on the answer
	closed     bool
	after      time.Duration
	style      string
	late       string
	err        error
}

// idleClose opens one connection, gets one answer, and waits for the
// server's idle close; then writes a request on it to see what the close
// does to it.
func (p *prober) idleClose(ctx context.Context) idleProbe {
	ip := idleProbe{advertised: -1}
	c, raw, err := p.dial(ctx)
	if err != nil {
		ip.err = fmt.Errorf("connect: %w", err)
		return ip
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	br := bufio.NewReader(c)
	sent := time.Now()
	resp, err := p.exchange(c, br)
	if err != nil {
		ip.err = err
		return ip
	}
	idleFrom := time.Now()
	exchange := idleFrom.Sub(sent)
	ip.advertised = advertisedTimeout(resp.Header)
	if resp.Close {
		ip.closeOff = true
		return ip
	}
	_ = c.SetReadDeadline(idleFrom.Add(p.o.MaxWait))
	n, err := br.Read(make([]byte, 1))
	after := time.Since(idleFrom)
	var ne net.Error
	switch {
	case n > 0:
		ip.err = errors.New("the server sent bytes on an idle connection")
		return ip
	case errors.As(err, &ne) && ne.Timeout():
		if ctx.Err() != nil {
			ip.err = ctx.Err()
		}
		return ip // no close within MaxWait
	case isReset(err):
		ip.closed, ip.after, ip.style = true, after, StyleRST
		return ip
	case !errors.Is(err, io.EOF):
		ip.err = fmt.Errorf("wait for the idle close: %w", err)
		return ip
	}
	ip.closed, ip.after = true, after
	ip.style, ip.late = p.lateRequest(raw, exchange)
	return ip
}

// lateRequest writes a request on the raw connection the server has closed
// (FIN seen) and watches for up to LateWait what follows. A reset within
// one exchange time (at least 5 ms) means a full close (fin); bytes still
// accepted without a reset for longer mean the server drains what comes
// (linger, whether or not it resets later, when its lingering ends); an
// answer means the connection was not done. exchange is how long the
// connection's first request took to be answered: a round trip and the
// server's work. (Over https the bytes are the plain request: what the
// server's kernel does with bytes after its close is the same.)
//
// A reset that arrives after the FIN does not show on a read (Linux
// reports the end of stream first), only on the next write, so the watch
// writes a harmless CRLF every millisecond: a lingering server drains it,
// a closed socket answers it with the reset.
func (p *prober) lateRequest(raw net.Conn, exchange time.Duration) (style, late string) {
	start := time.Now()
	accepted := 0 // CRLFs written without a reset
	reset := func() (string, string) {
		// A probe that slept past a short linger sees the reset late but
		// after few writes; one that had CRLFs accepted saw the draining.
		if accepted == 0 || time.Since(start) <= max(5*time.Millisecond, 4*exchange) {
			return StyleFIN, LateReset
		}
		return StyleLinger, LateDrained
	}
	if _, err := io.WriteString(raw, p.request()); err != nil {
		return StyleFIN, LateReset // the reset (or EPIPE after it) came before the write
	}
	deadline := start.Add(p.o.LateWait)
	buf := make([]byte, 1)
	for time.Now().Before(deadline) {
		_ = raw.SetReadDeadline(time.Now().Add(time.Millisecond))
		n, err := raw.Read(buf)
		switch {
		case n > 0:
			return StyleLinger, LateAnswered
		case isReset(err):
			return reset()
		case errors.Is(err, io.EOF):
			// The end of stream again: wait a tick before the next write.
			time.Sleep(min(time.Millisecond, time.Until(deadline)))
		}
		if _, err := io.WriteString(raw, "\r\n"); err != nil {
			return reset()
		}
		accepted++
	}
	return StyleLinger, LateDrained
}

// isReset reports a connection reset (or a broken pipe, which follows one).
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

type requestCount struct {
	n   int // requests served before Connection: close or a close; 0 = none up to the bound
	err error
}

// countRequests sends requests one after another on one connection until
// the server says Connection: close or closes, up to MaxRequests.
func (p *prober) countRequests(ctx context.Context) requestCount {
	c, _, err := p.dial(ctx)
	if err != nil {
		return requestCount{err: err}
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	br := bufio.NewReader(c)
	for i := 1; i <= p.o.MaxRequests; i++ {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		resp, err := p.exchange(c, br)
		if err != nil {
			if i == 1 {
				return requestCount{err: err}
			}
			return requestCount{n: i - 1} // closed without saying so
		}
		if resp.Close {
			if i == 1 {
				return requestCount{err: errors.New("keep-alive off")}
			}
			return requestCount{n: i}
		}
	}
	return requestCount{}
}

// advertisedTimeout is the timeout parameter of a Keep-Alive header; -1
// when there is none.
func advertisedTimeout(h http.Header) time.Duration {
	for _, v := range h.Values("Keep-Alive") {
		for _, part := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "timeout") {
				continue
			}
			if n, err := strconv.Atoi(strings.TrimSpace(val)); err == nil && n >= 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return -1
}
