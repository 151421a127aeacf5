// Package load is gwsim's load driver. It sends HTTP requests through an
// http.RoundTripper it is given (in gwsim, the gateway's no-retry connection
// pool, so nothing replays a failed request behind its back), shapes the
// traffic to hit the keep-alive race between a gateway and its backend, and
// counts every status and every client-side error.
//
// Four patterns are supported: a closed loop of workers, an open loop at a
// constant rate, an open loop with Poisson arrivals, and a gap sweep that
// sends sequential requests separated by idle gaps stepped finely across a
// keep-alive timeout. Schedules are pure functions (ConstantOffset,
// PoissonSchedule, SweepGaps); Run only turns them into wall-clock time.
package load

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"time"
)

// Pattern selects how Run paces requests.
type Pattern string

// The load patterns.
const (
	// PatternClosed runs Workers loops: send a request, read the whole
	// response, wait Think, repeat.
	PatternClosed Pattern = "closed"
	// PatternConstant is an open loop: Rate requests per second, evenly
	// spaced, whatever the responses do.
	PatternConstant Pattern = "constant"
	// PatternPoisson is an open loop with exponential inter-arrival times of
	// mean 1/Rate, drawn from a generator seeded with Seed.
	PatternPoisson Pattern = "poisson"
	// PatternGapSweep is one worker sending sequential requests: a priming
	// request, then for each gap of SweepGaps(GapFrom, GapTo, GapStep) it
	// waits that long after the previous response body was fully read and
	// sends the next request; the whole sweep is repeated Passes times.
	PatternGapSweep Pattern = "gap-sweep"
	// PatternAimed is the gap sweep spread over Workers connections of
	// their own, run at once: connection k primes itself, then takes every
	// Workers-th gap of the sweep, from the k-th. One keep-alive period
	// then gives Workers aimed reuses instead of one, which is what finds
	// the race quickly in real time. The round tripper must implement
	// Forker.
	PatternAimed Pattern = "aimed"
)

// Sweeps reports whether p steps idle gaps (gap-sweep, aimed).
func (p Pattern) Sweeps() bool { return p == PatternGapSweep || p == PatternAimed }

// Forker is a round tripper that opens independent ones: each with its own
// connections. Closing them is Run's (when they implement io.Closer or have
// a Close method).
type Forker interface {
	Fork() http.RoundTripper
}

// ParsePattern returns the Pattern named s.
func ParsePattern(s string) (Pattern, error) {
	switch p := Pattern(s); p {
	case PatternClosed, PatternConstant, PatternPoisson, PatternGapSweep, PatternAimed:
		return p, nil
	}
	return "", fmt.Errorf("unknown load pattern %q (want closed, constant, poisson, gap-sweep or aimed)", s)
}

// Defaults applied by Run to zero-valued Config fields.
const (
	DefaultBodySize    = 1024
	DefaultTimeout     = 30 * time.Second
	DefaultMaxInFlight = 10000
)

// Caps: Validate refuses a Config that asks for more, so that no flag or
// scenario file can make the driver take unbounded memory or goroutines.
const (
	// MaxWorkers caps Workers and MaxInFlight: goroutines (and client
	// connections) at once.
	MaxWorkers = 10000
	// MaxRequests caps Requests, and the requests a gap sweep plans: its
	// gaps times Passes, plus the priming request.
	MaxRequests = 1000000
	// MaxRate caps Rate, in requests per second.
	MaxRate = 100000
	// MaxBodySize caps BodySize, in bytes (16 MiB).
	MaxBodySize = 16 << 20
	// MaxDuration caps Duration (a week).
	MaxDuration = 7 * 24 * time.Hour
)

// SweepRequests is the number of requests a gap sweep plans: one priming
// request, then one per gap (from, from+step, ... up to to) per pass
// (passes 0 means 1). It saturates at math.MaxUint64 and is 0 when the
// sweep is invalid (step <= 0 or from > to).
func SweepRequests(from, to, step time.Duration, passes int) uint64 {
	if step <= 0 || from > to {
		return 0
	}
	span := uint64(to) - uint64(from) // to >= from: exact even when to-from overflows int64
	gaps := span/uint64(step) + 1
	p := uint64(max(passes, 1))
	if gaps > (math.MaxUint64-1)/p {
		return math.MaxUint64
	}
	return gaps*p + 1
}

