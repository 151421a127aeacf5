package scenarios

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/explain"
	"github.com/gwsim/gwsim/scenarios/load"
)

// Expect is what a scenario must show. Every key is optional; a scenario
// with no expectation passes when it ran. In YAML:
//
//	expect:
//	  502: ">0"                  # a status code (or a class, 5xx): a count bound
//	  504: 0
//	  502_rate: "<0.1%"          # the share of requests, in percent
//	  keepalive-race: ">0"       # a cause: a count bound (or under causes:)
//	  causes: {backend-timeout: 0}
//	  only_causes: [keepalive-race]
//	  client_errors: 0           # the total, or per kind: {reset: 0, eof: ">0"}
//	  status: {"502": 0}         # the older form of the status keys
//	  status_by_method: {GET: {"502": 0}, POST: {"502": ">0"}}
//	  retries: ">0"
//	  first_502_within: 2s       # real-world, scaled by time_scale; a 502 must come
type Expect struct {
	// Status bounds the count of each status code (or class, "5xx") the
	// client got.
	Status map[string]Count
	// Rates bounds the share of requests that got a status (or class).
	Rates map[string]Rate
	// StatusByMethod bounds statuses per request method: GET: {"502": 0}.
	StatusByMethod map[string]map[string]Count
	// Causes bounds the count of each cause (see proxy.Causes and
	// client-idle-race).
	Causes map[string]Count
	// OnlyCauses lists the causes allowed to appear at all.
	OnlyCauses []string
	// ClientErrors bounds the total of client-side errors (resets, EOFs,
	// time-outs).
	ClientErrors *Count
	// ClientErrorKinds bounds client-side errors per kind (reset, eof,
	// timeout, refused, canceled, other).
	ClientErrorKinds map[string]Count
	// Retries bounds the gateway's retries.
	Retries *Count
	// First502Within requires a 502 no later than this after the load
	// started (real-world; scaled by the time scale).
	First502Within *Duration
}

var (
	statusKey = regexp.MustCompile(`^([1-5][0-9][0-9]|[1-5]xx)$`)
	rateKey   = regexp.MustCompile(`^([1-5][0-9][0-9]|[1-5]xx)_rate$`)
)

// UnmarshalYAML reads the expect section key by key: its keys are partly
// fixed (causes, retries, ...) and partly data (status codes, cause names),
// which a struct cannot say. Unknown keys are errors, as everywhere.
func (e *Expect) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return &valueError{line: n.Line, col: n.Column, msg: "want a mapping of expectations"}
	}
	out := Expect{Status: map[string]Count{}, Rates: map[string]Rate{}, Causes: map[string]Count{}}
	seen := map[string]int{}
	// setCount merges one count bound into m, refusing a key given twice
	// (for instance 502 and status: {"502": ...}).
	setCount := func(m map[string]Count, section string, k *yaml.Node, key string, c Count) error {
		if _, dup := m[key]; dup {
			return &valueError{line: k.Line, col: k.Column, bare: true,
				msg: fmt.Sprintf("expect: %s is given twice (as %s and in %s)", key, key, section)}
		}
		m[key] = c
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if l, dup := seen[key]; dup {
			return &valueError{line: k.Line, col: k.Column, bare: true, msg: fmt.Sprintf("expect: %q is given twice (first at line %d)", key, l)}
		}
		seen[key] = k.Line
		var err error
		switch {
		case key == "status":
			var m map[string]Count
			if err = v.Decode(&m); err == nil {
				for code, c := range m {
					if err = setCount(out.Status, "expect.status", k, code, c); err != nil {
						break
					}
				}
			}
		case key == "status_by_method":
			err = v.Decode(&out.StatusByMethod)
		case key == "causes":
			var m map[string]Count
			if err = v.Decode(&m); err == nil {
				for c, b := range m {
					if err = setCount(out.Causes, "expect.causes", k, c, b); err != nil {
						break
					}
				}
			}
		case key == "only_causes":
			err = v.Decode(&out.OnlyCauses)
		case key == "client_errors":
			if v.Kind == yaml.MappingNode {
				err = v.Decode(&out.ClientErrorKinds)
			} else {
				out.ClientErrors = new(Count)
				err = v.Decode(out.ClientErrors)
			}
		case key == "retries":
			out.Retries = new(Count)
			err = v.Decode(out.Retries)
		case key == "first_502_within":
			out.First502Within = new(Duration)
			err = v.Decode(out.First502Within)
		case statusKey.MatchString(key):
			var c Count
			if err = v.Decode(&c); err == nil {
				err = setCount(out.Status, "expect.status", k, key, c)
			}
		case rateKey.MatchString(key):
			var r Rate
			if err = v.Decode(&r); err == nil {
				out.Rates[strings.TrimSuffix(key, "_rate")] = r
			}
		case knownCause(key):
			var c Count
			if err = v.Decode(&c); err == nil {
				err = setCount(out.Causes, "expect.causes", k, key, c)
			}
		default:
			return &valueError{line: k.Line, col: k.Column, bare: true, msg: fmt.Sprintf("unknown field %q in expect", key)}
		}
		if err != nil {
			return err
		}
	}
	*e = out
	return nil
}

