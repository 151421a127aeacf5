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

// closeProbes is how many connections MeasureClose opens at once. The
// earliest close is the answer: each probe times from the moment it sent
// its request, before the server could have started its idle timer, so a
// late wake-up (of the server's timer, its write, or the probe) only ever
// makes a close look later, never earlier, and the earliest of several is
// the nearest to what the server does when nothing delays it. (Timing from
// the end of the answer instead would let a probe that read its answer
// late see a close that looks early, down to nothing on a busy machine.)
const closeProbes = 5

// MeasureClose measures how long the HTTP/1.1 server at addr keeps an idle
// keep-alive connection open: on each of closeProbes connections it sends
// one GET, reads the whole response, and times from the request's send to
// the server's close (EOF or reset): an upper bound on the server's idle
// close that exceeds it by one round trip and the time to serve the GET. It returns the earliest close
// any probe saw. It fails when no probe could tell: none could connect and
// get a whole keep-alive answer (a server closing a new connection before
// its first request counts as a failed probe) and then see a close within
// limit; the error is the first probe's.
func MeasureClose(ctx context.Context, addr string, limit time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, limit+time.Second)
	defer cancel()
	got := make([]time.Duration, closeProbes)
	errs := make([]error, closeProbes)
	var wg sync.WaitGroup
	for i := range closeProbes {
		wg.Go(func() { got[i], errs[i] = measureOneClose(ctx, addr, limit) })
	}
	wg.Wait()
	earliest := time.Duration(-1)
	for i, d := range got {
		if errs[i] == nil && (earliest < 0 || d < earliest) {
			earliest = d
		}
	}
	if earliest < 0 {
		return 0, errs[0]
	}
	return earliest, nil
}

func measureOneClose(ctx context.Context, addr string, limit time.Duration) (time.Duration, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("measure the backend's close: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	sent := time.Now()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: gwsim-probe\r\nUser-Agent: gwsim-close-probe\r\n\r\n"); err != nil {
		return 0, fmt.Errorf("measure the backend's close: send: %w", err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, fmt.Errorf("measure the backend's close: read the answer: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("measure the backend's close: read the body: %w", err)
	}
	if resp.Close {
		return 0, errors.New("measure the backend's close: it answered Connection: close (keep-alive off)")
	}
	_ = c.SetReadDeadline(sent.Add(limit))
	n, err := br.Read(make([]byte, 1))
	closed := time.Since(sent)
	var ne net.Error
	switch {
	case n > 0:
		return 0, errors.New("measure the backend's close: it sent bytes on an idle connection")
	case errors.As(err, &ne) && ne.Timeout():
		if ctx.Err() != nil {
			return 0, fmt.Errorf("measure the backend's close: %w", ctx.Err())
		}
		return 0, fmt.Errorf("measure the backend's close: still open %s after the request", limit)
	}
	return closed, nil // EOF or reset: the backend closed
}

// measureBackendClose starts a private backend with cfg (no events, no
// metrics: the scenario's analysis must not see the probes) and measures
// its close with MeasureClose.
func measureBackendClose(ctx context.Context, cfg backend.Config) (time.Duration, error) {
	cfg.Events = nil
	srv, err := backend.New(cfg, nil, nil)
	if err != nil {
		return 0, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("listen for the close probe's backend: %w", err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(sctx, ln) }()
	defer func() { stop(); <-done }()
	return MeasureClose(ctx, ln.Addr().String(), 4*cfg.KeepAliveTimeout+time.Second)
}