// Config describes one load run. The zero value is not runnable (Target and
// a bound are required) but every other zero field has a usable default.
type Config struct {
	// Target is the absolute http:// (or https://) URL every request goes
	// to. Required.
	Target string
	// Pattern selects the pacing. "" means PatternClosed.
	Pattern Pattern

	// Workers is the number of concurrent workers of the closed loop, and
	// the connections of the aimed pattern. 0 means 1. Ignored by the
	// other patterns.
	Workers int
	// Think is the closed loop's pause after each response. 0 means none.
	Think time.Duration

	// Rate is the open loop's request rate, in requests per second. Must be
	// > 0 for PatternConstant and PatternPoisson; ignored otherwise.
	Rate float64

	// Duration bounds the run in wall-clock time; 0 means no time bound.
	// Closed loop and gap sweep start no request after Duration has
	// elapsed. Open loops send every request scheduled at an offset below
	// Duration, late if need be (see MaxInFlight), and no other.
	Duration time.Duration
	// Requests bounds the number of requests started; 0 means no count
	// bound. At least one of Duration and Requests must be set, except for
	// PatternGapSweep, which is bounded by its gaps.
	Requests int

	// Seed seeds the Poisson schedule and the GET/POST mix. 0 means 1.
	Seed int64

	// GapFrom, GapTo and GapStep define the gap sweep's idle gaps:
	// GapFrom, GapFrom+GapStep, ... up to GapTo inclusive. GapStep must be
	// > 0 and GapFrom <= GapTo for PatternGapSweep; ignored otherwise.
	GapFrom, GapTo, GapStep time.Duration
	// Passes is how many times the gap sweep is repeated. 0 means 1.
	Passes int

	// PostRatio is the fraction, 0..1, of requests sent as POST with a
	// body; the others are GET. Which requests are POST is a deterministic
	// function of Seed and the request's index. 0 means all GET.
	PostRatio float64
	// BodySize is the size of a POST body, in bytes. 0 means 1024.
	BodySize int

	// Timeout bounds each request from its start to the end of its
	// response body. 0 means 30 s.
	Timeout time.Duration
	// MaxInFlight caps the requests outstanding at once in the open loops.
	// 0 means 10000. A request that cannot start on time because of this
	// cap (or because the scheduler ran late) is sent late, never dropped,
	// and counted in Result.Late.
	MaxInFlight int
	// ErrorCause, when set, names the cause of a client error (for example
	// the scenario runner's client-idle-race); "" leaves it uncounted. The
	// counts land in Result.ErrorCauses.
	ErrorCause func(err error) string
	// Progress, when set, is called from a goroutine of its own every
	// ProgressInterval (250 ms) while the run lasts, with the requests
	// finished so far; never after Run returns. nil means none.
	Progress func(Progress)
}

// ProgressInterval is how often Run calls Config.Progress.
const ProgressInterval = 250 * time.Millisecond

// Progress is a run's state so far, for a progress line.
type Progress struct {
	Elapsed   time.Duration // since the run started
	Requests  int           // finished, as Result.Requests
	Succeeded int           // answered 200-399, as Result.Succeeded
	// Planned is the requests the run will send when known (a count
	// bound, or a sweep's gaps), else 0; Duration is Config.Duration.
	Planned  int
	Duration time.Duration
}