func (e Expect) clone() Expect {
	c := e
	c.Status, c.Rates, c.Causes = maps.Clone(e.Status), maps.Clone(e.Rates), maps.Clone(e.Causes)
	c.ClientErrorKinds = maps.Clone(e.ClientErrorKinds)
	c.OnlyCauses = slices.Clone(e.OnlyCauses)
	if e.StatusByMethod != nil {
		c.StatusByMethod = map[string]map[string]Count{}
		for m, st := range e.StatusByMethod {
			c.StatusByMethod[m] = maps.Clone(st)
		}
	}
	return c
}

// Count is a bound on a count: a number (exactly), or ">0", ">=N", "<N",
// "<=N", "==N".
type Count struct {
	Op  string
	N   int64
	raw string
}

// UnmarshalYAML reads a number or a comparison string.
func (c *Count) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseCount(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return &valueError{line: n.Line, col: n.Column, msg: fmt.Sprintf("bad count %q: want a number or a bound like \">0\", \"<=3\"", n.Value)}
	}
	*c = v
	return nil
}

func parseCount(s string) (Count, error) {
	s = strings.TrimSpace(s)
	for _, op := range []string{">=", "<=", "==", ">", "<"} {
		if rest, ok := strings.CutPrefix(s, op); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			if err != nil || n < 0 {
				return Count{}, fmt.Errorf("bad count %q", s)
			}
			return Count{Op: op, N: n, raw: s}, nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return Count{}, fmt.Errorf("bad count %q", s)
	}
	return Count{Op: "==", N: n, raw: s}, nil
}

func (c Count) String() string {
	if c.raw == "" {
		return c.Op + strconv.FormatInt(c.N, 10)
	}
	return c.raw
}

// Holds reports whether v meets the bound.
func (c Count) Holds(v int64) bool {
	switch c.Op {
	case ">":
		return v > c.N
	case ">=":
		return v >= c.N
	case "<":
		return v < c.N
	case "<=":
		return v <= c.N
	}
	return v == c.N
}

// exactlyZero reports whether the bound only admits 0.
func (c Count) exactlyZero() bool {
	return (c.Op == "==" && c.N == 0) || (c.Op == "<" && c.N <= 1) || (c.Op == "<=" && c.N == 0)
}

// needsSome reports whether the bound excludes 0.
func (c Count) needsSome() bool { return !c.Holds(0) }

// Rate is a bound on a share of requests: "<0.1%", ">=2%", "0".
type Rate struct {
	Op  string
	F   float64 // a fraction, 0..1
	raw string
}

// UnmarshalYAML reads a percentage bound.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseRate(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return &valueError{line: n.Line, col: n.Column, msg: fmt.Sprintf("bad rate %q: want a percentage bound like \"<0.1%%\" or \">0%%\"", n.Value)}
	}
	*r = v
	return nil
}

