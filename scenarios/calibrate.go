package scenarios

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gwsim/gwsim/backend"
)

// closeProbes is how many connections MeasureClose opens at once.
const closeProbes = 5

// MeasureClose measures how long the HTTP/1.1 server at addr keeps an idle
// keep-alive connection open, as a gateway would see it: the time from an
// answer's arrival to the server's close. On each of closeProbes
// connections it sends one GET, reads the whole response, and waits for
// the close (EOF or reset) up to limit after the send.
//
// Each probe gives an upper bound, from its send to the close: a late
// wake-up (of the server's timer, its write or the probe) only ever makes
// it later. Timing from the answer's arrival instead would let a probe
// that read its answer late see a close that looks early, down to nothing
// on a busy machine. So the answer is the earliest upper bound less the
// quickest exchange (send to answer read) any probe saw: on a quiet
// machine the close after the answer within a fraction of a round trip,
// never less than it by more than one exchange, and later, not earlier,
// when every probe was delayed. It fails when no probe could tell: none
// could connect and get a whole keep-alive answer (a server closing a new
// connection before its first request counts as a failed probe) and then
// see a close within limit; the error is the first probe's.
func MeasureClose(ctx context.Context, addr string, limit time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, limit+time.Second)
	defer cancel()
	probes := make([]closeProbe, closeProbes)
	var wg sync.WaitGroup
	for i := range probes {
		wg.Go(func() { probes[i] = measureOneClose(ctx, addr, limit) })
	}
	wg.Wait()
	closed, exchange := time.Duration(-1), time.Duration(-1)
	for _, p := range probes {
		if p.err != nil {
			continue
		}
		if closed < 0 || p.closed < closed {
			closed = p.closed
		}
		if exchange < 0 || p.exchange < exchange {
			exchange = p.exchange
		}
	}
	if closed < 0 {
		return 0, probes[0].err
	}
	return closed - exchange, nil
}

// closeProbe is one probe's measurement: from its send to the answer read
// (exchange) and to the close (closed), or why it could not tell.
type closeProbe struct {
	exchange, closed time.Duration
	err              error
}

func measureOneClose(ctx context.Context, addr string, limit time.Duration) closeProbe {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return closeProbe{err: fmt.Errorf("measure the backend's close: %w", err)}
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	sent := time.Now()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: gwsim-probe\r\nUser-Agent: gwsim-close-probe\r\n\r\n"); err != nil {
		return closeProbe{err: fmt.Errorf("measure the backend's close: send: %w", err)}
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return closeProbe{err: fmt.Errorf("measure the backend's close: read the answer: %w", err)}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return closeProbe{err: fmt.Errorf("measure the backend's close: read the body: %w", err)}
	}
	if resp.Close {
		return closeProbe{err: errors.New("measure the backend's close: it answered Connection: close (keep-alive off)")}
	}
	exchange := time.Since(sent)
	_ = c.SetReadDeadline(sent.Add(limit))
	n, err := br.Read(make([]byte, 1))
	closed := time.Since(sent)
	var ne net.Error
	switch {
	case n > 0:
		return closeProbe{err: errors.New("measure the backend's close: it sent bytes on an idle connection")}
	case errors.As(err, &ne) && ne.Timeout():
		if ctx.Err() != nil {
			return closeProbe{err: fmt.Errorf("measure the backend's close: %w", ctx.Err())}
		}
		return closeProbe{err: fmt.Errorf("measure the backend's close: still open %s after the request", limit)}
	}
	return closeProbe{exchange: exchange, closed: closed} // EOF or reset: the backend closed
}

// measureBackendClose starts a private backend with cfg (no events, no
// metrics: the scenario's analysis must not see the probes) and measures
// its close with MeasureClose.
func measureBackendClose(ctx context.Context, cfg backend.Config) (time.Duration, error) {
	cfg.Trace = nil
	srv, err := backend.New(cfg, nil, nil)
	if err != nil {
		return 0, err
	}
	addr, stop, err := srv.Start("127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("start the close probe's backend: %w", err)
	}
	defer stop()
	return MeasureClose(ctx, addr.String(), 4*cfg.KeepAliveTimeout+time.Second)
}
