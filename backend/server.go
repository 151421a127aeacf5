package backend

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// maxLatenessSamples bounds Stats.IdleCloseLateness.
const maxLatenessSamples = 1000

// Stats are the backend's counters since New.
type Stats struct {
	// Connections is the number of connections accepted.
	Connections int64
	// Requests is the number of requests read completely (headers and body).
	Requests int64
	// Responses counts the responses written, by status.
	Responses map[int]int64
	// IdleCloses counts connections closed because the keep-alive timer
	// expired (or the first-request wait with keep-alive off), race-trap
	// closes included.
	IdleCloses int64
	// TrapCloses counts closes done by the race trap on the arrival of a
	// request on an expired connection.
	TrapCloses int64
	// TrapsArmed counts connections whose keep-alive expired under the race
	// trap: each will be closed, unanswered, by the next request on it.
	TrapsArmed int64
	// MaxRequestCloses counts closes after MaxKeepAliveRequests responses.
	MaxRequestCloses int64
	// KeepAliveOffCloses counts closes after a response with keep-alive off.
	KeepAliveOffCloses int64
	// FaultCloses counts connections closed by a fault window.
	FaultCloses int64
	// BadRequests counts malformed or timed-out requests (answered 400 or 408).
	BadRequests int64
	// IdleCloseLateness holds, for the first 1000 idle closes, the time the
	// FIN/RST was emitted minus the scheduled deadline (time.Now based: it
	// shows timer lateness). For a race-trap close it is the time the expiry
	// was noticed minus the deadline.
	IdleCloseLateness []time.Duration
}

// Server is the toy HTTP/1.1 backend. It runs its own connection loop (not
// net/http.Server) so that keep-alive timing and close style are exact.
type Server struct {
	cur   atomic.Pointer[live] // the configuration in force; swapped by Update
	trace *Trace               // from the Config given to New
	log   *zap.Logger
	m     *metrics

	nextID  atomic.Uint64
	serving atomic.Bool
	started atomic.Pointer[time.Time] // Serve start (New until then); fault windows are relative to it

	mu    sync.Mutex
	stats Stats

	// Test hooks, nil outside tests. onTrapArmed is called when the race
	// trap marks a connection expired; onRequest when a request's first
	// byte arrived.
	onTrapArmed func()
	onRequest   func()
}

// New validates cfg and returns a Server. A nil logger logs nothing; a nil
// reg registers no metrics.
func New(cfg Config, logger *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	cfg = cfg.withDefaults()
	cfg.Faults = slices.Clone(cfg.Faults)
	m, err := newMetrics(reg, keepAliveSeconds(cfg))
	if err != nil {
		return nil, err
	}
	s := &Server{
		trace: cfg.Trace,
		log:   logger,
		m:     m,
		stats: Stats{Responses: map[int]int64{}},
	}
	s.cur.Store(newLive(cfg))
	now := time.Now()
	s.started.Store(&now)
	return s, nil
}

// live is one configuration in force, with what is derived from it. It is
// never modified once stored: Update stores a new one, so a connection that
// loaded it sees one consistent configuration for a step.
type live struct {
	cfg             Config // validated, defaults resolved
	keepAliveHeader string // "timeout=5" or "" (no Keep-Alive timeout advertised)
	body            []byte // the whole body, or one chunk repeated to ResponseSize
	bodySize        int
}

func newLive(cfg Config) *live {
	lv := &live{cfg: cfg, keepAliveHeader: advertised(cfg)}
	lv.body, lv.bodySize = makeBody(cfg.ResponseSize)
	return lv
}

// now is the configuration in force.
func (s *Server) now() *live { return s.cur.Load() }

// Config returns the configuration in force (defaults resolved).
func (s *Server) Config() Config { return s.now().cfg }

// Update validates cfg and puts it in force. In-flight requests finish
// under the configuration they started with; every idle period that starts
// afterwards uses the new keep-alive, close style and limits; fault windows
// stay relative to the moment Serve started. The change is logged, counted
// in gwsim_backend_config_changes_total and emitted as a config event.
func (s *Server) Update(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	cfg.Faults = slices.Clone(cfg.Faults)
	cfg.Trace = s.trace
	old := s.now().cfg
	s.cur.Store(newLive(cfg))
	s.m.keepAlive.Set(keepAliveSeconds(cfg))
	s.m.changes.Inc()
	s.log.Info("backend config changed",
		zap.Duration("old_keepalive_timeout", old.KeepAliveTimeout), zap.Duration("keepalive_timeout", cfg.KeepAliveTimeout),
		zap.Bool("idle_forever", cfg.IdleForever), zap.Int("max_keepalive_requests", cfg.MaxKeepAliveRequests),
		zap.String("close", string(cfg.Close)), zap.Duration("delay", cfg.Delay), zap.Int("faults", len(cfg.Faults)))
	s.emitConfig("")
	return nil
}