func parseRate(s string) (Rate, error) {
	raw := strings.TrimSpace(s)
	rest, op := raw, "=="
	for _, o := range []string{">=", "<=", "==", ">", "<"} {
		if r, ok := strings.CutPrefix(raw, o); ok {
			rest, op = strings.TrimSpace(r), o
			break
		}
	}
	num, pct := strings.CutSuffix(rest, "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || (!pct && v != 0) {
		return Rate{}, fmt.Errorf("bad rate %q", s)
	}
	v /= 100
	if v > 1 {
		return Rate{}, fmt.Errorf("bad rate %q: above 100%%", s)
	}
	return Rate{Op: op, F: v, raw: raw}, nil
}

func (r Rate) String() string { return r.raw }

// Holds reports whether n of total meets the bound (no request: rate 0).
func (r Rate) Holds(n, total int64) bool {
	f := 0.0
	if total > 0 {
		f = float64(n) / float64(total)
	}
	const eps = 1e-12
	switch r.Op {
	case ">":
		return f > r.F+eps
	case ">=":
		return f >= r.F-eps
	case "<":
		return f < r.F-eps
	case "<=":
		return f <= r.F+eps
	}
	return math.Abs(f-r.F) <= eps
}

func knownCause(c string) bool {
	return slices.Contains(explain.Causes, c) || slices.Contains(proxy.Causes, c)
}

var clientErrorKinds = []string{load.KindReset, load.KindEOF, load.KindTimeout, load.KindRefused, load.KindCanceled, load.KindOther}

func validStatus(code string) bool {
	if len(code) == 3 && strings.HasSuffix(code, "xx") {
		return code[0] >= '1' && code[0] <= '5'
	}
	n, err := strconv.Atoi(code)
	return err == nil && n >= 100 && n <= 599 && strconv.Itoa(n) == code
}

