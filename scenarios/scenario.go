package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/load"
)

// Scenario is one runnable case: a gateway, its backend members, the link
// between them, a client and a load, and what must come out. Durations are
// real-world values, multiplied by TimeScale when run, except link
// latencies and the gap offsets of a sweep, which are physical.
//
// The YAML schema is strict: an unknown key, a wrong type, a bad duration
// or an impossible combination is an error naming the file, the line and
// the field (see Parse). Defaults are applied in one place, applyDefaults.
type Scenario struct {
	Name        string    `yaml:"name"`
	Description string    `yaml:"description"`
	Why         string    `yaml:"why"`        // one line shown under the table
	TimeScale   TimeScale `yaml:"time_scale"` // MinTimeScale..MaxTimeScale or auto; default 1
	Gateway     Gateway   `yaml:"gateway"`
	Backend     Backend   `yaml:"backend"`
	Link        Link      `yaml:"link"`
	Client      Client    `yaml:"client"`
	Load        Load      `yaml:"load"`
	Expect      Expect    `yaml:"expect"`
	file        string    // where it was read from
	src         []byte    // its YAML, for the matrix to vary
	pos         *positions
}

// Gateway selects a gateway preset (proxy.ProfileNames) and overrides its
// values. Every field but the preset is optional: absent means the preset's.
type Gateway struct {
	Preset  string `yaml:"preset"`  // default appgw-v2
	Profile string `yaml:"profile"` // the older name of preset; give one of the two
	// BackendIdleTimeout closes idle backend connections; 0 = no limit (V1).
	BackendIdleTimeout     *Duration `yaml:"backend_idle_timeout"`
	ClientKeepaliveTimeout *Duration `yaml:"client_keepalive_timeout"`
	RequestTimeout         *Duration `yaml:"request_timeout"`
	// ClientRequestTimeout answers 408 when a client sending a request goes
	// silent this long; 0 = no limit (Application Gateway: 60 s).
	ClientRequestTimeout *Duration `yaml:"client_request_timeout"`
	Retry                string    `yaml:"retry"`      // none, idempotent, reset-before-request
	PoolOrder            string    `yaml:"pool_order"` // lifo, fifo
	Members              int       `yaml:"members"`    // backend members, 1..MaxMembers; default 1
	// RaceStatus is the status answered when a reused connection met the
	// keep-alive race (502; Envoy 503, AWS CLB 504).
	RaceStatus              int   `yaml:"race_status"`
	TimeoutStatus           int   `yaml:"timeout_status"`
	TimeoutTriesOtherMember *bool `yaml:"timeout_tries_other_member"`
}

// Backend selects a backend preset (backend.PresetNames) and overrides its
// values; every member is configured alike.
type Backend struct {
	Preset               string    `yaml:"preset"` // "" = none: the fields alone (keep-alive off unless set)
	KeepaliveTimeout     *Duration `yaml:"keepalive_timeout"`
	AdvertisedKeepalive  *Duration `yaml:"advertised_keepalive"` // Keep-Alive: timeout= value; default the real one
	KeepaliveOff         bool      `yaml:"keepalive_off"`
	MaxKeepaliveRequests *int      `yaml:"max_keepalive_requests"`
	Close                string    `yaml:"close"` // fin, rst, linger
	RaceTrap             bool      `yaml:"race_trap"`
	Delay                *Duration `yaml:"delay"`
	Status               int       `yaml:"status"`
	ResponseSize         int       `yaml:"response_size"`
	Faults               []Fault   `yaml:"faults"`
}

// Fault is a window in which every member misbehaves.
type Fault struct {
	Kind     string   `yaml:"kind"` // hang or reset
	Start    Duration `yaml:"start"`
	Duration Duration `yaml:"duration"`
}

// Link is the gateway↔backend network.
type Link struct {
	Latency *Duration `yaml:"latency"` // one way, physical; default 500µs
	// Jitter adds a random extra delay in [0, jitter) to each chunk each
	// way, order kept; physical, not scaled. Default 0.
	Jitter Duration `yaml:"jitter"`
}

