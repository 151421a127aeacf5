package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// lateAfter is how far behind its scheduled time an open-loop request may
// start before it counts as late.
const lateAfter = time.Millisecond

// Run validates cfg, then sends requests through rt paced by cfg.Pattern
// until its bounds are reached and every request started has finished.
// It calls rt.RoundTrip directly: no redirect is followed and nothing is
// retried. m may be nil.
//
// An invalid cfg or a nil rt is reported before any traffic is sent. When
// ctx is done, Run starts no more requests, cancels those in flight (they
// count as client errors of kind "canceled") and returns the partial Result
// with a nil error; check ctx.Err() to tell a cut-short run.
func Run(ctx context.Context, cfg Config, rt http.RoundTripper, m *Metrics) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rt == nil {
		return nil, errors.New("load: round tripper is nil")
	}
	cfg = cfg.withDefaults()
	r := &runner{cfg: cfg, rt: rt, start: time.Now()}
	if cfg.PostRatio > 0 {
		r.body = bytes.Repeat([]byte{'x'}, cfg.BodySize)
	}
	r.col = newCollector(r.start, m)
	// The requests are copies of two templates: parsing the target and
	// building headers once, not per request, is a fifth of the driver's
	// cost per request.
	for i, method := range []string{http.MethodGet, http.MethodPost} {
		t, err := http.NewRequest(method, cfg.Target, nil)
		if err != nil {
			return nil, fmt.Errorf("load: build request: %w", err)
		}
		t.Header.Set("User-Agent", "gwsim-load")
		if method == http.MethodPost {
			t.Header.Set("Content-Type", "application/octet-stream")
		}
		r.templates[i] = t
	}

	// startCtx ends when no new request may start; requests themselves run
	// under ctx, so the time bound never cuts a request short.
	startCtx, cancel := ctx, context.CancelFunc(func() {})
	if cfg.Duration > 0 {
		startCtx, cancel = context.WithDeadline(ctx, r.start.Add(cfg.Duration))
	}
	defer cancel()
	if cfg.Progress != nil {
		stop := r.reportProgress()
		defer stop()
	}

	switch cfg.Pattern {
	case PatternClosed:
		r.closedLoop(ctx, startCtx)
	case PatternConstant:
		r.openLoop(ctx, func(i int) time.Duration { return ConstantOffset(cfg.Rate, i) })
	case PatternPoisson:
		s := NewPoissonSchedule(cfg.Rate, cfg.Seed)
		r.openLoop(ctx, func(int) time.Duration { return s.Next() })
	case PatternGapSweep:
		r.gapSweep(ctx, startCtx, rt, SweepGaps(cfg.GapFrom, cfg.GapTo, cfg.GapStep), r.nextIndex())
	case PatternAimed:
		f, ok := rt.(Forker)
		if !ok {
			return nil, errors.New("load: the aimed pattern needs a round tripper that opens independent connections (Fork)")
		}
		r.aimed(ctx, startCtx, f)
	}
	return r.col.result(time.Since(r.start)), nil
}

type runner struct {
	cfg   Config // with defaults applied
	rt    http.RoundTripper
	start time.Time
	body  []byte // POST body, shared read-only
	col   *collector
	// templates are the GET and POST requests every request copies; their
	// URL and headers are shared read-only (a RoundTripper does not change
	// a request).
	templates [2]*http.Request
}

// reportProgress calls cfg.Progress every ProgressInterval until the
// returned stop is called; stop returns once no call is under way.
func (r *runner) reportProgress() (stop func()) {
	planned := r.cfg.Requests
	if r.cfg.Pattern.Sweeps() {
		n := int(SweepRequests(r.cfg.GapFrom, r.cfg.GapTo, r.cfg.GapStep, r.cfg.Passes))
		if gaps := n - 1; r.cfg.Pattern == PatternAimed && gaps > 0 {
			// one priming request per connection (AimedBlocks' blocks)
			size := (gaps/r.cfg.Passes + r.cfg.Workers - 1) / r.cfg.Workers
			n += (gaps/r.cfg.Passes+size-1)/size - 1
		}
		if planned == 0 || n < planned {
			planned = n
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n, ok := r.col.progress()
				r.cfg.Progress(Progress{Elapsed: time.Since(r.start), Requests: n, Succeeded: ok, Planned: planned, Duration: r.cfg.Duration})
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// countReached reports whether request i is beyond the count bound.
func (r *runner) countReached(i int) bool {
	return r.cfg.Requests > 0 && i >= r.cfg.Requests
}

// closedLoop runs cfg.Workers workers, each sending a request, reading the
// whole response and waiting cfg.Think, until startCtx is done or the count
// bound is reached.
func (r *runner) closedLoop(ctx, startCtx context.Context) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range r.cfg.Workers {
		wg.Go(func() {
			for startCtx.Err() == nil {
				i := int(next.Add(1) - 1)
				if r.countReached(i) {
					return
				}
				r.do(ctx, r.rt, i)
				if r.cfg.Think > 0 && !sleep(startCtx, r.cfg.Think) {
					return
				}
			}
		})
	}
	wg.Wait()
}

// openLoop starts request i at offset(i) from the start of the run (offsets
// are requested in order i = 0, 1, ...), each in its own goroutine, with at
// most cfg.MaxInFlight outstanding. A request that cannot start on time is
// sent late and counted in Late. It stops at the first offset at or beyond
// cfg.Duration (when set), at the count bound, or when ctx is done, then
// waits for the requests in flight.
func (r *runner) openLoop(ctx context.Context, offset func(i int) time.Duration) {
	sem := make(chan struct{}, r.cfg.MaxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := 0; !r.countReached(i); i++ {
		at := offset(i)
		if r.cfg.Duration > 0 && at >= r.cfg.Duration {
			return
		}
		if wait := at - time.Since(r.start); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil {
			<-sem
			return
		}
		if time.Since(r.start)-at > lateAfter {
			r.col.late()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			r.do(ctx, r.rt, i)
		})
	}
}

// gapSweep sends a priming request through rt, then for each pass and
// each of gaps waits that gap after the previous response ended and sends
// the next request, recording the measured gap before every 502. index
// numbers the requests (for the count bound and the GET/POST mix).
func (r *runner) gapSweep(ctx, startCtx context.Context, rt http.RoundTripper, gaps []time.Duration, index func() int) {
	i := index()
	if startCtx.Err() != nil || r.countReached(i) {
		return
	}
	_, end := r.do(ctx, rt, i)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for range r.cfg.Passes {
		for _, gap := range gaps {
			i := index()
			if r.countReached(i) {
				return
			}
			if wait := gap - time.Since(end); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-startCtx.Done():
					return
				}
			}
			if startCtx.Err() != nil {
				return
			}
			waited := time.Since(end)
			var code int
			code, end = r.do(ctx, rt, i)
			if code == http.StatusBadGateway {
				r.col.gap502(waited)
			}
		}
	}
}

