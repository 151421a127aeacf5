package scenarios

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/load"
)

// check applies the defaults and every rule of the schema.
func (s *Scenario) check() error {
	if s.pos.has("time_scale") && s.TimeScale.Factor == 0 && !s.TimeScale.Auto {
		return timeScaleError(0)
	}
	if s.pos.has("gateway.members") && s.Gateway.Members == 0 {
		return ferr("gateway.members", "want 1..%d, got 0", MaxMembers)
	}
	if g := s.Gateway; g.Preset != "" && g.Profile != "" && g.Preset != g.Profile {
		return ferr("gateway.profile", "is the older name of gateway.preset; give one of the two (preset %q, profile %q)", g.Preset, g.Profile)
	}
	s.applyDefaults()
	if s.Name == "" {
		return ferr("name", "required")
	}
	if !s.TimeScale.Auto && !ValidTimeScale(s.TimeScale.Factor) {
		return timeScaleError(s.TimeScale.Factor)
	}
	checks := []func() error{s.checkGateway, s.checkBackend, s.checkNetwork, s.checkLoad}
	if s.settingsOnly {
		checks = checks[:3] // no load section, and none needed
	}
	for _, f := range checks {
		if err := f(); err != nil {
			return err
		}
	}
	return s.Expect.validate(s)
}

// MinPlannedRequests is the fewest requests an open-loop load bound by
// duration may plan (rate × scaled duration).
const MinPlannedRequests = 20

// ValidTimeScale reports whether f is a time scale gwsim runs at:
// MinTimeScale <= f <= MaxTimeScale (so neither NaN nor infinite).
func ValidTimeScale(f float64) bool {
	return f >= MinTimeScale && f <= MaxTimeScale
}

func timeScaleError(f float64) error {
	return ferr("time_scale", "want %g <= time_scale <= %g, got %g", MinTimeScale, MaxTimeScale, f)
}

func (s *Scenario) checkGateway() error {
	g := s.Gateway
	if g.Real() || len(g.Command) > 0 || len(g.Env) > 0 || g.ReadyTimeout != nil {
		if err := s.checkRealGateway(); err != nil {
			return err
		}
	}
	field := "gateway.preset"
	if !s.pos.has(field) && s.pos.has("gateway.profile") {
		field = "gateway.profile"
	}
	if _, err := proxy.LookupProfile(g.Preset); err != nil {
		return ferr(field, "%v%s", err, didYouMean(g.Preset, proxy.ProfileNames()))
	}
	if g.Members < 1 || g.Members > MaxMembers {
		return ferr("gateway.members", "want 1..%d, got %d", MaxMembers, g.Members)
	}
	durs := []struct {
		field string
		d     *Duration
		min   time.Duration
	}{
		{"gateway.backend_idle_timeout", g.BackendIdleTimeout, 0},
		{"gateway.client_keepalive_timeout", g.ClientKeepaliveTimeout, 0},
		{"gateway.request_timeout", g.RequestTimeout, 1},
		{"gateway.client_request_timeout", g.ClientRequestTimeout, 0},
	}
	for _, d := range durs {
		if d.d != nil && d.d.D() < d.min {
			return ferr(d.field, "must be %s, got %s", map[time.Duration]string{0: ">= 0", 1: "> 0"}[d.min], d.d.D())
		}
	}
	if g.Retry != "" {
		if _, err := proxy.ParseRetryPolicy(g.Retry); err != nil {
			return ferr("gateway.retry", "%v", err)
		}
	}
	if g.PoolOrder != "" {
		if _, err := proxy.ParsePoolOrder(g.PoolOrder); err != nil {
			return ferr("gateway.pool_order", "%v", err)
		}
	}
	if s.pos.has("gateway.reuse") {
		if _, err := proxy.ParseReusePolicy(g.Reuse); err != nil || g.Reuse == "" {
			return ferr("gateway.reuse", "unknown reuse policy %q (want always or safe)", g.Reuse)
		}
	}
	for _, st := range []struct {
		field string
		v     int
	}{{"gateway.race_status", g.RaceStatus}, {"gateway.timeout_status", g.TimeoutStatus}} {
		if s.pos.has(st.field) && (st.v < 400 || st.v > 599) {
			// The gateway's own answer is an error status (proxy.Profile.Validate).
			return ferr(st.field, "want an error status 400..599, got %d", st.v)
		}
	}
	if _, err := s.profile(1); err != nil {
		return ferr("gateway", "%v", err)
	}
	return nil
}

