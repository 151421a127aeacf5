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

	"github.com/gwsim/gwsim/scenarios/event"

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
	cfg Config // validated, defaults resolved
	log *zap.Logger
	m   *metrics

	keepAliveHeader string // "timeout=5" or "" (no Keep-Alive timeout advertised)
	body            []byte // the whole body, or one chunk repeated to ResponseSize
	bodySize        int

	nextID  atomic.Uint64
	serving atomic.Bool
	start   time.Time // Serve start; fault windows are relative to it

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
	kaSeconds := cfg.KeepAliveTimeout.Seconds()
	if cfg.IdleForever {
		kaSeconds = -1
	}
	m, err := newMetrics(reg, kaSeconds)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:   cfg,
		log:   logger,
		m:     m,
		start: time.Now(),
		stats: Stats{Responses: map[int]int64{}},
	}
	s.keepAliveHeader = advertised(cfg)
	s.body, s.bodySize = makeBody(cfg.ResponseSize)
	return s, nil
}

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

// Serve accepts connections on ln and serves them until ctx is done, then
// closes ln and every connection, waits for the connection goroutines and
// returns nil. If Accept fails for good it does the same and returns the
// wrapped error. Serve may be called once per Server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if !s.serving.CompareAndSwap(false, true) {
		return errors.New("backend: Serve called twice")
	}
	s.start = time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopListener := context.AfterFunc(ctx, func() { ln.Close() })
	defer stopListener()

	s.cfg.Events.Emit(event.Event{Actor: event.Backend, Kind: event.Config, Addr: ln.Addr().String(),
		KeepAlive: s.keepAliveForEvents(), CloseStyle: string(s.cfg.Close), RaceTrap: s.cfg.RaceTrap})
	if ce := s.log.Check(zap.InfoLevel, "backend serving"); ce != nil {
		ce.Write(zap.String("addr", ln.Addr().String()),
			zap.Duration("keepalive_timeout", s.cfg.KeepAliveTimeout),
			zap.Bool("idle_forever", s.cfg.IdleForever),
			zap.String("close", string(s.cfg.Close)),
			zap.Bool("race_trap", s.cfg.RaceTrap))
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

// keepAliveForEvents is the keep-alive as config events state it: -1 for no
// limit, 0 for off.
func (s *Server) keepAliveForEvents() time.Duration {
	if s.cfg.IdleForever {
		return -1
	}
	return s.cfg.KeepAliveTimeout
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
	off := t.Sub(s.start)
	for _, f := range s.cfg.Faults {
		if off >= f.Start && off < f.Start+f.Duration {
			return f, true
		}
	}
	return Fault{}, false
}
