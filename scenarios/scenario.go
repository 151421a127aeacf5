package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
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
type Scenario struct {
	Name        string  `yaml:"name"`
	Description string  `yaml:"description"`
	Why         string  `yaml:"why"`        // one line shown under the table
	TimeScale   float64 `yaml:"time_scale"` // 0 = 1
	Gateway     Gateway `yaml:"gateway"`
	Backend     Backend `yaml:"backend"`
	Link        Link    `yaml:"link"`
	Client      Client  `yaml:"client"`
	Load        Load    `yaml:"load"`
	Expect      Expect  `yaml:"expect"`
	file        string  // where it was read from
}

// Gateway selects a gateway profile and overrides its values.
type Gateway struct {
	Profile                string    `yaml:"profile"` // "" = appgw-v2
	BackendIdleTimeout     *Duration `yaml:"backend_idle_timeout"`
	ClientKeepaliveTimeout *Duration `yaml:"client_keepalive_timeout"`
	RequestTimeout         *Duration `yaml:"request_timeout"`
	Retry                  string    `yaml:"retry"`
	PoolOrder              string    `yaml:"pool_order"`
	Members                int       `yaml:"members"` // backend members; 0 = 1
}

// Backend selects a backend preset and overrides its values; every member
// is configured alike.
type Backend struct {
	Preset               string    `yaml:"preset"` // "" = none: the fields alone
	KeepaliveTimeout     *Duration `yaml:"keepalive_timeout"`
	KeepaliveOff         bool      `yaml:"keepalive_off"`
	MaxKeepaliveRequests *int      `yaml:"max_keepalive_requests"`
	Close                string    `yaml:"close"`
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
}

// Client is the load driver's own connection behaviour.
type Client struct {
	IdleTimeout *Duration `yaml:"idle_timeout"` // client pool idle limit; default 90 s
	Latency     Duration  `yaml:"latency"`      // one-way client↔gateway latency, physical
}

// Load shapes the traffic.
type Load struct {
	Pattern   string   `yaml:"pattern"`
	Workers   int      `yaml:"workers"`
	Think     Duration `yaml:"think"`
	Rate      float64  `yaml:"rate"` // requests per wall second (not scaled)
	Duration  Duration `yaml:"duration"`
	Requests  int      `yaml:"requests"`
	Seed      int64    `yaml:"seed"`
	GapAround Duration `yaml:"gap_around"` // gap-sweep centre, scaled
	GapFrom   Duration `yaml:"gap_from"`   // offsets from the centre, physical
	GapTo     Duration `yaml:"gap_to"`
	GapStep   Duration `yaml:"gap_step"`
	Passes    int      `yaml:"passes"`
	PostRatio float64  `yaml:"post_ratio"`
	BodySize  int      `yaml:"body_size"`
}

// Duration is a Go duration string in YAML ("5s", "500us").
type Duration time.Duration

// UnmarshalYAML parses a Go duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration like 5s, got %q", n.Line, n.Value)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: bad duration %q: want a Go duration like 5s or 500us", n.Line, s)
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

// Parse reads one scenario from YAML. Unknown keys and wrong types are
// errors naming file and line.
func Parse(file string, data []byte) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty scenario file", file)
		}
		return nil, fmt.Errorf("%s: %s", file, yamlError(err))
	}
	s.file = file
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &s, nil
}

var (
	fieldNotFound = regexp.MustCompile(`field (\S+) not found in type scenarios\.(\w+)`)
	intoGoType    = regexp.MustCompile(` into (\S+)`)
)

// sections names the schema's Go types as the YAML sections they decode.
var sections = map[string]string{"Scenario": "the top level", "Gateway": "gateway", "Backend": "backend",
	"Fault": "backend.faults", "Link": "link", "Client": "client", "Load": "load", "Expect": "expect"}

// yamlError makes a decoder error one line in the schema's own words.
func yamlError(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		m = fieldNotFound.ReplaceAllStringFunc(m, func(x string) string {
			g := fieldNotFound.FindStringSubmatch(x)
			return fmt.Sprintf("unknown field %q in %s", g[1], sections[g[2]])
		})
		msgs[i] = intoGoType.ReplaceAllString(m, " as $1")
	}
	return strings.Join(msgs, "; ")
}

// Scale returns the scenario's time scale (1 when unset).
func (s *Scenario) Scale() float64 {
	if s.TimeScale <= 0 {
		return 1
	}
	return s.TimeScale
}

func (s *Scenario) validate() error {
	if s.Name == "" {
		return errors.New("name: required")
	}
	if s.TimeScale < 0 || s.TimeScale > 1 {
		return fmt.Errorf("time_scale: want 0 < time_scale <= 1, got %g", s.TimeScale)
	}
	if _, err := s.profile(1); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if s.Gateway.Members < 0 || s.Gateway.Members > 16 {
		return fmt.Errorf("gateway.members: want 1..16, got %d", s.Gateway.Members)
	}
	if _, err := s.backendConfig(1); err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	if s.linkLatency() < 0 || s.Client.Latency < 0 {
		return errors.New("link.latency and client.latency must be >= 0")
	}
	if _, err := s.loadConfig("http://127.0.0.1:1/", 1); err != nil {
		if !strings.HasPrefix(err.Error(), "load: ") {
			err = fmt.Errorf("load: %w", err)
		}
		return err
	}
	return s.Expect.validate()
}

// profile is the gateway profile with overrides, scaled.
func (s *Scenario) profile(scale float64) (proxy.Profile, error) {
	name := s.Gateway.Profile
	if name == "" {
		name = "appgw-v2"
	}
	p, err := proxy.LookupProfile(name)
	if err != nil {
		return p, err
	}
	g := s.Gateway
	p.BackendIdleTimeout = g.BackendIdleTimeout.or(p.BackendIdleTimeout)
	p.ClientKeepAlive = g.ClientKeepaliveTimeout.or(p.ClientKeepAlive)
	p.RequestTimeout = g.RequestTimeout.or(p.RequestTimeout)
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
		pattern, err = load.PatternClosed, nil
	}
	if err != nil {
		return load.Config{}, err
	}
	sc := func(d Duration) time.Duration { return proxy.ScaleDuration(d.D(), scale) }
	cfg := load.Config{
		Target: target, Pattern: pattern, Workers: l.Workers, Think: sc(l.Think), Rate: l.Rate,
		Duration: sc(l.Duration), Requests: l.Requests, Seed: l.Seed, Passes: l.Passes,
		PostRatio: l.PostRatio, BodySize: l.BodySize,
	}
	if pattern == load.PatternGapSweep {
		centre := sc(l.GapAround)
		cfg.GapFrom, cfg.GapTo, cfg.GapStep = centre+l.GapFrom.D(), centre+l.GapTo.D(), l.GapStep.D()
		if cfg.GapFrom < 0 {
			return cfg, fmt.Errorf("gap_around + gap_from is negative (%s)", cfg.GapFrom)
		}
	}
	return cfg, cfg.Validate()
}

// clientIdle is the load driver's idle limit, scaled.
func (s *Scenario) clientIdle(scale float64) time.Duration {
	return proxy.ScaleDuration(s.Client.IdleTimeout.or(90*time.Second), scale)
}

// linkLatency is the gateway↔backend one-way latency (physical).
func (s *Scenario) linkLatency() time.Duration {
	return s.Link.Latency.or(500 * time.Microsecond)
}