// Client is the load driver's own connection behaviour.
type Client struct {
	IdleTimeout *Duration `yaml:"idle_timeout"` // client pool idle limit; default 90 s
	Latency     Duration  `yaml:"latency"`      // one-way client↔gateway latency, physical
	// Methods is the method mix as weights, {GET: 3, POST: 1}; only GET and
	// POST. The same as load.post_ratio; give one of the two.
	Methods map[string]float64 `yaml:"methods"`
}

// Load shapes the traffic.
type Load struct {
	Pattern     string      `yaml:"pattern"`     // closed (default), constant, poisson, gap-sweep
	Workers     int         `yaml:"workers"`     // closed loop
	Connections int         `yaml:"connections"` // closed loop: the same as workers; open loop: the client's connection cap (0 = as many as needed)
	Think       Duration    `yaml:"think"`
	Rate        float64     `yaml:"rate"` // requests per wall second (not scaled)
	Duration    Duration    `yaml:"duration"`
	Requests    int         `yaml:"requests"`
	Seed        int64       `yaml:"seed"`
	GapAround   SweepCentre `yaml:"gap_around"` // gap-sweep centre: scaled, or backend-close
	GapFrom     Duration    `yaml:"gap_from"`   // offsets from the centre, physical
	GapTo       Duration    `yaml:"gap_to"`
	GapStep     Duration    `yaml:"gap_step"`
	Passes      int         `yaml:"passes"`
	PostRatio   float64     `yaml:"post_ratio"`
	BodySize    int         `yaml:"body_size"`
}

// Defaults of the schema, applied by applyDefaults and nowhere else.
const (
	DefaultGateway     = "appgw-v2"
	DefaultLinkLatency = 500 * time.Microsecond
	DefaultClientIdle  = 90 * time.Second
	DefaultMembers     = 1
	DefaultPattern     = load.PatternClosed
	DefaultTimeScale   = 1.0
)

// Limits of the schema: what a file (or a flag that overrides it) may ask
// for. The load's own caps (workers, requests, rate, body size, duration)
// are load.MaxWorkers and its siblings.
const (
	// MinTimeScale and MaxTimeScale bound time_scale and --time-scale: at
	// most 10000× faster than real time (a 5 s keep-alive becomes 500 µs,
	// about one round trip of the default link), never slower.
	MinTimeScale = 1e-4
	MaxTimeScale = 1.0
	// MaxFileSize caps a scenario file, in bytes (1 MiB).
	MaxFileSize = 1 << 20
	// MaxMembers caps gateway.members.
	MaxMembers = 16
	// MaxSweepGaps caps the gaps of one pass of a gap sweep.
	MaxSweepGaps = 100000
)

// applyDefaults fills every field a file may leave out.
func (s *Scenario) applyDefaults() {
	if s.TimeScale.Factor == 0 && !s.TimeScale.Auto {
		s.TimeScale.Factor = DefaultTimeScale
	}
	g := &s.Gateway
	if g.Preset == "" {
		g.Preset = g.Profile
	}
	if g.Preset == "" {
		g.Preset = DefaultGateway
	}
	if g.Members == 0 {
		g.Members = DefaultMembers
	}
	if s.Link.Latency == nil {
		d := Duration(DefaultLinkLatency)
		s.Link.Latency = &d
	}
	if s.Client.IdleTimeout == nil {
		d := Duration(DefaultClientIdle)
		s.Client.IdleTimeout = &d
	}
	if s.Load.Pattern == "" {
		s.Load.Pattern = string(DefaultPattern)
	}
	if s.Load.Connections > 0 && s.Load.Workers == 0 {
		s.Load.Workers = s.Load.Connections
	}
	if len(s.Client.Methods) > 0 && s.Load.PostRatio == 0 {
		post, total := s.Client.Methods["POST"], 0.0
		for _, w := range s.Client.Methods {
			total += w
		}
		if total > 0 {
			s.Load.PostRatio = post / total
		}
	}
}

// TimeScale is time_scale: a factor from MinTimeScale to MaxTimeScale that
// multiplies every real-world duration of a scenario, or auto: the fastest
// scale whose timers stay well above the lateness measured on the machine
// that runs it (see AutoFloor and AutoScale).
type TimeScale struct {
	Factor float64 // when not Auto; 0 = unset
	Auto   bool
}

