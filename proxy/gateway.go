package proxy

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Config configures a Gateway. Durations are used as given: the caller
// applies any time scale (Profile.Scaled) first.
type Config struct {
	// Profile is the gateway behaviour; its zero value is not usable: start
	// from LookupProfile.
	Profile Profile
	// Backends are the pool members, host:port, used round robin.
	Backends []string
	// LinkLatency is the one-way delay on gateway↔backend connections (not
	// time-scaled); 0 = none.
	LinkLatency time.Duration
	// LinkJitter adds a random extra delay in [0, LinkJitter) to each chunk
	// on those connections, order kept (not time-scaled); 0 = none.
	LinkJitter time.Duration
	// MaxConnsPerMember bounds connections to one member; 0 = unlimited.
	MaxConnsPerMember int
	// RaceWindow is the longest time from sending on a reused connection to
	// its failure that is classified as the keep-alive race when the
	// backend's own events are not there to say; 0 = two link round trips
	// (4×LinkLatency) + 50 ms of scheduling slack (races against a real
	// Apache on a loaded 2-core machine failed up to 16 ms after the send).
	RaceWindow time.Duration
	// Trace observes the gateway (both sides); nil = none.
	Trace *Trace
	// TimeScale is stated to Trace.Config (the caller has already scaled
	// Profile); 0 = 1.
	TimeScale float64
	// MaxReplayBody is the largest request body buffered so that a retry or
	// a second-member attempt can send it again; 0 = 1 MiB. Larger or
	// chunked bodies are streamed and never replayed.
	MaxReplayBody int64
	// ShutdownGrace is how long Serve lets requests in flight finish once
	// its context ends; those still running then are answered 503 (cause
	// gateway-shutdown) if nothing was sent yet, else cut. 0 = the
	// profile's request time-out, so every request meets its own time-out
	// first.
	ShutdownGrace time.Duration
}

// Gateway is the gateway proxy: an http.Handler that forwards each request
// to a backend member over its Pool and maps failures to the profile's
// statuses, logging each exchange with the V2 access-log fields.
type Gateway struct {
	cfg     Config
	profile atomic.Pointer[Profile] // cfg.Profile, changed live by Update
	pool    *Pool
	log     *zap.Logger
	m       *metrics
	next    atomic.Uint64
	stats   statsRecorder
}

// New validates cfg and builds a gateway. A nil logger logs nothing; a nil
// registerer exports no metrics.
func New(cfg Config, logger *zap.Logger, reg prometheus.Registerer) (*Gateway, error) {
	if err := cfg.Profile.Validate(); err != nil {
		return nil, err
	}
	if cfg.LinkLatency < 0 {
		return nil, fmt.Errorf("link latency must be >= 0, got %s", cfg.LinkLatency)
	}
	if cfg.LinkJitter < 0 {
		return nil, fmt.Errorf("link jitter must be >= 0, got %s", cfg.LinkJitter)
	}
	if cfg.MaxConnsPerMember < 0 {
		return nil, fmt.Errorf("max connections per member must be >= 0, got %d", cfg.MaxConnsPerMember)
	}
	for _, b := range cfg.Backends {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return nil, fmt.Errorf("backend member %q: want host:port", b)
		}
	}
	if cfg.RaceWindow <= 0 {
		cfg.RaceWindow = 4*cfg.LinkLatency + 2*cfg.LinkJitter + 50*time.Millisecond
	}
	if cfg.MaxReplayBody == 0 {
		cfg.MaxReplayBody = 1 << 20
	}
	if cfg.ShutdownGrace < 0 {
		return nil, fmt.Errorf("shutdown grace must be >= 0, got %s", cfg.ShutdownGrace)
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = cfg.Profile.RequestTimeout
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	g := &Gateway{cfg: cfg, log: logger, m: newMetrics(reg, cfg.Profile.Name)}
	p := cfg.Profile
	g.profile.Store(&p)
	g.m.idleTimeout.Set(p.BackendIdleTimeout.Seconds())
	g.stats.init()
	g.pool = NewPool(PoolConfig{
		IdleTimeout:     cfg.Profile.BackendIdleTimeout,
		MaxConnsPerHost: cfg.MaxConnsPerMember,
		Order:           cfg.Profile.PoolOrder,
		LinkLatency:     cfg.LinkLatency,
		LinkJitter:      cfg.LinkJitter,
		Trace:           g.m.poolTrace().Compose(cfg.upstreamTrace()),
	})
	return g, nil
}

// prof is the profile in force.
func (g *Gateway) prof() *Profile { return g.profile.Load() }