func (s *Scenario) checkBackend() error {
	b := s.Backend
	if b.Real() || len(b.Command) > 0 || len(b.Env) > 0 || b.ReadyTimeout != nil {
		return s.checkRealBackend()
	}
	if b.Preset != "" {
		if _, err := backend.Preset(b.Preset); err != nil {
			return ferr("backend.preset", "%v%s", err, didYouMean(b.Preset, backend.PresetNames()))
		}
	}
	if b.Listen != "" {
		if _, port, err := net.SplitHostPort(b.Listen); err != nil || port == "" || port == "0" {
			return ferr("backend.listen", "want host:port with a fixed port, like 127.0.0.1:8081, got %q", b.Listen)
		}
		if s.Gateway.Members > 1 {
			return ferr("backend.listen", "is one address: gateway.members must be 1, got %d", s.Gateway.Members)
		}
	}
	if b.KeepaliveOff && b.KeepaliveTimeout != nil {
		return ferr("backend.keepalive_off", "keepalive_timeout is set too: give one of the two (keepalive_timeout: 0 also turns keep-alive off)")
	}
	if b.KeepaliveTimeout != nil && b.KeepaliveTimeout.D() < 0 {
		return ferr("backend.keepalive_timeout", "must be >= 0 (0 = keep-alive off), got %s", b.KeepaliveTimeout.D())
	}
	if b.AdvertisedKeepalive != nil && b.AdvertisedKeepalive.D() < 0 {
		return ferr("backend.advertised_keepalive", "must be >= 0, got %s", b.AdvertisedKeepalive.D())
	}
	if b.Advertise != "" {
		if _, err := backend.ParseAdvertiseMode(b.Advertise); err != nil {
			return ferr("backend.advertise", "%v", err)
		}
	}
	if b.Tick != nil && b.Tick.D() < 0 {
		return ferr("backend.tick", "must be >= 0 (0 = no tick), got %s", b.Tick.D())
	}
	if b.MaxKeepaliveRequests != nil && *b.MaxKeepaliveRequests < 0 {
		return ferr("backend.max_keepalive_requests", "must be >= 0 (0 = unlimited), got %d", *b.MaxKeepaliveRequests)
	}
	if b.Close != "" {
		if _, err := backend.ParseCloseStyle(b.Close); err != nil {
			return ferr("backend.close", "%v", err)
		}
	}
	if b.Delay != nil && b.Delay.D() < 0 {
		return ferr("backend.delay", "must be >= 0, got %s", b.Delay.D())
	}
	if b.Status != 0 && (b.Status < 100 || b.Status > 599) {
		return ferr("backend.status", "want a status 100..599, got %d", b.Status)
	}
	if b.ResponseSize < 0 {
		return ferr("backend.response_size", "must be >= 0, got %d", b.ResponseSize)
	}
	for i, f := range b.Faults {
		p := fmt.Sprintf("backend.faults[%d]", i)
		if k := backend.FaultKind(f.Kind); k != backend.FaultHang && k != backend.FaultReset {
			return ferr(p+".kind", "unknown fault %q (want hang or reset)", f.Kind)
		}
		if f.Start < 0 {
			return ferr(p+".start", "must be >= 0, got %s", f.Start.D())
		}
		if f.Duration <= 0 {
			return ferr(p+".duration", "must be > 0, got %s", f.Duration.D())
		}
	}
	cfg, err := s.backendConfig(1)
	if err != nil {
		return ferr("backend", "%v", err)
	}
	if b.RaceTrap && !cfg.IdleForever && cfg.KeepAliveTimeout == 0 {
		return ferr("backend.race_trap", "needs keep-alive, but keep-alive is off")
	}
	return nil
}

