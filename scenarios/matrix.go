package scenarios

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gwsim/gwsim/scenarios/rule"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"
)

// Axis is one dimension of a matrix: a scenario field (a dotted schema
// path such as backend.keepalive_timeout) and the values it takes.
type Axis struct {
	Field  string
	Values []string
}

// MatrixBaseYAML is the matrix's default base: Application Gateway V2 in
// front of Apache at time scale 0.001, with the load replaced in every cell
// by gap sweeps around the cell's backend keep-alive and gateway idle
// timeout (AutoSweep).
const MatrixBaseYAML = `name: matrix
description: the default base of gwsim matrix
time_scale: 0.001
gateway: {preset: appgw-v2}
backend: {preset: apache}
link: {latency: 500us}
load: {pattern: gap-sweep, gap_around: 5s, gap_from: -3ms, gap_to: 2ms, gap_step: 100us}
`

// MaxCells caps the cells of a matrix (the product of its axes' values):
// each cell runs a backend, a gateway and a load of its own.
const MaxCells = 1000

// MatrixOptions configure a matrix.
type MatrixOptions struct {
	// Base is the scenario every cell starts from; nil = MatrixBaseYAML.
	Base *Scenario
	// Axes are the dimensions; every combination of values is a cell.
	Axes []Axis
	// TimeScale overrides the base's time scale when > 0.
	TimeScale float64
	// AutoSweep replaces each cell's load by gap sweeps (one connection,
	// gaps from 3 ms below to 2 ms above, in 100 µs steps) around the
	// cell's backend keep-alive and around its gateway idle timeout (see
	// sweeps), so every cell that can race does.
	AutoSweep bool
	// Parallel is how many runs go at once; 0 = all.
	Parallel int
	// Logger receives the actors' logs; nil = none.
	Logger *zap.Logger
	// Progress is called after each run with the runs done and the total.
	Progress func(done, total int)
}

// Cell is one combination of axis values, its runs and what came out.
type Cell struct {
	Values    []string    // one per axis, in axis order
	Runs      []*Scenario // one per sweep (one when AutoSweep is off)
	Results   []*Result
	TimeScale float64
	// RaceStatus is the status the gateway answers the race with; 0 = none:
	// the client connection closes without a response (a gateway that
	// closes silently on a client connection's later request, as every
	// raced request of a gap sweep is).
	RaceStatus int
	Requests   int64 // over the runs
	Races      int64 // exchanges that met the race, retried ones included
	Failed     int64 // requests answered with RaceStatus (or closed on) because of the race
	Predicted  float64
	// OutOfDomain: a run's load is outside the model (Prediction), so
	// Predicted is no estimate and reports print none.
	OutOfDomain bool
	Check       CheckResult
	Err         error
	Wall        time.Duration
}

// Measured is the share of requests answered with the race status.
func (c *Cell) Measured() float64 {
	if c.Requests == 0 {
		return 0
	}
	return float64(c.Failed) / float64(c.Requests)
}