// nextIndex numbers requests 0, 1, 2... for one sequential worker.
func (r *runner) nextIndex() func() int {
	i := -1
	return func() int { i++; return i }
}

// aimed runs the sweep over Workers connections of their own at once:
// worker k takes the k-th of Workers consecutive blocks of the sweep, so
// that each round (every worker's i-th gap) samples the whole range.
func (r *runner) aimed(ctx, startCtx context.Context, f Forker) {
	gaps := SweepGaps(r.cfg.GapFrom, r.cfg.GapTo, r.cfg.GapStep)
	var next atomic.Int64
	index := func() int { return int(next.Add(1) - 1) }
	var wg sync.WaitGroup
	for _, mine := range AimedBlocks(gaps, r.cfg.Workers) {
		rt := f.Fork()
		wg.Go(func() {
			defer closeRoundTripper(rt)
			r.gapSweep(ctx, startCtx, rt, mine, index)
		})
	}
	wg.Wait()
}

// AimedBlocks splits gaps into at most workers consecutive blocks of equal
// length (the last may be shorter): the aimed pattern's share of each
// connection.
func AimedBlocks(gaps []time.Duration, workers int) [][]time.Duration {
	workers = max(workers, 1)
	size := (len(gaps) + workers - 1) / workers
	var out [][]time.Duration
	for i := 0; i < len(gaps); i += size {
		out = append(out, gaps[i:min(i+size, len(gaps))])
	}
	return out
}

// closeRoundTripper closes rt's connections, if it can.
func closeRoundTripper(rt http.RoundTripper) {
	switch c := rt.(type) {
	case interface{ Close() }:
		c.Close()
	case interface{ CloseIdleConnections() }:
		c.CloseIdleConnections()
	}
}

// do sends request i, reads its response body to the end, records the
// outcome and returns the status code (0 for a client error) and the time
// the request ended.
func (r *runner) do(ctx context.Context, rt http.RoundTripper, i int) (int, time.Time) {
	method := http.MethodGet
	post := isPost(r.cfg.Seed, i, r.cfg.PostRatio)
	if post {
		method = http.MethodPost
	}
	rctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	begin := time.Now()
	fail := func(err error) (int, time.Time) {
		end := time.Now()
		cause := ""
		if r.cfg.ErrorCause != nil {
			cause = r.cfg.ErrorCause(err)
		}
		r.col.clientError(r.classify(ctx, rctx, err), cause, method, end, err)
		return 0, end
	}
	var req *http.Request
	if post {
		req = r.templates[1].WithContext(rctx)
		req.Body = io.NopCloser(bytes.NewReader(r.body))
		req.ContentLength = int64(len(r.body))
	} else {
		req = r.templates[0].WithContext(rctx)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return fail(err)
	}
	if resp == nil {
		return fail(errors.New("round tripper returned neither response nor error"))
	}
	header := time.Now()
	if resp.Body != nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return fail(fmt.Errorf("read %d response body: %w", resp.StatusCode, err))
		}
	}
	end := time.Now()
	r.col.status(resp.StatusCode, end.Sub(begin), header)
	return resp.StatusCode, end
}

// classify returns the kind of a request error: "canceled" when the whole
// run was cancelled, "timeout" when the request's own deadline expired
// (whatever error text the round tripper chose), else ErrorKind(err).
func (r *runner) classify(runCtx, reqCtx context.Context, err error) string {
	if runCtx.Err() != nil {
		return KindCanceled
	}
	kind := ErrorKind(err)
	if (kind == KindOther || kind == KindCanceled) && errors.Is(reqCtx.Err(), context.DeadlineExceeded) {
		return KindTimeout
	}
	return kind
}

// sleep waits d or until ctx is done; it reports whether it waited d fully.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