func (s *Scenario) checkNetwork() error {
	if d := s.linkLatency(); d < 0 {
		return ferr("link.latency", "must be >= 0, got %s", d)
	}
	if s.Link.Jitter < 0 {
		return ferr("link.jitter", "must be >= 0, got %s", s.Link.Jitter.D())
	}
	if s.Client.Latency < 0 {
		return ferr("client.latency", "must be >= 0, got %s", s.Client.Latency.D())
	}
	if d := s.Client.IdleTimeout.D(); d < 0 {
		return ferr("client.idle_timeout", "must be >= 0 (0 = no limit), got %s", d)
	}
	if len(s.Client.Methods) > 0 {
		if s.pos.has("load.post_ratio") {
			return ferr("client.methods", "load.post_ratio is set too: give one of the two")
		}
		total := 0.0
		for m, w := range s.Client.Methods {
			if m != "GET" && m != "POST" {
				return ferr("client.methods", "method %q: only GET and POST are sent", m)
			}
			if math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
				return ferr("client.methods", "weight of %s must be a number >= 0, got %g", m, w)
			}
			total += w
		}
		if !(total > 0) || math.IsInf(total, 0) {
			return ferr("client.methods", "the weights must add up to more than 0")
		}
	}
	return nil
}

func (s *Scenario) checkLoad() error {
	l := s.Load
	pattern, err := load.ParsePattern(l.Pattern)
	if err != nil {
		return ferr("load.pattern", "%v", err)
	}
	only := func(field string, set bool, patterns ...load.Pattern) error {
		if !set {
			return nil
		}
		for _, p := range patterns {
			if p == pattern {
				return nil
			}
		}
		names := make([]string, len(patterns))
		for i, p := range patterns {
			names[i] = string(p)
		}
		return ferr("load."+field, "does not apply to pattern %s (only to %s)", pattern, strings.Join(names, ", "))
	}
	open := []load.Pattern{load.PatternConstant, load.PatternPoisson}
	sweep := []load.Pattern{load.PatternGapSweep, load.PatternAimed}
	for _, c := range []struct {
		field    string
		set      bool
		patterns []load.Pattern
	}{
		{"workers", s.pos.has("load.workers"), []load.Pattern{load.PatternClosed}},
		{"connections", s.pos.has("load.connections"), append([]load.Pattern{load.PatternClosed, load.PatternAimed}, open...)},
		{"think", s.pos.has("load.think"), []load.Pattern{load.PatternClosed}},
		{"rate", s.pos.has("load.rate"), open},
		{"gap_around", s.pos.has("load.gap_around"), sweep},
		{"gap_from", s.pos.has("load.gap_from"), sweep},
		{"gap_to", s.pos.has("load.gap_to"), sweep},
		{"gap_step", s.pos.has("load.gap_step"), sweep},
		{"passes", s.pos.has("load.passes"), sweep},
	} {
		if err := only(c.field, c.set, c.patterns...); err != nil {
			return err
		}
	}
	if l.Workers != 0 && l.Connections != 0 && l.Workers != l.Connections {
		return ferr("load.connections", "is the closed loop's workers; workers is %d: give one of the two", l.Workers)
	}
	ints := []struct {
		field string
		v     int
	}{{"workers", l.Workers}, {"connections", l.Connections}, {"requests", l.Requests}, {"passes", l.Passes}, {"body_size", l.BodySize}}
	for _, f := range ints {
		if f.v < 0 {
			return ferr("load."+f.field, "must be >= 0, got %d", f.v)
		}
	}
	caps := []struct {
		field  string
		v, max int
	}{{"connections", l.Connections, load.MaxWorkers}, {"workers", l.Workers, load.MaxWorkers}, // connections first: it sets workers
		{"requests", l.Requests, load.MaxRequests}, {"body_size", l.BodySize, load.MaxBodySize}}
	for _, f := range caps {
		if f.v > f.max {
			return ferr("load."+f.field, "must be at most %d, got %d", f.max, f.v)
		}
	}
	if l.Duration.D() > load.MaxDuration {
		return ferr("load.duration", "must be at most %s, got %s", load.MaxDuration, l.Duration.D())
	}
	for _, f := range []struct {
		field string
		d     Duration
	}{{"think", l.Think}, {"duration", l.Duration}, {"gap_around", l.GapAround.Duration}, {"gap_step", l.GapStep}} {
		if f.d < 0 {
			return ferr("load."+f.field, "must be >= 0, got %s", f.d.D())
		}
	}
	switch pattern {
	case load.PatternConstant, load.PatternPoisson:
		if !(l.Rate > 0) || math.IsInf(l.Rate, 0) {
			return ferr("load.rate", "must be a number > 0 for pattern %s, got %g", pattern, l.Rate)
		}
		if l.Rate > load.MaxRate {
			return ferr("load.rate", "must be at most %d per second, got %g", load.MaxRate, l.Rate)
		}
	case load.PatternGapSweep, load.PatternAimed:
		if l.GapStep <= 0 {
			return ferr("load.gap_step", "must be > 0 for pattern %s, got %s", pattern, l.GapStep.D())
		}
		if l.GapFrom > l.GapTo {
			return ferr("load.gap_from", "must be <= gap_to (%s), got %s", l.GapTo.D(), l.GapFrom.D())
		}
		if n := load.SweepRequests(l.GapFrom.D(), l.GapTo.D(), l.GapStep.D(), 1) - 1; n > MaxSweepGaps {
			return ferr("load.gap_step", "makes %d gaps from gap_from to gap_to; at most %d", n, MaxSweepGaps)
		}
		if n := load.SweepRequests(l.GapFrom.D(), l.GapTo.D(), l.GapStep.D(), l.Passes); n > load.MaxRequests {
			return ferr("load.passes", "%d passes plan %d requests; at most %d", l.Passes, n, load.MaxRequests)
		}
		if l.GapAround.BackendClose && !s.backendCloses() {
			return ferr("load.gap_around", "backend-close needs a backend that closes idle connections (keep-alive on, with a timeout)")
		}
		if c := s.sweepCentre(s.Scale()) + l.GapFrom.D(); c < 0 && !(s.Backend.Real() && l.GapAround.BackendClose) {
			return ferr("load.gap_from", "gap_around + gap_from is negative (%s at time scale %g)", c, s.Scale())
		}
	}
	if !pattern.Sweeps() && l.Duration == 0 && l.Requests == 0 {
		return ferr("load", "duration or requests must be set for pattern %s", pattern)
	}
	if (pattern == load.PatternConstant || pattern == load.PatternPoisson) && l.Requests == 0 {
		// rate is per wall second, duration is scaled: "200/s for 30 s" at
		// time scale 0.01 is 60 requests, not 6,000. Say so with the
		// numbers rather than run a load too small to tell anything.
		wall := proxy.ScaleDuration(l.Duration.D(), s.Scale())
		if planned := l.Rate * wall.Seconds(); planned < MinPlannedRequests {
			return ferr("load.duration", "rate %g per wall second (not scaled) × duration %s (%s of wall time at time scale %g) plans about %.0f requests; at least %d are needed to tell anything: raise the rate or the duration, or set requests",
				l.Rate, l.Duration.D(), wall, s.Scale(), planned, MinPlannedRequests)
		}
	}
	if math.IsNaN(l.PostRatio) || l.PostRatio < 0 || l.PostRatio > 1 {
		return ferr("load.post_ratio", "want 0..1, got %g", l.PostRatio)
	}
	if _, err := s.loadConfig("http://127.0.0.1:1/", 1); err != nil {
		var ce *load.ConfigError
		if errors.As(err, &ce) {
			return ferr("load", "%s", ce.Msg) // not "load: load: ..."
		}
		return ferr("load", "%v", err)
	}
	return nil
}