// Profile returns the profile in force.
func (g *Gateway) Profile() Profile { return *g.prof() }

// Update puts p in force for requests that start from now on: its backend
// idle timeout (for idle periods that start from now on), request time-out,
// time-out behaviour and retry policy. The client keep-alive and the pool
// order are fixed at start. The change is logged, counted in
// gwsim_proxy_config_changes_total and emitted as a config event.
func (g *Gateway) Update(p Profile) error {
	if err := p.Validate(); err != nil {
		return err
	}
	old := g.prof()
	p.ClientKeepAlive, p.PoolOrder, p.Name = old.ClientKeepAlive, old.PoolOrder, old.Name
	g.profile.Store(&p)
	g.pool.SetIdleTimeout(p.BackendIdleTimeout)
	g.m.idleTimeout.Set(p.BackendIdleTimeout.Seconds())
	g.m.changes.Inc()
	g.log.Info("gateway config changed",
		zap.Duration("old_backend_idle_timeout", old.BackendIdleTimeout), zap.Duration("backend_idle_timeout", p.BackendIdleTimeout),
		zap.String("old_retry", string(old.Retry)), zap.String("retry", string(p.Retry)),
		zap.Duration("request_timeout", p.RequestTimeout), zap.Int("timeout_status", p.TimeoutStatus))
	g.emitConfig("")
	return nil
}

// upstreamTrace is the trace's hooks on the backend pool, if any.
func (cfg *Config) upstreamTrace() PoolTrace {
	if cfg.Trace == nil {
		return PoolTrace{}
	}
	return cfg.Trace.Upstream
}

// emitConfig states the profile in force to the trace.
func (g *Gateway) emitConfig(addr string) {
	if g.cfg.Trace == nil || g.cfg.Trace.Config == nil {
		return
	}
	scale := g.cfg.TimeScale
	if scale == 0 {
		scale = 1
	}
	g.cfg.Trace.Config(ConfigInfo{Addr: addr, Profile: *g.prof(), TimeScale: scale})
}

// RaceWindow is the race window in force (Config.RaceWindow, its default
// applied).
func (g *Gateway) RaceWindow() time.Duration { return g.cfg.RaceWindow }

// Pool returns the gateway's backend pool.
func (g *Gateway) Pool() *Pool { return g.pool }

// hopHeaders are removed in both directions (RFC 9110 §7.6.1).
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func removeHopHeaders(h http.Header) {
	for _, v := range h.Values("Connection") {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				h.Del(f)
			}
		}
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
}

// exchangeLog collects what the access log and the stats say of a request.
type exchangeLog struct {
	start         time.Time
	uri           string // the request target as the client sent it
	member        string
	conn          ConnInfo
	status        int // sent to the client
	serverStatus  int // from the backend; 0 = none
	serverLatency time.Duration
	failure       Failure
	sent          int64
	headBytes     int64 // the request head's size as read
	received      int64 // the request body's bytes read
	retries       int
	rtErr         *RoundTripError
}

// finish logs the exchange and counts it, whatever became of it: every
// request the gateway read (or began to read) gets one log line, one count
// and one Answered event, with the status the client was sent.
func (g *Gateway) finish(fc *frontConn, r *http.Request, x *exchangeLog) {
	taken := time.Since(x.start)
	method, uri := "-", "-"
	if r != nil {
		method, uri = r.Method, x.uri
		if b, ok := r.Body.(*clientBody); ok {
			x.received = b.n
		}
	}
	g.m.response(x.status, x.failure.Cause)
	g.m.duration.Observe(taken.Seconds())
	g.stats.record(x, method)
	if t := g.cfg.Trace; t != nil && t.Answered != nil {
		t.Answered(Answer{Upstream: x.conn, Member: x.member, Peer: fc.remote, Method: method, Status: x.status, Cause: x.failure.Cause, Err: x.rtErr})
	}
	if ce := g.log.Check(zap.InfoLevel, "access"); ce != nil {
		clientIP, clientPort, _ := net.SplitHostPort(fc.remote)
		serverStatus := "-"
		if x.serverStatus != 0 {
			serverStatus = strconv.Itoa(x.serverStatus)
		}
		upstreamPort := "-"
		if _, p, err := net.SplitHostPort(x.conn.Local); err == nil {
			upstreamPort = p
		}
		ce.Write(
			zap.String("clientIP", clientIP),
			zap.String("clientPort", clientPort),
			zap.String("httpMethod", method),
			zap.String("requestUri", uri),
			zap.Int("httpStatus", x.status),
			zap.String("serverStatus", serverStatus),
			zap.String("serverRouted", x.member),
			zap.String("upstreamSourcePort", upstreamPort),
			zap.Float64("timeTaken", taken.Seconds()),
			zap.Float64("serverResponseLatency", x.serverLatency.Seconds()),
			zap.Int64("receivedBytes", x.headBytes+x.received), // as read, head and body (Application Gateway: "size of packet received")
			zap.Int64("sentBytes", x.sent),
			zap.String("error_info", x.failure.ErrorInfo),
			zap.String("cause", x.failure.Cause),
			zap.Uint64("conn_id", x.conn.ID),
			zap.Int("retries", x.retries),
		)
	}
}

