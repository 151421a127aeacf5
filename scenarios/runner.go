package scenarios

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/event"
	"github.com/gwsim/gwsim/scenarios/explain"
	"github.com/gwsim/gwsim/scenarios/load"
)

// Options control a run.
type Options struct {
	// TimeScale overrides every scenario's own time_scale when > 0.
	TimeScale float64
	// Parallel is how many scenarios run at once; 0 = all.
	Parallel int
	// Logger receives the actors' logs; nil = none.
	Logger *zap.Logger
	// Events, when set, also receives every event of every scenario
	// (labelled with its name), e.g. a journal.
	Events event.Sink
	// Repeat runs an inconclusive scenario again, up to this many times,
	// until its outcome is pass or fail; 0 = never.
	Repeat int
	// AutoScale raises each scenario's time scale (ignored when TimeScale
	// is set) until its shortest timer is well above the timer lateness
	// measured on this machine before the runs (see AutoScale), so that a
	// busy machine gives slower runs instead of inconclusive ones.
	AutoScale bool

	lateness time.Duration // measured once by RunAll for AutoScale
	// holdEvents: Run leaves its events in Result.events for RunAll to
	// send to Events once the last attempt is known.
	holdEvents bool
}

// maxSweepShift is the most a gap sweep centred on the backend's close is
// widened toward the close measured before the run.
const maxSweepShift = 10 * time.Millisecond

// autoProbe is how long the machine's lateness is measured for AutoScale.
const autoProbe = 300 * time.Millisecond

// Result is the outcome of one scenario.
type Result struct {
	Scenario *Scenario
	Pass     bool
	// Outcome is OutcomePass, OutcomeFail or OutcomeInconclusive (a
	// failure the machine's timing could have caused; see Timing);
	// InconclusiveReason says why, with the figures.
	Outcome            string
	InconclusiveReason string
	// Attempts is how many times the scenario ran (more than 1 when
	// Options.Repeat re-ran an inconclusive outcome; this is the last).
	Attempts int
	// Timing is the lateness measured during the run and the margin the
	// answer depends on.
	Timing         Timing
	Failures       []string // expectations that did not hold
	Err            error    // the scenario could not run
	TimeScale      float64
	Profile        proxy.Profile  // scaled, with overrides
	Backend        backend.Config // scaled, with overrides
	LinkLatency    time.Duration
	Requests       int64
	Status         map[int]int64            // as the client saw them
	StatusByMethod map[string]map[int]int64 // as the gateway sent them
	Causes         map[string]int64         // gateway failure causes plus client-idle-race
	ClientErrors   map[string]int64
	Retries        int64
	First502       time.Duration // -1 when none
	Wall           time.Duration
	Load           *load.Result
	Gateway        proxy.Stats
	Backends       []backend.Stats
	// Analysis joins the actors' events: every failure explained.
	Analysis *explain.Analysis
	// BackendOutput and GatewayOutput are the last 64 KiB a backend or a
	// gateway gwsim started (command) wrote, shown when the scenario fails.
	BackendOutput, GatewayOutput string

	events []event.Event // the run's events, until sent to Options.Events
}

// MainCause is the most frequent cause ("" when none).
func (r *Result) MainCause() string {
	best, n := "", int64(0)
	for c, v := range r.Causes {
		if v > n || (v == n && c < best) {
			best, n = c, v
		}
	}
	return best
}

// RunAll runs the scenarios, opt.Parallel at a time, and returns their
// results in the order given.
func RunAll(ctx context.Context, list []*Scenario, opt Options) []*Result {
	par := opt.Parallel
	if par <= 0 || par > len(list) {
		par = len(list)
	}
	sem := make(chan struct{}, max(par, 1))
	out := make([]*Result, len(list))
	if opt.TimeScale <= 0 && (opt.AutoScale || slices.ContainsFunc(list, func(s *Scenario) bool { return s.TimeScale.Auto })) {
		opt.lateness = MachineLateness(ctx, autoProbe)
	}
	var wg sync.WaitGroup
	for i, s := range list {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			// Only the last attempt's events reach opt.Events, so that a
			// journal explains the attempt the report shows.
			held := opt
			held.holdEvents = true
			r, attempts := Run(ctx, s, held), 1
			for range opt.Repeat {
				// A load that cannot show the race (Timing.Unproven) will
				// not show it on a second try.
				if r.Outcome != OutcomeInconclusive || r.Timing.Unproven != "" || ctx.Err() != nil {
					break
				}
				r, attempts = Run(ctx, s, held), attempts+1
			}
			r.Attempts = attempts
			r.sendEvents(opt.Events)
			out[i] = r
		})
	}
	wg.Wait()
	return out
}

