package load

import (
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Result limits.
const (
	maxErrors  = 100  // Result.Errors keeps the first maxErrors client errors
	maxGaps502 = 1000 // Result.Gaps502 keeps the first maxGaps502 gaps
)

// Result is the outcome of a Run.
type Result struct {
	// Requests is the number of requests started, which equals the number
	// finished: each is counted exactly once, in Status or in ClientErrors.
	Requests int
	// Status counts responses whose body was read completely, by HTTP
	// status code.
	Status map[int]int
	// ClientErrors counts requests that got no complete response, by kind
	// (see ErrorKind): reset, eof, timeout, refused, canceled, other.
	ClientErrors map[string]int
	// Late counts open-loop requests started more than 1 ms after their
	// scheduled time. Always 0 for the closed loop and the gap sweep.
	Late int
	// Latency percentiles and maximum, from request start to the end of
	// the response body, over the requests counted in Status (nearest-rank).
	LatencyP50, LatencyP90, LatencyP99, LatencyMax time.Duration
	// First502 is the time from the start of the run to the arrival of the
	// first 502 response's header; -1 when there was none.
	First502 time.Duration
	// Elapsed is the wall-clock duration of the run, until the last
	// request finished.
	Elapsed time.Duration
	// Errors holds the first 100 client errors, in order of occurrence.
	Errors []RequestError
	// ErrorCauses counts client errors by the cause Config.ErrorCause gave.
	ErrorCauses map[string]int
	// Gaps502 holds, for the gap sweep, the measured idle gap that preceded
	// each 502 (the first 1000), showing where the race window is.
	Gaps502 []time.Duration
}

// RequestError describes one client error.
type RequestError struct {
	At     time.Duration // from the start of the run to the error
	Kind   string        // see ErrorKind
	Method string        // GET or POST
	Err    string        // the error's text
}

// MarshalJSON encodes r as
//
//	{"requests":n,"status":{"200":n},"client_errors":{"eof":n},"late":n,
//	 "latency":{"p50_ms":f,"p90_ms":f,"p99_ms":f,"max_ms":f},
//	 "first_502_seconds":f|null,"elapsed_seconds":f}
func (r *Result) MarshalJSON() ([]byte, error) {
	type latency struct {
		P50 float64 `json:"p50_ms"`
		P90 float64 `json:"p90_ms"`
		P99 float64 `json:"p99_ms"`
		Max float64 `json:"max_ms"`
	}
	out := struct {
		Requests     int            `json:"requests"`
		Status       map[string]int `json:"status"`
		ClientErrors map[string]int `json:"client_errors"`
		Late         int            `json:"late"`
		Latency      latency        `json:"latency"`
		First502     *float64       `json:"first_502_seconds"`
		Elapsed      float64        `json:"elapsed_seconds"`
	}{
		Requests:     r.Requests,
		Status:       make(map[string]int, len(r.Status)),
		ClientErrors: make(map[string]int, len(r.ClientErrors)),
		Late:         r.Late,
		Latency: latency{
			P50: ms(r.LatencyP50), P90: ms(r.LatencyP90),
			P99: ms(r.LatencyP99), Max: ms(r.LatencyMax),
		},
		Elapsed: r.Elapsed.Seconds(),
	}
	for code, n := range r.Status {
		out.Status[strconv.Itoa(code)] = n
	}
	for kind, n := range r.ClientErrors {
		out.ClientErrors[kind] = n
	}
	if r.First502 >= 0 {
		s := r.First502.Seconds()
		out.First502 = &s
	}
	return json.Marshal(out)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile returns the nearest-rank p-quantile (0 < p <= 1) of sorted,
// or 0 when sorted is empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p*float64(len(sorted)) + 0.999999999) // ceil, robust to float error
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// collector accumulates outcomes from concurrent requests.
type collector struct {
	start time.Time
	m     *Metrics

	mu        sync.Mutex
	res       Result
	latencies []time.Duration
}

func newCollector(start time.Time, m *Metrics) *collector {
	return &collector{
		start: start,
		m:     m,
		res: Result{
			Status:       make(map[int]int),
			ClientErrors: make(map[string]int),
			ErrorCauses:  make(map[string]int),
			First502:     -1,
		},
	}
}

// status records a complete response. headerAt is when its header arrived.
func (c *collector) status(code int, latency time.Duration, headerAt time.Time) {
	c.m.observeStatus(code, latency)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.Requests++
	c.res.Status[code]++
	c.latencies = append(c.latencies, latency)
	if code == 502 {
		if at := headerAt.Sub(c.start); c.res.First502 < 0 || at < c.res.First502 {
			c.res.First502 = at
		}
	}
}

// clientError records a request that got no complete response.
func (c *collector) clientError(kind, cause, method string, at time.Time, err error) {
	c.m.observeError(kind)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.Requests++
	c.res.ClientErrors[kind]++
	if cause != "" {
		c.res.ErrorCauses[cause]++
	}
	if len(c.res.Errors) < maxErrors {
		c.res.Errors = append(c.res.Errors, RequestError{
			At: at.Sub(c.start), Kind: kind, Method: method, Err: err.Error(),
		})
	}
}

func (c *collector) late() {
	c.mu.Lock()
	c.res.Late++
	c.mu.Unlock()
}

func (c *collector) gap502(gap time.Duration) {
	c.mu.Lock()
	if len(c.res.Gaps502) < maxGaps502 {
		c.res.Gaps502 = append(c.res.Gaps502, gap)
	}
	c.mu.Unlock()
}

// result returns the final Result; call it once every request has finished.
func (c *collector) result(elapsed time.Duration) *Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.res
	r.Elapsed = elapsed
	sorted := slices.Clone(c.latencies)
	slices.Sort(sorted)
	r.LatencyP50 = percentile(sorted, 0.50)
	r.LatencyP90 = percentile(sorted, 0.90)
	r.LatencyP99 = percentile(sorted, 0.99)
	if n := len(sorted); n > 0 {
		r.LatencyMax = sorted[n-1]
	}
	return &r
}