// BuildMatrix makes the cells: the base with each combination of axis
// values set, validated like a scenario file (an axis value the schema
// refuses is an error naming the axis).
func BuildMatrix(opt MatrixOptions) ([]*Cell, error) {
	src := []byte(MatrixBaseYAML)
	file := "matrix base"
	if opt.Base != nil {
		if opt.Base.src == nil {
			return nil, fmt.Errorf("matrix base %q has no YAML source", opt.Base.Name)
		}
		src, file = opt.Base.src, opt.Base.file
	}
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	n, sizes := 1, make([]string, len(opt.Axes))
	for i, a := range opt.Axes {
		if len(a.Values) == 0 {
			return nil, fmt.Errorf("axis %s: no values", a.Field)
		}
		if !isSchemaPath(a.Field) {
			return nil, fmt.Errorf("axis %s: not a field of the scenario schema (e.g. gateway.preset, backend.keepalive_timeout, backend.close, link.latency)", a.Field)
		}
		sizes[i] = strconv.Itoa(len(a.Values))
		if n > MaxCells/len(a.Values) {
			n = MaxCells + 1
		} else {
			n *= len(a.Values)
		}
	}
	if n > MaxCells {
		return nil, fmt.Errorf("the axes' %s values make more than %d cells; at most %d", strings.Join(sizes, " × "), MaxCells, MaxCells)
	}
	var cells []*Cell
	combo := make([]string, len(opt.Axes))
	var walk func(i int) error
	walk = func(i int) error {
		if i == len(opt.Axes) {
			c, err := buildCell(&root, file, opt, combo)
			if err != nil {
				return err
			}
			cells = append(cells, c)
			return nil
		}
		for _, v := range opt.Axes[i].Values {
			combo[i] = v
			if err := walk(i + 1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(0); err != nil {
		return nil, err
	}
	return cells, nil
}

func buildCell(root *yaml.Node, file string, opt MatrixOptions, values []string) (*Cell, error) {
	doc := cloneNode(root)
	var label []string
	for i, a := range opt.Axes {
		setPath(doc, a.Field, values[i])
		label = append(label, a.Field+"="+values[i])
	}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	name := "matrix cell " + strings.Join(label, ", ")
	s, err := Parse(name, data)
	if err != nil {
		return nil, err
	}
	if opt.TimeScale > 0 {
		s.TimeScale = TimeScale{Factor: opt.TimeScale}
	}
	s.Name = strings.Join(append([]string{s.Name}, values...), "/")
	c := &Cell{Values: append([]string(nil), values...), TimeScale: s.Scale()}
	p, _ := s.profile(1)
	c.RaceStatus = p.RaceStatus
	switch {
	case p.SilentCloseOnLaterRequest:
		c.RaceStatus = 0
	case c.RaceStatus == 0:
		c.RaceStatus = 502
	}
	c.Check, err = CheckScenario(s, c.TimeScale, rule.TimerSlack())
	if err != nil {
		return nil, err
	}
	c.Runs = []*Scenario{s}
	if opt.AutoSweep {
		if c.Runs, err = sweeps(s); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	var reqs float64
	for _, r := range c.Runs {
		pr, err := Predict(r, c.TimeScale)
		if err != nil {
			return nil, err
		}
		c.Predicted += pr.Rate * pr.Requests
		reqs += pr.Requests
		c.OutOfDomain = c.OutOfDomain || pr.OutOfDomain
	}
	if reqs > 0 {
		c.Predicted /= reqs
	}
	return c, nil
}

// sweeps returns s with its load replaced by gap sweeps: one around the
// earlier of its backend keep-alive and gateway idle timeout (where the race
// is decided), and one around the later when it is at most twice the
// earlier (beyond that the connection is long gone, and a sweep around an
// hour-long idle timeout would take an hour of scaled time); one sweep at
// 5 s when neither exists.
func sweeps(s *Scenario) ([]*Scenario, error) {
	p, err := s.profile(1)
	if err != nil {
		return nil, err
	}
	b, err := s.backendConfig(1)
	if err != nil {
		return nil, err
	}
	var centres []time.Duration
	if !b.IdleForever && b.KeepAliveTimeout > 0 {
		centres = append(centres, b.KeepAliveTimeout)
	}
	if g := p.BackendIdleTimeout; g >= time.Microsecond && (len(centres) == 0 || centres[0] != g) {
		centres = append(centres, g)
	}
	slices.Sort(centres)
	if len(centres) == 2 && centres[1] > 2*centres[0] {
		centres = centres[:1]
	}
	if len(centres) == 0 {
		centres = append(centres, 5*time.Second)
	}
	var out []*Scenario
	for _, c := range centres {
		r := s.Clone()
		scaled := time.Duration(float64(c) * s.Scale())
		centre := SweepCentre{Duration: Duration(c)}
		if c == b.KeepAliveTimeout && !b.IdleForever {
			centre = SweepCentre{BackendClose: true} // the close as measured
		}
		r.Load = Load{Pattern: "gap-sweep", GapAround: centre, GapFrom: Duration(-min(3*time.Millisecond, scaled/2)),
			GapTo: Duration(2 * time.Millisecond), GapStep: Duration(100 * time.Microsecond)}
		r.pos = nil // the sweep replaces the file's load section
		r.Expect = Expect{}
		if err := r.Validate(); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// RunMatrix runs every cell's runs, opt.Parallel at a time (the runs are
// independent: each has its own loopback backend, gateway and client).
func RunMatrix(ctx context.Context, cells []*Cell, opt MatrixOptions) {
	type job struct {
		cell *Cell
		i    int
	}
	var jobs []job
	for _, c := range cells {
		c.Results = make([]*Result, len(c.Runs))
		for i := range c.Runs {
			jobs = append(jobs, job{c, i})
		}
	}
	par := opt.Parallel
	if par <= 0 || par > len(jobs) {
		par = len(jobs)
	}
	sem := make(chan struct{}, max(par, 1))
	var mu sync.Mutex
	done := 0
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := Run(ctx, j.cell.Runs[j.i], Options{TimeScale: j.cell.TimeScale, Logger: opt.Logger})
			mu.Lock()
			j.cell.Results[j.i] = r
			done++
			if opt.Progress != nil {
				opt.Progress(done, len(jobs))
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, c := range cells {
		for _, r := range c.Results {
			if r.Err != nil && c.Err == nil {
				c.Err = r.Err
			}
			c.Requests += r.Requests
			c.Races += r.Gateway.RacesMet
			c.Failed += r.RaceAnswers()
			c.Wall = max(c.Wall, r.Wall)
		}
	}
}

// isSchemaPath reports whether path names a scalar field of the schema
// (list elements as backend.faults[0].kind).
func isSchemaPath(path string) bool {
	fields := map[string][]string{
		"":        {"name", "description", "why", "time_scale"},
		"gateway": {"preset", "profile", "backend_idle_timeout", "client_keepalive_timeout", "request_timeout", "retry", "pool_order", "members", "race_status", "timeout_status", "timeout_tries_other_member", "reuse", "silent_close_on_later_request"},
		"backend": {"preset", "keepalive_timeout", "tick", "advertised_keepalive", "advertise", "keepalive_off", "max_keepalive_requests", "close", "race_trap", "delay", "status", "response_size"},
		"link":    {"latency", "jitter"},
		"client":  {"idle_timeout", "latency"},
		"load":    {"pattern", "workers", "connections", "think", "rate", "duration", "requests", "seed", "gap_around", "gap_from", "gap_to", "gap_step", "passes", "post_ratio", "body_size"},
	}
	section, field, ok := strings.Cut(path, ".")
	if !ok {
		section, field = "", path
	}
	for _, f := range fields[section] {
		if f == field {
			return true
		}
	}
	return false
}

// setPath sets the scalar at a dotted path of a YAML document, creating
// mappings on the way.
func setPath(doc *yaml.Node, path, value string) {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	parts := strings.Split(path, ".")
	for i, key := range parts {
		if n.Kind != yaml.MappingNode {
			*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == key {
				next = n.Content[j+1]
			}
		}
		if next == nil {
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, next)
		}
		if i == len(parts)-1 {
			*next = yaml.Node{Kind: yaml.ScalarNode, Value: value}
			return
		}
		n = next
	}
}

func cloneNode(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = cloneNode(k)
	}
	return &c
}