// Run runs one scenario in-process on loopback: its backend members, the
// gateway in front of them and the load driver through the gateway. It
// always returns a Result; Err says when the scenario could not run.
func Run(ctx context.Context, s *Scenario, opt Options) *Result {
	start := time.Now()
	scale := s.Scale()
	switch {
	case opt.TimeScale > 0:
		scale = opt.TimeScale
	case s.Backend.Real() || s.Gateway.Real():
		scale = 1 // real time
	case opt.AutoScale || s.TimeScale.Auto:
		if opt.lateness == 0 {
			opt.lateness = MachineLateness(ctx, autoProbe)
		}
		scale = AutoScale(s, opt.lateness)
	}
	r := &Result{Scenario: s, TimeScale: scale, First502: -1, LinkLatency: s.linkLatency(),
		Status: map[int]int64{}, Causes: map[string]int64{}, ClientErrors: map[string]int64{}}
	if (s.Backend.Real() || s.Gateway.Real()) && opt.TimeScale > 0 && opt.TimeScale != 1 {
		r.Err = errRealScale
	} else {
		r.Err = run(ctx, s, opt, scale, r)
	}
	r.Wall = time.Since(start)
	if r.Err == nil {
		r.Failures = s.Expect.check(r)
		r.Outcome, r.InconclusiveReason = outcome(r.Failures, r.Timing)
		r.Pass = r.Outcome == OutcomePass
	}
	if !opt.holdEvents {
		r.sendEvents(opt.Events)
	}
	return r
}

// sendEvents sends the run's events to sink (if set), once.
func (r *Result) sendEvents(sink event.Sink) {
	if sink != nil {
		for _, e := range r.events {
			sink(e)
		}
	}
	r.events = nil
}

