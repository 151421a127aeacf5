package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"go.yaml.in/yaml/v3"

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
	// settingsOnly: read by ParseSettings, for what needs no traffic; a
	// file without a load section is not checked for one.
	settingsOnly bool
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
	// Reuse says which requests may go out on a reused backend connection:
	// always, or safe (a client connection's first request on a new one,
	// HAProxy's default).
	Reuse string `yaml:"reuse"`
	// SilentCloseOnLaterRequest closes the client connection without a
	// response when a backend connection closes before any response byte
	// of a client connection's second or later request (HAProxy).
	SilentCloseOnLaterRequest *bool `yaml:"silent_close_on_later_request"`

	// URL names a real gateway instead of gwsim's (http://host:port/), in
	// front of the backend at backend.listen: one the user started, or
	// Command (with Env, ReadyTimeout) as for a real backend. Beside it,
	// preset and backend_idle_timeout say what it is expected to be (for
	// the check and the margins); its failures are counted by status.
	URL          string            `yaml:"url"`
	Command      []string          `yaml:"command"`
	Env          map[string]string `yaml:"env"`
	ReadyTimeout *Duration         `yaml:"ready_timeout"`
}

// Real reports whether the gateway is a real one (gateway.url).
func (g *Gateway) Real() bool { return g.URL != "" }

// Backend selects a backend preset (backend.PresetNames) and overrides its
// values; every member is configured alike.
type Backend struct {
	Preset              string    `yaml:"preset"` // "" = none: the fields alone (keep-alive off unless set)
	KeepaliveTimeout    *Duration `yaml:"keepalive_timeout"`
	AdvertisedKeepalive *Duration `yaml:"advertised_keepalive"` // Keep-Alive: timeout= value; default the real one
	// Tick: idle time-outs are checked on a timer of this period (Gunicorn
	// gthread, Tomcat: 1 s): an idle connection closes at the first tick
	// after its keep-alive; 0 = at its keep-alive exactly.
	Tick *Duration `yaml:"tick"`
	// Advertise: when the Keep-Alive header is sent: always, asked (only
	// answering Connection: keep-alive), never.
	Advertise            string    `yaml:"advertise"`
	KeepaliveOff         bool      `yaml:"keepalive_off"`
	MaxKeepaliveRequests *int      `yaml:"max_keepalive_requests"`
	Close                string    `yaml:"close"` // fin, rst, linger
	RaceTrap             bool      `yaml:"race_trap"`
	Delay                *Duration `yaml:"delay"`
	Status               int       `yaml:"status"`
	ResponseSize         int       `yaml:"response_size"`
	Faults               []Fault   `yaml:"faults"`

	// Listen is the fixed address gwsim's backend listens on (one member),
	// for a real gateway configured to reach it there; "" = any free
	// loopback port.
	Listen string `yaml:"listen"`

	// URL names a real backend instead of gwsim's (http://host:port/):
	// one the user started, or Command when set. Only keepalive_timeout
	// (the keep-alive it is expected to have) applies beside it.
	URL string `yaml:"url"`
	// Command, with url, is the real backend's argv: gwsim starts it (with
	// Env added to its environment), waits until url accepts connections
	// within ReadyTimeout (default 10 s), stops it at the end, and shows
	// its output when something fails.
	Command      []string          `yaml:"command"`
	Env          map[string]string `yaml:"env"`
	ReadyTimeout *Duration         `yaml:"ready_timeout"`
}

// Real reports whether the backend is a real server (backend.url).
func (b *Backend) Real() bool { return b.URL != "" }

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
	return parse(file, data, false)
}

// ParseSettings reads a scenario for what needs only its gateway, backend
// and link, not traffic (gwsim check): as Parse, but a file without a load
// section is accepted (and cannot be run).
func ParseSettings(file string, data []byte) (*Scenario, error) {
	return parse(file, data, true)
}

func parse(file string, data []byte, settingsOnly bool) (*Scenario, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("scenario file %s is larger than 1 MiB", file)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %s", file, unquotedBound(yamlError(err, nil), data))
	}
	pos := indexPositions(&root)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty scenario file", file)
		}
		return nil, fmt.Errorf("%s: %s", file, unquotedBound(yamlError(err, pos), data))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%s: line %d: one scenario per file (a second YAML document starts here)", file, extra.Line)
	}
	sc.file, sc.pos, sc.src = file, pos, data
	sc.settingsOnly = settingsOnly && !pos.has("load")
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
	c.Gateway.BackendIdleTimeout = clonePtr(s.Gateway.BackendIdleTimeout)
	c.Gateway.ClientKeepaliveTimeout = clonePtr(s.Gateway.ClientKeepaliveTimeout)
	c.Gateway.RequestTimeout = clonePtr(s.Gateway.RequestTimeout)
	c.Gateway.ClientRequestTimeout = clonePtr(s.Gateway.ClientRequestTimeout)
	c.Gateway.TimeoutTriesOtherMember = clonePtr(s.Gateway.TimeoutTriesOtherMember)
	c.Backend.KeepaliveTimeout = clonePtr(s.Backend.KeepaliveTimeout)
	c.Backend.AdvertisedKeepalive = clonePtr(s.Backend.AdvertisedKeepalive)
	c.Backend.Tick = clonePtr(s.Backend.Tick)
	c.Gateway.SilentCloseOnLaterRequest = clonePtr(s.Gateway.SilentCloseOnLaterRequest)
	c.Backend.Delay = clonePtr(s.Backend.Delay)
	c.Backend.MaxKeepaliveRequests = clonePtr(s.Backend.MaxKeepaliveRequests)
	c.Backend.Faults = append([]Fault(nil), s.Backend.Faults...)
	c.Link.Latency = clonePtr(s.Link.Latency)
	c.Client.IdleTimeout = clonePtr(s.Client.IdleTimeout)
	c.Client.Methods = maps.Clone(s.Client.Methods)
	c.Expect = s.Expect.clone()
	return &c
}

// clonePtr is a pointer to a copy of *p; nil for nil.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Scale returns the scenario's time scale (1 when unset). For time_scale:
// auto it is the fastest scale auto may pick (see AutoFloor), the one an
// idle machine gets; a run measures the machine and picks its own with
// AutoScale.
func (s *Scenario) Scale() float64 {
	if s.Backend.Real() || s.Gateway.Real() {
		return 1 // real time
	}
	if s.TimeScale.Auto {
		return s.AutoFloor()
	}
	if s.TimeScale.Factor <= 0 {
		return 1
	}
	return s.TimeScale.Factor
}
