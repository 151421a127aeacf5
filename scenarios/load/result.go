package load

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Result limits.
const (
	maxErrors        = 100  // Result.Errors keeps the first maxErrors client errors
	maxGaps502       = 1000 // Result.Gaps502 keeps the first maxGaps502 gaps
	maxErrorMessages = 100  // Result.ErrorSet keeps this many distinct messages
)

// OtherMessages is the message of Result.ErrorSet's entry that counts, per
// kind, the client errors beyond the first 100 distinct messages.
const OtherMessages = "(other messages)"

// SchemaVersion is the version of the JSON document a Result encodes to
// (its "schema_version" key): raised when a key changes meaning or goes.
const SchemaVersion = 1

// Result is the outcome of a Run.
type Result struct {
	// Requests is the number of requests started, which equals the number
	// finished: each is counted exactly once, in Status or in ClientErrors.
	Requests int
	// Status counts responses whose body was read completely, by HTTP
	// status code.
	Status map[int]int
	// Succeeded counts the responses of Status with a status from 200 to
	// 399 (as vegeta counts success).
	Succeeded int
	// ClientErrors counts requests that got no complete response, by kind
	// (see ErrorKind): reset, eof, timeout, refused, canceled, other.
	ClientErrors map[string]int
	// ErrorSet counts client errors by kind and message, the local port of
	// an address left out ("127.0.0.1:*->127.0.0.1:8080"), so that one
	// cause is one line; sorted by count, highest first. At most 100
	// distinct messages, then OtherMessages per kind.
	ErrorSet []ErrorCount
	// Late counts open-loop requests started more than 1 ms after their
	// scheduled time. Always 0 for the closed loop and the gap sweep.
	Late int
	// Latency minimum, mean, percentiles and maximum, from request start to
	// the end of the response body, over the requests counted in Status
	// (nearest-rank percentiles). All 0 when there was no response.
	LatencyMin, LatencyMean, LatencyMax            time.Duration
	LatencyP50, LatencyP90, LatencyP95, LatencyP99 time.Duration
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
	// FailOn holds the outcome of each threshold given to CheckThresholds,
	// in order; nil until then.
	FailOn []ThresholdResult
}

// RequestError describes one client error.
type RequestError struct {
	At     time.Duration // from the start of the run to the error
	Kind   string        // see ErrorKind
	Method string        // GET or POST
	Err    string        // the error's text
}

// ErrorCount is one line of Result.ErrorSet.
type ErrorCount struct {
	Kind    string `json:"kind"`    // see ErrorKind
	Message string `json:"message"` // the error's text, local ports as *
	Count   int    `json:"count"`
}

// RequestsPerSecond is Requests over Elapsed; 0 when nothing elapsed.
func (r *Result) RequestsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// SuccessRatio is Succeeded over Requests, 0..1; 0 when there was no
// request.
func (r *Result) SuccessRatio() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Succeeded) / float64(r.Requests)
}

// Crossed reports whether a threshold of FailOn was crossed.
func (r *Result) Crossed() bool {
	for _, t := range r.FailOn {
		if t.Crossed {
			return true
		}
	}
	return false
}