// Stats is a snapshot of what the gateway did, for the scenario runner.
type Stats struct {
	Responses map[int]int64            // by status sent (or logged)
	ByMethod  map[string]map[int]int64 // responses by request method, then status
	Causes    map[string]int64         // by cause, failures only
	Retries   int64
	// RacesMet counts every exchange that met the keep-alive race, those
	// the retry policy sent again included: the count, where Failures is a
	// sample.
	RacesMet int64
	// Failures is a sample: the first maxFailureSamples failed exchanges,
	// races included; FailuresDropped counts the failures past it.
	Failures        []FailureSample
	FailuresDropped int64
}

// Races returns the sampled failures that met the keep-alive race, retried
// ones included (RacesMet counts them all).
func (s Stats) Races() []FailureSample {
	var out []FailureSample
	for _, f := range s.Failures {
		if f.Cause == CauseKeepaliveRace {
			out = append(out, f)
		}
	}
	return out
}

// FailureSample is one backend exchange that failed.
type FailureSample struct {
	Cause        string
	At           time.Duration // since the gateway started
	Method       string
	ConnID       uint64
	Member       string
	Local        string        // the gateway's ip:port on the connection
	IdleFor      time.Duration // idle time of the connection when reused
	ConnAge      time.Duration // since it was opened
	ConnRequests int           // exchanges on it, this one included
	Elapsed      time.Duration // from taking the connection to the failure
	Err          string
	Retried      bool // the retry policy sent it again
}

type statsRecorder struct {
	retries   atomic.Int64
	mu        sync.Mutex
	responses map[int]int64
	byMethod  map[string]map[int]int64
	causes    map[string]int64
	failures  []FailureSample
	dropped   int64
	races     int64
	started   time.Time
}

// maxFailureSamples bounds Stats.Failures: a long run keeps its memory.
const maxFailureSamples = 200

func (s *statsRecorder) init() {
	s.responses, s.causes, s.byMethod = map[int]int64{}, map[string]int64{}, map[string]map[int]int64{}
	s.started = time.Now()
}

func (s *statsRecorder) sample(cause string, e *RoundTripError, method string, retried bool) {
	if cause == CauseKeepaliveRace {
		s.races++
	}
	if len(s.failures) >= maxFailureSamples {
		s.dropped++
		return
	}
	s.failures = append(s.failures, FailureSample{
		Cause: cause, At: time.Since(s.started), Method: method, ConnID: e.Conn.ID, Member: e.Addr, Local: e.Conn.Local,
		IdleFor: e.IdleFor, ConnAge: time.Since(e.Conn.Opened), ConnRequests: e.Conn.Requests,
		Elapsed: e.Elapsed, Err: e.Err.Error(), Retried: retried,
	})
}

// recordRetried keeps a failure the gateway sent again, hidden from the
// client.
func (s *statsRecorder) recordRetried(cause string, e *RoundTripError, method string) {
	if e == nil {
		return
	}
	s.mu.Lock()
	s.sample(cause, e, method, true)
	s.mu.Unlock()
}

func (s *statsRecorder) record(x *exchangeLog, method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.responses[x.status]++
	if s.byMethod[method] == nil {
		s.byMethod[method] = map[int]int64{}
	}
	s.byMethod[method][x.status]++
	if x.failure.Cause != CauseNone {
		s.causes[x.failure.Cause]++
	}
	if x.failure.Cause != CauseNone && x.rtErr != nil {
		s.sample(x.failure.Cause, x.rtErr, method, false)
	}
}

// Stats returns a snapshot.
func (g *Gateway) Stats() Stats {
	s := &g.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{
		Responses: maps.Clone(s.responses), Causes: maps.Clone(s.causes), ByMethod: map[string]map[int]int64{},
		Retries: s.retries.Load(), RacesMet: s.races, Failures: append([]FailureSample(nil), s.failures...), FailuresDropped: s.dropped,
	}
	for m, st := range s.byMethod {
		out.ByMethod[m] = maps.Clone(st)
	}
	return out
}