// validate checks the expectations against the schema and against each
// other (an impossible combination is an error).
func (e *Expect) validate(s *Scenario) error {
	for _, code := range sortedKeys(e.Status) {
		if !validStatus(code) {
			return ferr("expect.status."+code, "not a status code (or a class like 5xx)")
		}
	}
	for _, code := range sortedKeys(e.Rates) {
		if !validStatus(code) {
			return ferr("expect."+code+"_rate", "%q is not a status code", code)
		}
	}
	for _, m := range sortedKeys(e.StatusByMethod) {
		if m != "GET" && m != "POST" {
			return ferr("expect.status_by_method."+m, "the load sends only GET and POST")
		}
		for _, code := range sortedKeys(e.StatusByMethod[m]) {
			if !validStatus(code) {
				return ferr("expect.status_by_method."+m+"."+code, "not a status code (or a class like 5xx)")
			}
		}
	}
	for _, c := range sortedKeys(e.Causes) {
		if !knownCause(c) {
			return ferr("expect.causes", "unknown cause %q (want one of %s)", c, strings.Join(append(slices.Clone(proxy.Causes[1:]), explain.Causes...), ", "))
		}
	}
	for _, c := range e.OnlyCauses {
		if !knownCause(c) {
			return ferr("expect.only_causes", "unknown cause %q", c)
		}
	}
	for _, k := range sortedKeys(e.ClientErrorKinds) {
		if !slices.Contains(clientErrorKinds, k) {
			return ferr("expect.client_errors."+k, "unknown client error kind %q (want %s)", k, strings.Join(clientErrorKinds, ", "))
		}
	}
	if e.First502Within != nil && e.First502Within.D() <= 0 {
		return ferr("expect.first_502_within", "must be > 0, got %s", e.First502Within.D())
	}
	// Impossible combinations.
	if c, ok := e.Status["502"]; ok && e.First502Within != nil && c.exactlyZero() {
		return ferr("expect.first_502_within", "wants a 502, but 502 is bounded to %s", c)
	}
	if len(e.OnlyCauses) > 0 {
		for _, c := range sortedKeys(e.Causes) {
			if e.Causes[c].needsSome() && !slices.Contains(e.OnlyCauses, c) {
				return ferr("expect.only_causes", "leaves out %s, which expect wants %s", c, e.Causes[c])
			}
		}
	}
	for _, code := range sortedKeys(e.Status) {
		if r, ok := e.Rates[code]; ok && e.Status[code].needsSome() && r.F == 0 && (r.Op == "==" || r.Op == "<=") {
			return ferr("expect."+code+"_rate", "is %s, but %s is bounded to %s", r, code, e.Status[code])
		}
	}
	if e.ClientErrors != nil && e.ClientErrors.exactlyZero() {
		for _, k := range sortedKeys(e.ClientErrorKinds) {
			if e.ClientErrorKinds[k].needsSome() {
				return ferr("expect.client_errors", "cannot be 0 in total and %s for %s", e.ClientErrorKinds[k], k)
			}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// statusCount counts a status code or a class ("5xx").
func statusCount(m map[int]int64, code string) int64 {
	if strings.HasSuffix(code, "xx") {
		lo := int(code[0]-'0') * 100
		var n int64
		for c, v := range m {
			if c >= lo && c < lo+100 {
				n += v
			}
		}
		return n
	}
	n, _ := strconv.Atoi(code)
	return m[n]
}

// check returns one line per expectation that did not hold, sorted.
func (e *Expect) check(r *Result) []string {
	var bad []string
	for code, want := range e.Status {
		if got := statusCount(r.Status, code); !want.Holds(got) {
			bad = append(bad, fmt.Sprintf("status %s: want %s, got %d", code, want, got))
		}
	}
	for code, want := range e.Rates {
		if got := statusCount(r.Status, code); !want.Holds(got, r.Requests) {
			bad = append(bad, fmt.Sprintf("%s rate: want %s, got %s (%d of %d requests)", code, want, percent(got, r.Requests), got, r.Requests))
		}
	}
	for m, st := range e.StatusByMethod {
		for code, want := range st {
			if got := statusCount(r.StatusByMethod[m], code); !want.Holds(got) {
				bad = append(bad, fmt.Sprintf("%s status %s: want %s, got %d", m, code, want, got))
			}
		}
	}
	for c, want := range e.Causes {
		if got := r.Causes[c]; !want.Holds(got) {
			bad = append(bad, fmt.Sprintf("cause %s: want %s, got %d", c, want, got))
		}
	}
	if len(e.OnlyCauses) > 0 {
		for c, n := range r.Causes {
			if n > 0 && !slices.Contains(e.OnlyCauses, c) {
				bad = append(bad, fmt.Sprintf("cause %s: want none (only %s), got %d", c, strings.Join(e.OnlyCauses, ", "), n))
			}
		}
	}
	if e.ClientErrors != nil {
		var total int64
		for _, n := range r.ClientErrors {
			total += n
		}
		if !e.ClientErrors.Holds(total) {
			bad = append(bad, fmt.Sprintf("client errors: want %s, got %d", e.ClientErrors, total))
		}
	}
	for k, want := range e.ClientErrorKinds {
		if got := r.ClientErrors[k]; !want.Holds(got) {
			bad = append(bad, fmt.Sprintf("client errors %s: want %s, got %d", k, want, got))
		}
	}
	if e.Retries != nil && !e.Retries.Holds(r.Retries) {
		bad = append(bad, fmt.Sprintf("retries: want %s, got %d", e.Retries, r.Retries))
	}
	if w := e.First502Within; w != nil {
		scale := r.TimeScale
		if scale <= 0 {
			scale = 1
		}
		limit := proxy.ScaleDuration(w.D(), scale)
		switch {
		case r.First502 < 0:
			bad = append(bad, fmt.Sprintf("first 502: want within %s (%s at time scale %g), got none", w.D(), limit, scale))
		case r.First502 > limit:
			bad = append(bad, fmt.Sprintf("first 502: want within %s (%s at time scale %g), got after %s", w.D(), limit, scale, r.First502.Round(time.Microsecond)))
		}
	}
	sort.Strings(bad)
	return bad
}

// percent prints n of total as a percentage with 3 significant digits.
func percent(n, total int64) string {
	if total == 0 {
		return "0%"
	}
	return strconv.FormatFloat(100*float64(n)/float64(total), 'g', 3, 64) + "%"
}