func run(ctx context.Context, s *Scenario, opt Options, scale float64, r *Result) error {
	start := time.Now()
	log := opt.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("scenario", s.Name))
	var err error
	if r.Profile, err = s.profile(scale); err != nil {
		return err
	}
	if r.Backend, err = s.backendConfig(scale); err != nil {
		return err
	}
	var rec event.Recorder
	record := rec.Sink()
	defer func() { // also when the run fails
		if r.events == nil {
			r.events = rec.Events()
		}
	}()
	sink := event.Sink(func(e event.Event) {
		e.Scenario = s.Name
		record(e)
	})
	r.Backend.Trace = event.BackendTrace(sink)
	actx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()

	members := max(s.Gateway.Members, 1)
	var addrs []string
	var backends []*backend.Server
	var rb *realActor
	if s.Backend.Real() {
		rb, err = startReal(ctx, "backend", s.Backend.URL, s.Backend.Command, s.Backend.Env, s.Backend.ReadyTimeout)
		if err != nil {
			return err
		}
		defer func() { rb.stop(); r.BackendOutput = rb.out.String() }()
		addrs, members = []string{rb.addr}, 0
		if err := r.measureRealClose(ctx, rb); err != nil {
			return err
		}
	}
	for i := 0; i < members; i++ {
		srv, err := backend.New(r.Backend, log.Named(fmt.Sprintf("backend%d", i)), nil)
		if err != nil {
			return err
		}
		addr := "127.0.0.1:0"
		if s.Backend.Listen != "" {
			addr = s.Backend.Listen // where a real gateway's configuration points
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen for backend on %s: %w", addr, err)
		}
		addrs = append(addrs, ln.Addr().String())
		backends = append(backends, srv)
		wg.Go(func() { _ = srv.Serve(actx, ln) })
	}
	// The race window's slack for scheduling (50 ms by default) grows
	// with the lateness measured on this machine when the scale is
	// automatic: a late goroutine must not turn a race into a "reset".
	var raceWindow time.Duration
	if opt.lateness > 0 {
		raceWindow = 4*r.LinkLatency + 2*s.Link.Jitter.D() + max(50*time.Millisecond, autoScaleFactor*opt.lateness)
	}
	var gw *proxy.Gateway
	target := s.Gateway.URL
	if s.Gateway.Real() {
		rg, err := startReal(ctx, "gateway", s.Gateway.URL, s.Gateway.Command, s.Gateway.Env, s.Gateway.ReadyTimeout)
		if err != nil {
			return err
		}
		defer func() { rg.stop(); r.GatewayOutput = rg.out.String() }()
	} else {
		gw, err = proxy.New(proxy.Config{Profile: r.Profile, Backends: addrs, LinkLatency: r.LinkLatency, LinkJitter: s.Link.Jitter.D(),
			Trace: event.GatewayTrace(sink), TimeScale: scale, RaceWindow: raceWindow}, log.Named("gateway"), nil)
		if err != nil {
			return err
		}
		gln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("listen for gateway: %w", err)
		}
		wg.Go(func() { _ = gw.Serve(actx, gln) })
		target = "http://" + gln.Addr().String() + "/"
	}

	lcfg, err := s.loadConfig(target, scale)
	if err != nil {
		return err
	}
	around := s.sweepCentre(scale)
	switch {
	case lcfg.Pattern.Sweeps() && s.Load.GapAround.BackendClose && rb != nil:
		// A real backend's close is what was measured: the sweep is
		// centred on it.
		around = r.Timing.BackendClose
		lcfg.GapFrom, lcfg.GapTo = max(around+s.Load.GapFrom.D(), 0), around+s.Load.GapTo.D()
		if err := lcfg.Validate(); err != nil {
			return err
		}
	case lcfg.Pattern.Sweeps() && s.Load.GapAround.BackendClose:
		// Centre the sweep on the close this backend makes on this
		// machine now, not the nominal one: a late timer moves the race.
		measured, err := measureBackendClose(ctx, r.Backend)
		if err != nil {
			// Too slow a machine for this scale to tell: sweep around
			// the nominal close; the outcome weighs the lateness.
			log.Warn("sweeping around the nominal keep-alive", zap.Error(err))
			measured = around
		}
		r.Timing.BackendClose, r.Timing.BackendKeepAlive = measured, around
		// Widen the sweep to cover both the nominal close and the
		// measured one (a measurement on a busy machine can be off by
		// more than the race window; the nominal close is exact when
		// nothing is late), up to maxSweepShift either way.
		shift := min(max(measured-around, -maxSweepShift), maxSweepShift)
		lcfg.GapFrom, lcfg.GapTo = max(lcfg.GapFrom+min(shift, 0), 0), lcfg.GapTo+max(shift, 0)
		around += shift / 2
		if err := lcfg.Validate(); err != nil {
			return err
		}
	}
	ccfg := proxy.PoolConfig{IdleTimeout: s.clientIdle(scale), LinkLatency: s.Client.Latency.D(), Trace: event.PoolTrace(sink, event.Client, "")}
	if lcfg.Pattern == load.PatternConstant || lcfg.Pattern == load.PatternPoisson {
		ccfg.MaxConnsPerHost = s.Load.Connections // open loop: requests wait for one of these; late ones are counted
	}
	client := proxy.NewPool(ccfg)
	defer client.Close()
	pctx, stopProbe := context.WithCancel(ctx)
	probe := startLatenessProbe(pctx)
	lr, err := load.Run(ctx, lcfg, client, nil)
	stopProbe()
	r.Timing.LatenessP99, r.Timing.LatenessMax = probe.result()
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	stop()
	wg.Wait()

	r.Load = lr
	r.Requests = int64(lr.Requests)
	r.First502 = lr.First502
	for k, v := range lr.Status {
		r.Status[k] = int64(v)
	}
	for k, v := range lr.ClientErrors {
		r.ClientErrors[k] = int64(v)
	}
	var gatewayWindow time.Duration
	if gw != nil {
		r.Gateway, gatewayWindow = gw.Stats(), gw.RaceWindow()
		r.StatusByMethod = r.Gateway.ByMethod
		r.Retries = r.Gateway.Retries
	}
	events := rec.Events()
	r.events = events
	ev := explain.FromEvents(events)
	if rb != nil {
		// A real backend leaves no events: what is known of its
		// keep-alive is the close measured before the run.
		ev.Backend = explain.BackendSettings{Known: true, KeepAlive: r.Backend.KeepAliveTimeout}
	}
	r.Analysis = explain.Explain(ev)
	r.Timing.LongestIdle = longestIdle(events)
	r.Analysis.Start = start
	r.Causes = r.Analysis.Causes
	for _, b := range backends {
		st := b.Stats()
		r.Backends = append(r.Backends, st)
		for _, l := range st.IdleCloseLateness {
			r.Timing.BackendTimerMax = max(r.Timing.BackendTimerMax, l)
		}
	}
	keepAlive := r.Backend.KeepAliveTimeout
	if r.Backend.IdleForever {
		keepAlive = 0
	}
	r.Timing.Margin, r.Timing.MarginWhat = margin(s, r.Profile, keepAlive, gatewayWindow, scale, r.Causes, around)
	r.Timing.Unproven = unproven(s, r.Profile, keepAlive, r.LinkLatency, r.Timing.LongestIdle)
	return nil
}