// UnmarshalYAML reads a number or auto.
func (t *TimeScale) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == "auto" {
		*t = TimeScale{Auto: true}
		return nil
	}
	var f float64
	if n.Kind != yaml.ScalarNode || n.Decode(&f) != nil {
		return &valueError{line: n.Line, col: n.Column, msg: fmt.Sprintf("want a number from %g to %g, or auto", MinTimeScale, MaxTimeScale)}
	}
	*t = TimeScale{Factor: f}
	return nil
}

// SweepCentre is load.gap_around: a real-world duration (scaled), or
// backend-close: the backend's idle close as measured just before the
// sweep (nominally its keep-alive timeout), so that a late timer on this
// machine, or a real server that closes later than it says, moves the
// sweep with it.
type SweepCentre struct {
	Duration
	BackendClose bool
}

// UnmarshalYAML reads a duration or backend-close.
func (c *SweepCentre) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == "backend-close" {
		*c = SweepCentre{BackendClose: true}
		return nil
	}
	*c = SweepCentre{}
	if err := c.Duration.UnmarshalYAML(n); err != nil {
		var ve *valueError
		if errors.As(err, &ve) {
			ve.msg += ", or backend-close"
		}
		return err
	}
	return nil
}

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
	b, err := s.backendConfig(1)
	return err == nil && b.KeepAliveTimeout > 0 && !b.IdleForever
}

// Duration is a Go duration string in YAML ("5s", "500us").
type Duration time.Duration

// UnmarshalYAML parses a Go duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &valueError{line: n.Line, col: n.Column, msg: "want a duration like 5s or 500us"}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &valueError{line: n.Line, col: n.Column, msg: fmt.Sprintf("bad duration %q: want a Go duration like 5s or 500us", n.Value)}
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d *Duration) or(def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return time.Duration(*d)
}

// valueError is a custom unmarshaler's complaint about one value; Parse
// names the field it belongs to.
type valueError struct {
	line, col int
	msg       string
	bare      bool // msg names the field itself
}

func (e *valueError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// fieldError is a validation error about a field (a dotted path such as
// gateway.retry); Parse adds the file and the line.
type fieldError struct {
	field string
	msg   string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func ferr(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// Parse reads one scenario from YAML. Unknown keys, wrong types, bad
// durations and impossible combinations are one-line errors naming file,
// line and field: "f.yaml: line 4: gateway.retry: unknown retry policy ...".
func Parse(file string, data []byte) (*Scenario, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("scenario file %s is larger than 1 MiB", file)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %s", file, yamlError(err, nil))
	}
	pos := indexPositions(&root)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty scenario file", file)
		}
		return nil, fmt.Errorf("%s: %s", file, yamlError(err, pos))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%s: line %d: one scenario per file (a second YAML document starts here)", file, extra.Line)
	}
	sc.file, sc.pos, sc.src = file, pos, data
	if err := sc.check(); err != nil {
		return nil, sc.wrap(err)
	}
	return &sc, nil
}

// wrap adds the file and, for a field error, the field's line.
func (s *Scenario) wrap(err error) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		if line := s.pos.line(fe.field); line > 0 {
			return fmt.Errorf("%s: line %d: %s", s.file, line, oneLine(err.Error()))
		}
	}
	return fmt.Errorf("%s: %s", s.file, oneLine(err.Error()))
}

// File is the path the scenario was read from ("builtin/x.yaml" for a
// built-in, "" when built in code).
func (s *Scenario) File() string { return s.file }

// Validate checks a scenario built or changed in code (the matrix does):
// defaults are applied, then every rule Parse applies.
func (s *Scenario) Validate() error {
	if err := s.check(); err != nil {
		return s.wrap(err)
	}
	return nil
}

