package scenarios

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/gwsim/gwsim/scenarios/probe"
)

// realFigures is what TestRealServers measures of one running server.
type realFigures struct {
	// Probe is issue 9's probe: five connections idle at once (their idle
	// closes, median and spread), the close style, what a request written
	// just after the close gets, the Keep-Alive timeout answering a request
	// that says Connection: keep-alive, and requests per connection.
	Probe *probe.Result
	// Staggered are the idle closes of staggerConns connections opened
	// staggerStep apart, each after one answer to a request without a
	// Connection header (HTTP/1.1's implicit keep-alive), sorted. A server
	// that checks its time-outs on a tick closes them over about a tick's
	// width; one with a timer per connection, all at the same age.
	Staggered []time.Duration
	// PlainKeepAlive and PlainConnection are the Keep-Alive and Connection
	// headers answering that request; PlainClose that the answer closed.
	PlainKeepAlive, PlainConnection string
	PlainClose                      bool
	// Late is the worst lateness of this machine's timers meanwhile.
	Late time.Duration
}

const (
	staggerConns = 5
	staggerStep  = 200 * time.Millisecond
)

// StaggerSpread is the largest less the smallest staggered close.
func (f *realFigures) StaggerSpread() time.Duration {
	if len(f.Staggered) == 0 {
		return 0
	}
	return f.Staggered[len(f.Staggered)-1] - f.Staggered[0]
}

// measureReal measures the server at addr: the probe, then the staggered
// connections (alone, so that no other traffic wakes a server that checks
// its time-outs on a tick). maxWait bounds every wait for an idle close.
func measureReal(ctx context.Context, addr string, maxWait time.Duration) (*realFigures, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*maxWait+30*time.Second)
	defer cancel()
	lctx, stopLateness := context.WithCancel(ctx)
	lp := startLatenessProbe(lctx)
	u, _ := url.Parse("http://" + addr + "/")
	f := &realFigures{}
	var err error
	f.Probe, err = probe.Run(ctx, probe.Options{URL: u, Connections: 5, MaxWait: maxWait, MaxRequests: 1100})
	staggerErr := f.stagger(ctx, addr, maxWait)
	stopLateness()
	_, f.Late = lp.result()
	if err != nil {
		return nil, err
	}
	if staggerErr != nil {
		return nil, staggerErr
	}
	return f, nil
}

// stagger opens staggerConns connections staggerStep apart, sends each one
// GET without a Connection header, and times each idle close.
func (f *realFigures) stagger(ctx context.Context, addr string, maxWait time.Duration) error {
	type one struct {
		after    time.Duration
		closed   bool
		ka, conn string
		close    bool
		err      error
	}
	got := make([]one, staggerConns)
	var wg sync.WaitGroup
	tick := time.NewTicker(staggerStep)
	defer tick.Stop()
	for i := range got {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
		wg.Go(func() {
			o := &got[i]
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				o.err = err
				return
			}
			defer c.Close()
			stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
			defer stop()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+addr+"\r\nUser-Agent: gwsim-test\r\n\r\n"); err != nil {
				o.err = err
				return
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				o.err = fmt.Errorf("read the answer: %w", err)
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil {
				o.err = err
				return
			}
			idleFrom := time.Now()
			o.ka, o.conn, o.close = resp.Header.Get("Keep-Alive"), resp.Header.Get("Connection"), resp.Close
			if resp.Close {
				return
			}
			_ = c.SetDeadline(idleFrom.Add(maxWait))
			n, err := br.Read(make([]byte, 1))
			o.after = time.Since(idleFrom)
			var ne net.Error
			switch {
			case n > 0:
				o.err = errors.New("bytes on an idle connection")
			case errors.As(err, &ne) && ne.Timeout():
				if ctx.Err() != nil {
					o.err = ctx.Err()
				} // else: no close within maxWait
			default: // EOF or a reset: the close
				o.closed = true
			}
		})
	}
	wg.Wait()
	for _, o := range got {
		if o.err != nil {
			return fmt.Errorf("staggered connection: %w", o.err)
		}
		if o.closed {
			f.Staggered = append(f.Staggered, o.after)
		}
	}
	f.PlainKeepAlive, f.PlainConnection, f.PlainClose = got[0].ka, got[0].conn, got[0].close
	slices.Sort(f.Staggered)
	return nil
}
