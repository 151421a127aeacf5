package scenarios

import (
	"fmt"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/load"
)

// sweepCentre is the gap sweep's nominal centre at scale: gap_around
// scaled, or the backend's keep-alive for backend-close (the runner
// replaces it with the close it measures).
func (s *Scenario) sweepCentre(scale float64) time.Duration {
	if !s.Load.GapAround.BackendClose {
		return proxy.ScaleDuration(s.Load.GapAround.D(), scale)
	}
	b, err := s.backendConfig(scale)
	if err != nil {
		return 0
	}
	return b.KeepAliveTimeout
}

// backendCloses reports whether the backend closes idle keep-alive
// connections after a timeout.
func (s *Scenario) backendCloses() bool {
	if s.Backend.Real() {
		return true // measured before the run; it must close, or the run says so
	}
	b, err := s.backendConfig(1)
	return err == nil && b.KeepAliveTimeout > 0 && !b.IdleForever
}

// profile is the gateway profile with overrides, scaled.
func (s *Scenario) profile(scale float64) (proxy.Profile, error) {
	name := s.Gateway.Preset
	if name == "" {
		name = s.Gateway.Profile
	}
	if name == "" {
		name = DefaultGateway
	}
	p, err := proxy.LookupProfile(name)
	if err != nil {
		return p, err
	}
	g := s.Gateway
	p.BackendIdleTimeout = g.BackendIdleTimeout.or(p.BackendIdleTimeout)
	p.ClientKeepAlive = g.ClientKeepaliveTimeout.or(p.ClientKeepAlive)
	p.RequestTimeout = g.RequestTimeout.or(p.RequestTimeout)
	p.ClientRequestTimeout = g.ClientRequestTimeout.or(p.ClientRequestTimeout)
	if g.Retry != "" {
		if p.Retry, err = proxy.ParseRetryPolicy(g.Retry); err != nil {
			return p, err
		}
	}
	if g.PoolOrder != "" {
		if p.PoolOrder, err = proxy.ParsePoolOrder(g.PoolOrder); err != nil {
			return p, err
		}
	}
	if g.RaceStatus != 0 {
		p.RaceStatus = g.RaceStatus
	}
	if g.TimeoutStatus != 0 {
		p.TimeoutStatus = g.TimeoutStatus
	}
	if g.TimeoutTriesOtherMember != nil {
		p.TimeoutTriesOtherMember = *g.TimeoutTriesOtherMember
	}
	if g.Reuse != "" {
		if p.Reuse, err = proxy.ParseReusePolicy(g.Reuse); err != nil {
			return p, err
		}
	}
	if g.SilentCloseOnLaterRequest != nil {
		p.SilentCloseOnLaterRequest = *g.SilentCloseOnLaterRequest
	}
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p.Scaled(scale), nil
}

// backendConfig is the members' configuration, scaled.
func (s *Scenario) backendConfig(scale float64) (backend.Config, error) {
	b := s.Backend
	var cfg backend.Config
	if b.Real() {
		// What is known of it: the keep-alive declared (0 until measured).
		cfg.KeepAliveTimeout = b.KeepaliveTimeout.or(0)
		return cfg, nil
	}
	if b.Preset != "" {
		var err error
		if cfg, err = backend.Preset(b.Preset); err != nil {
			return cfg, err
		}
	}
	if b.KeepaliveTimeout != nil {
		cfg.KeepAliveTimeout = b.KeepaliveTimeout.D()
		cfg.AdvertisedKeepAlive = 0
		cfg.IdleForever = false
	}
	if b.AdvertisedKeepalive != nil {
		cfg.AdvertisedKeepAlive = b.AdvertisedKeepalive.D()
	}
	cfg.Tick = b.Tick.or(cfg.Tick)
	if b.Advertise != "" {
		var err error
		if cfg.Advertise, err = backend.ParseAdvertiseMode(b.Advertise); err != nil {
			return cfg, err
		}
	}
	if b.KeepaliveOff {
		cfg.KeepAliveTimeout, cfg.AdvertisedKeepAlive, cfg.IdleForever = 0, 0, false
	}
	if b.MaxKeepaliveRequests != nil {
		cfg.MaxKeepAliveRequests = *b.MaxKeepaliveRequests
	}
	if b.Close != "" {
		cs, err := backend.ParseCloseStyle(b.Close)
		if err != nil {
			return cfg, err
		}
		cfg.Close = cs
	}
	cfg.RaceTrap = cfg.RaceTrap || b.RaceTrap
	cfg.Delay = b.Delay.or(cfg.Delay)
	if b.Status != 0 {
		cfg.Status = b.Status
	}
	if b.ResponseSize != 0 {
		cfg.ResponseSize = b.ResponseSize
	}
	for i, f := range b.Faults {
		kind := backend.FaultKind(f.Kind)
		if kind != backend.FaultHang && kind != backend.FaultReset {
			return cfg, fmt.Errorf("faults[%d].kind: unknown fault %q (want hang or reset)", i, f.Kind)
		}
		cfg.Faults = append(cfg.Faults, backend.Fault{Kind: kind, Start: f.Start.D(), Duration: f.Duration.D()})
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg.Scaled(scale), nil
}

// loadConfig is the load driver's configuration against target, scaled.
func (s *Scenario) loadConfig(target string, scale float64) (load.Config, error) {
	l := s.Load
	pattern, err := load.ParsePattern(l.Pattern)
	if l.Pattern == "" {
		pattern, err = DefaultPattern, nil
	}
	if err != nil {
		return load.Config{}, err
	}
	sc := func(d Duration) time.Duration { return proxy.ScaleDuration(d.D(), scale) }
	workers := l.Workers
	if workers == 0 {
		workers = l.Connections
	}
	cfg := load.Config{
		Target: target, Pattern: pattern, Workers: workers, Think: sc(l.Think), Rate: l.Rate,
		Duration: sc(l.Duration), Requests: l.Requests, Seed: l.Seed, Passes: l.Passes,
		PostRatio: l.PostRatio, BodySize: l.BodySize,
	}
	if pattern.Sweeps() {
		centre := s.sweepCentre(scale)
		cfg.GapFrom, cfg.GapTo, cfg.GapStep = centre+l.GapFrom.D(), centre+l.GapTo.D(), l.GapStep.D()
		if cfg.GapFrom < 0 {
			if !s.Backend.Real() || !l.GapAround.BackendClose {
				return cfg, fmt.Errorf("gap_around + gap_from is negative (%s)", cfg.GapFrom)
			}
			cfg.GapFrom, cfg.GapTo = 0, max(cfg.GapTo, 0) // centred on the close measured at run time
		}
	}
	return cfg, cfg.Validate()
}

// clientIdle is the load driver's idle limit, scaled.
func (s *Scenario) clientIdle(scale float64) time.Duration {
	return proxy.ScaleDuration(s.Client.IdleTimeout.or(DefaultClientIdle), scale)
}

// linkLatency is the gateway↔backend one-way latency (physical).
func (s *Scenario) linkLatency() time.Duration {
	return s.Link.Latency.or(DefaultLinkLatency)
}