// Elapsed is the time since Serve started (fault windows count from there).
func (s *Server) Elapsed() time.Duration { return time.Since(s.start()) }

// start is when Serve started (when New ran, before that).
func (s *Server) start() time.Time { return *s.started.Load() }

// emitConfig states the configuration in force to the trace.
func (s *Server) emitConfig(addr string) {
	cfg := s.now().cfg
	if s.trace != nil && s.trace.Config != nil {
		s.trace.Config(ConfigInfo{At: time.Now(), Addr: addr, KeepAlive: s.keepAliveForEvents(), Close: cfg.Close, RaceTrap: cfg.RaceTrap})
	}
}

func keepAliveSeconds(cfg Config) float64 {
	if cfg.IdleForever {
		return -1
	}
	return cfg.KeepAliveTimeout.Seconds()
}

// TimeoutParam is the `Keep-Alive` header's timeout parameter
// ("timeout=5"), or "" when no timeout is stated; Advertise says when the
// header is sent.
func (c Config) TimeoutParam() string { return advertised(c) }

// advertised returns the `Keep-Alive` timeout parameter, or "".
func advertised(cfg Config) string {
	adv := cfg.AdvertisedKeepAlive
	if adv == 0 && !cfg.IdleForever {
		adv = cfg.KeepAliveTimeout
	}
	if adv <= 0 {
		return ""
	}
	secs := int64(adv / time.Second)
	if secs < 1 {
		secs = 1
	}
	return fmt.Sprintf("timeout=%d", secs)
}

// Start serves on a new listener at addr ("127.0.0.1:0": any free
// loopback port) in the background, and returns the address it listens
// on and a stop function that ends serving and waits until it has. For
// probes, in-process runs and tests that need a backend and not its
// listener.
func (s *Server) Start(addr string) (net.Addr, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("backend: listen on %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ctx, ln) }()
	return ln.Addr(), func() { cancel(); <-done }, nil
}

// Serve accepts connections on ln and serves them until ctx is done, then
// closes ln and every connection, waits for the connection goroutines and
// returns nil. If Accept fails for good it does the same and returns the
// wrapped error. Serve may be called once per Server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if !s.serving.CompareAndSwap(false, true) {
		return errors.New("backend: Serve called twice")
	}
	now := time.Now()
	s.started.Store(&now)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopListener := context.AfterFunc(ctx, func() { ln.Close() })
	defer stopListener()

	s.emitConfig(ln.Addr().String())
	if ce := s.log.Check(zap.InfoLevel, "backend serving"); ce != nil {
		cfg := s.now().cfg
		ce.Write(zap.String("addr", ln.Addr().String()),
			zap.Duration("keepalive_timeout", cfg.KeepAliveTimeout),
			zap.Bool("idle_forever", cfg.IdleForever),
			zap.String("close", string(cfg.Close)),
			zap.Bool("race_trap", cfg.RaceTrap))
	}

	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
		err   error
		delay time.Duration // backoff after a temporary Accept error
	)
	for {
		nc, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() != nil {
				break
			}
			var te interface{ Temporary() bool }
			if errors.As(aerr, &te) && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("backend accept", zap.Error(aerr), zap.Duration("retry_in", delay))
				if sleepCtx(ctx, delay) {
					continue
				}
				break
			}
			err = fmt.Errorf("backend: accept on %s: %w", ln.Addr(), aerr)
			break
		}
		delay = 0
		mu.Lock()
		conns[nc] = struct{}{}
		mu.Unlock()
		wg.Go(func() {
			defer func() {
				mu.Lock()
				delete(conns, nc)
				mu.Unlock()
			}()
			s.serveConn(ctx, nc)
		})
	}
	cancel()
	ln.Close()
	mu.Lock()
	for nc := range conns {
		nc.Close()
	}
	mu.Unlock()
	wg.Wait()
	return err
}

// keepAliveForEvents is the keep-alive as the trace states it: -1 for no
// limit, 0 for off.
func (s *Server) keepAliveForEvents() time.Duration {
	cfg := s.now().cfg
	if cfg.IdleForever {
		return -1
	}
	return cfg.KeepAliveTimeout
}

// sleepCtx waits for d; it reports false if ctx was done first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Responses = maps.Clone(s.stats.Responses)
	st.IdleCloseLateness = slices.Clone(s.stats.IdleCloseLateness)
	return st
}

// update applies f to the counters under the lock.
func (s *Server) update(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// faultAt returns the fault whose window contains t, if any.
func (s *Server) faultAt(t time.Time) (Fault, bool) {
	off := t.Sub(s.start())
	for _, f := range s.now().cfg.Faults {
		if off >= f.Start && off < f.Start+f.Duration {
			return f, true
		}
	}
	return Fault{}, false
}