// Clone returns a deep enough copy to change any field of.
func (s *Scenario) Clone() *Scenario {
	c := *s
	cp := func(d *Duration) *Duration {
		if d == nil {
			return nil
		}
		v := *d
		return &v
	}
	c.Gateway.BackendIdleTimeout = cp(s.Gateway.BackendIdleTimeout)
	c.Gateway.ClientKeepaliveTimeout = cp(s.Gateway.ClientKeepaliveTimeout)
	c.Gateway.RequestTimeout = cp(s.Gateway.RequestTimeout)
	c.Gateway.ClientRequestTimeout = cp(s.Gateway.ClientRequestTimeout)
	if s.Gateway.TimeoutTriesOtherMember != nil {
		v := *s.Gateway.TimeoutTriesOtherMember
		c.Gateway.TimeoutTriesOtherMember = &v
	}
	c.Backend.KeepaliveTimeout = cp(s.Backend.KeepaliveTimeout)
	c.Backend.AdvertisedKeepalive = cp(s.Backend.AdvertisedKeepalive)
	c.Backend.Delay = cp(s.Backend.Delay)
	if s.Backend.MaxKeepaliveRequests != nil {
		v := *s.Backend.MaxKeepaliveRequests
		c.Backend.MaxKeepaliveRequests = &v
	}
	c.Backend.Faults = append([]Fault(nil), s.Backend.Faults...)
	c.Link.Latency = cp(s.Link.Latency)
	c.Client.IdleTimeout = cp(s.Client.IdleTimeout)
	if s.Client.Methods != nil {
		c.Client.Methods = map[string]float64{}
		for k, v := range s.Client.Methods {
			c.Client.Methods[k] = v
		}
	}
	c.Expect = s.Expect.clone()
	return &c
}

// Scale returns the scenario's time scale (1 when unset). For time_scale:
// auto it is the fastest scale auto may pick (see AutoFloor), the one an
// idle machine gets; a run measures the machine and picks its own with
// AutoScale.
func (s *Scenario) Scale() float64 {
	if s.TimeScale.Auto {
		return s.AutoFloor()
	}
	if s.TimeScale.Factor <= 0 {
		return 1
	}
	return s.TimeScale.Factor
}

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
	for _, f := range []func() error{s.checkGateway, s.checkBackend, s.checkNetwork, s.checkLoad} {
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
	field := "gateway.preset"
	if !s.pos.has(field) && s.pos.has("gateway.profile") {
		field = "gateway.profile"
	}
	if _, err := proxy.LookupProfile(g.Preset); err != nil {
		return ferr(field, "%v", err)
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
	if b.Preset != "" {
		if _, err := backend.Preset(b.Preset); err != nil {
			return ferr("backend.preset", "%v", err)
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
	sweep := []load.Pattern{load.PatternGapSweep}
	for _, c := range []struct {
		field    string
		set      bool
		patterns []load.Pattern
	}{
		{"workers", s.pos.has("load.workers"), []load.Pattern{load.PatternClosed}},
		{"connections", s.pos.has("load.connections"), append([]load.Pattern{load.PatternClosed}, open...)},
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
	case load.PatternGapSweep:
		if l.GapStep <= 0 {
			return ferr("load.gap_step", "must be > 0 for pattern gap-sweep, got %s", l.GapStep.D())
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
		if c := s.sweepCentre(s.Scale()) + l.GapFrom.D(); c < 0 {
			return ferr("load.gap_from", "gap_around + gap_from is negative (%s at time scale %g)", c, s.Scale())
		}
	}
	if pattern != load.PatternGapSweep && l.Duration == 0 && l.Requests == 0 {
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
		return ferr("load", "%v", err)
	}
	return nil
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
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p.Scaled(scale), nil
}

// backendConfig is the members' configuration, scaled.
func (s *Scenario) backendConfig(scale float64) (backend.Config, error) {
	b := s.Backend
	var cfg backend.Config
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
	if pattern == load.PatternGapSweep {
		centre := s.sweepCentre(scale)
		cfg.GapFrom, cfg.GapTo, cfg.GapStep = centre+l.GapFrom.D(), centre+l.GapTo.D(), l.GapStep.D()
		if cfg.GapFrom < 0 {
			return cfg, fmt.Errorf("gap_around + gap_from is negative (%s)", cfg.GapFrom)
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