// Validate reports the first invalid field of c, by name, as a
// *ConfigError.
func (c Config) Validate() error {
	if c.Target == "" {
		return invalid("target is required")
	}
	if u, err := url.Parse(c.Target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("target %q: want an absolute http:// or https:// URL, like http://127.0.0.1:8080/", c.Target)
	}
	p := c.pattern()
	if _, err := ParsePattern(string(p)); err != nil {
		return invalid("pattern: %v", err)
	}
	ints := []struct {
		name string
		v    int
	}{
		{"workers", c.Workers}, {"requests", c.Requests}, {"passes", c.Passes},
		{"body-size", c.BodySize}, {"max-in-flight", c.MaxInFlight},
	}
	for _, f := range ints {
		if f.v < 0 {
			return invalid("%s must be >= 0, got %d", f.name, f.v)
		}
	}
	caps := []struct {
		name   string
		v, max int
	}{
		{"workers", c.Workers, MaxWorkers}, {"max-in-flight", c.MaxInFlight, MaxWorkers},
		{"requests", c.Requests, MaxRequests}, {"body-size", c.BodySize, MaxBodySize},
	}
	for _, f := range caps {
		if f.v > f.max {
			return invalid("%s must be at most %d, got %d", f.name, f.max, f.v)
		}
	}
	if c.Duration > MaxDuration {
		return invalid("duration must be at most %v, got %v", MaxDuration, c.Duration)
	}
	durs := []struct {
		name string
		v    time.Duration
	}{
		{"think", c.Think}, {"duration", c.Duration}, {"timeout", c.Timeout},
		{"gap-from", c.GapFrom}, {"gap-to", c.GapTo}, {"gap-step", c.GapStep},
	}
	for _, f := range durs {
		if f.v < 0 {
			return invalid("%s must be >= 0, got %v", f.name, f.v)
		}
	}
	switch p {
	case PatternConstant, PatternPoisson:
		if !(c.Rate > 0) {
			return invalid("rate must be > 0 for pattern %s, got %v", p, c.Rate)
		}
		if c.Rate > MaxRate {
			return invalid("rate must be at most %d per second, got %v", MaxRate, c.Rate)
		}
	default:
		if math.IsNaN(c.Rate) || c.Rate < 0 {
			return invalid("rate must be >= 0, got %v", c.Rate)
		}
	}
	if math.IsNaN(c.PostRatio) || c.PostRatio < 0 || c.PostRatio > 1 {
		return invalid("post-ratio must be within 0..1, got %v", c.PostRatio)
	}
	switch p {
	case PatternGapSweep, PatternAimed:
		if c.GapStep <= 0 {
			return invalid("gap-step must be > 0 for pattern %s, got %v", p, c.GapStep)
		}
		if c.GapFrom > c.GapTo {
			return invalid("gap-from (%v) must be <= gap-to (%v)", c.GapFrom, c.GapTo)
		}
		if n := SweepRequests(c.GapFrom, c.GapTo, c.GapStep, c.Passes) + uint64(max(c.Workers, 1)) - 1; n > MaxRequests {
			return invalid("a gap sweep from %v to %v in steps of %v, %d pass(es), plans %d requests; at most %d (widen gap-step or narrow the range)",
				c.GapFrom, c.GapTo, c.GapStep, max(c.Passes, 1), n, MaxRequests)
		}
	}
	if !p.Sweeps() && c.Duration == 0 && c.Requests == 0 {
		return invalid("duration or requests must be set for pattern %s", p)
	}
	return nil
}

// ConfigError is Validate's complaint about a Config. Error is "load: "
// and Msg; Msg alone names the field (target, rate, gap-step, ...) and
// what is wrong, for callers that give their own context (gwsim load, a
// scenario's load section).
type ConfigError struct {
	Msg string
}

func (e *ConfigError) Error() string { return "load: " + e.Msg }

func invalid(format string, args ...any) error {
	return &ConfigError{Msg: fmt.Sprintf(format, args...)}
}

func (c Config) pattern() Pattern {
	if c.Pattern == "" {
		return PatternClosed
	}
	return c.Pattern
}

// withDefaults returns c with its zero-valued fields replaced by defaults.
func (c Config) withDefaults() Config {
	c.Pattern = c.pattern()
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Passes == 0 {
		c.Passes = 1
	}
	if c.BodySize == 0 {
		c.BodySize = DefaultBodySize
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	return c
}