// MarshalJSON encodes r as
//
//	{"schema_version":1,"requests":n,"requests_per_second":f,"success_ratio":f,
//	 "status":{"200":n},"client_errors":{"eof":n},
//	 "errors":[{"kind":"eof","message":"...","count":n}],"started_late":n,
//	 "latency":{"min_ms":f,"mean_ms":f,"p50_ms":f,"p90_ms":f,"p95_ms":f,"p99_ms":f,"max_ms":f},
//	 "first_502_seconds":f|null,"elapsed_seconds":f,
//	 "fail_on":[{"expression":"502>0","value":f,"unit":"count","crossed":b}]}
//
// Every duration is real (wall-clock) time: the load driver does not scale.
// Lists are [] when empty, never null.
func (r *Result) MarshalJSON() ([]byte, error) {
	type latency struct {
		Min  float64 `json:"min_ms"`
		Mean float64 `json:"mean_ms"`
		P50  float64 `json:"p50_ms"`
		P90  float64 `json:"p90_ms"`
		P95  float64 `json:"p95_ms"`
		P99  float64 `json:"p99_ms"`
		Max  float64 `json:"max_ms"`
	}
	out := struct {
		SchemaVersion     int               `json:"schema_version"`
		Requests          int               `json:"requests"`
		RequestsPerSecond float64           `json:"requests_per_second"`
		SuccessRatio      float64           `json:"success_ratio"`
		Status            map[string]int    `json:"status"`
		ClientErrors      map[string]int    `json:"client_errors"`
		Errors            []ErrorCount      `json:"errors"`
		StartedLate       int               `json:"started_late"`
		Latency           latency           `json:"latency"`
		First502          *float64          `json:"first_502_seconds"`
		Elapsed           float64           `json:"elapsed_seconds"`
		FailOn            []ThresholdResult `json:"fail_on"`
	}{
		SchemaVersion:     SchemaVersion,
		Requests:          r.Requests,
		RequestsPerSecond: r.RequestsPerSecond(),
		SuccessRatio:      r.SuccessRatio(),
		Status:            make(map[string]int, len(r.Status)),
		ClientErrors:      make(map[string]int, len(r.ClientErrors)),
		Errors:            append([]ErrorCount{}, r.ErrorSet...),
		StartedLate:       r.Late,
		Latency: latency{
			Min: ms(r.LatencyMin), Mean: ms(r.LatencyMean),
			P50: ms(r.LatencyP50), P90: ms(r.LatencyP90), P95: ms(r.LatencyP95),
			P99: ms(r.LatencyP99), Max: ms(r.LatencyMax),
		},
		Elapsed: r.Elapsed.Seconds(),
		FailOn:  append([]ThresholdResult{}, r.FailOn...),
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
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // thresholds read 502>0, not 502\u003e0
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
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
	errSet    map[errorKey]int
}

type errorKey struct{ kind, message string }

// localPort is the local port of a connection's addresses in an error's
// text ("127.0.0.1:54321->"), different for every connection.
var localPort = regexp.MustCompile(`((?:\d{1,3}\.){3}\d{1,3}|\[[0-9A-Fa-f:.%]+\]):\d+->`)

// errorMessage is err's text with local ports as *.
func errorMessage(err error) string {
	s := err.Error()
	if strings.Contains(s, "->") {
		s = localPort.ReplaceAllString(s, "$1:*->")
	}
	return s
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
		errSet: make(map[errorKey]int),
	}
}

// status records a complete response. headerAt is when its header arrived.
func (c *collector) status(code int, latency time.Duration, headerAt time.Time) {
	c.m.observeStatus(code, latency)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.Requests++
	c.res.Status[code]++
	if code >= 200 && code < 400 {
		c.res.Succeeded++
	}
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
	msg := errorMessage(err)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.Requests++
	c.res.ClientErrors[kind]++
	key := errorKey{kind, msg}
	if _, seen := c.errSet[key]; !seen && len(c.errSet) >= maxErrorMessages {
		key.message = OtherMessages
	}
	c.errSet[key]++
	if cause != "" {
		c.res.ErrorCauses[cause]++
	}
	if len(c.res.Errors) < maxErrors {
		c.res.Errors = append(c.res.Errors, RequestError{
			At: at.Sub(c.start), Kind: kind, Method: method, Err: err.Error(),
		})
	}
}

// progress is the requests finished so far and the succeeded among them.
func (c *collector) progress() (requests, succeeded int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.res.Requests, c.res.Succeeded
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
	r.LatencyP95 = percentile(sorted, 0.95)
	r.LatencyP99 = percentile(sorted, 0.99)
	if n := len(sorted); n > 0 {
		r.LatencyMin, r.LatencyMax = sorted[0], sorted[n-1]
		var sum time.Duration
		for _, d := range sorted {
			sum += d
		}
		r.LatencyMean = sum / time.Duration(n)
	}
	r.ErrorSet = make([]ErrorCount, 0, len(c.errSet))
	for k, n := range c.errSet {
		r.ErrorSet = append(r.ErrorSet, ErrorCount{Kind: k.kind, Message: k.message, Count: n})
	}
	slices.SortFunc(r.ErrorSet, func(a, b ErrorCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		if a.Kind != b.Kind {
			return strings.Compare(a.Kind, b.Kind)
		}
		return strings.Compare(a.Message, b.Message)
	})
	return &r
}
