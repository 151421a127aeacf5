package scenarios

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gwsim/gwsim/proxy"
)

// Expect is what a scenario must show. Every key is optional; a scenario
// with no expectation passes when it ran.
type Expect struct {
	// Status bounds the count of each status code the client got: "502": ">0".
	Status map[string]Count `yaml:"status"`
	// StatusByMethod bounds statuses per request method: GET: {"502": 0}.
	StatusByMethod map[string]map[string]Count `yaml:"status_by_method"`
	// Causes bounds the count of each cause (see proxy.Causes and client-idle-race).
	Causes map[string]Count `yaml:"causes"`
	// OnlyCauses lists the causes allowed to appear at all.
	OnlyCauses []string `yaml:"only_causes"`
	// ClientErrors bounds the client-side errors (resets, EOFs, time-outs).
	ClientErrors *Count `yaml:"client_errors"`
	// Retries bounds the gateway's retries.
	Retries *Count `yaml:"retries"`
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
		return fmt.Errorf("line %d: bad count %q: want a number or a bound like \">0\", \"<=3\"", n.Line, n.Value)
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

func (c Count) String() string { return c.raw }

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

// CauseClientIdleRace is the client-side cause: the client reused a
// connection the gateway was closing (its idle timeout is longer than the
// gateway's client keep-alive).
const CauseClientIdleRace = "client-idle-race"

func knownCause(c string) bool {
	if c == CauseClientIdleRace {
		return true
	}
	for _, k := range proxy.Causes {
		if k == c {
			return true
		}
	}
	return false
}

func (e *Expect) validate() error {
	for code := range e.Status {
		if n, err := strconv.Atoi(code); err != nil || n < 100 || n > 599 {
			return fmt.Errorf("expect.status: %q is not a status code", code)
		}
	}
	for m, st := range e.StatusByMethod {
		for code := range st {
			if n, err := strconv.Atoi(code); err != nil || n < 100 || n > 599 {
				return fmt.Errorf("expect.status_by_method.%s: %q is not a status code", m, code)
			}
		}
	}
	for c := range e.Causes {
		if !knownCause(c) {
			return fmt.Errorf("expect.causes: unknown cause %q", c)
		}
	}
	for _, c := range e.OnlyCauses {
		if !knownCause(c) {
			return fmt.Errorf("expect.only_causes: unknown cause %q", c)
		}
	}
	return nil
}

// check returns one line per expectation that did not hold, sorted.
func (e *Expect) check(r *Result) []string {
	var bad []string
	for code, want := range e.Status {
		n, _ := strconv.Atoi(code)
		if got := r.Status[n]; !want.Holds(got) {
			bad = append(bad, fmt.Sprintf("status %s: want %s, got %d", code, want, got))
		}
	}
	for m, st := range e.StatusByMethod {
		for code, want := range st {
			n, _ := strconv.Atoi(code)
			if got := r.StatusByMethod[m][n]; !want.Holds(got) {
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
			allowed := false
			for _, a := range e.OnlyCauses {
				allowed = allowed || a == c
			}
			if !allowed && n > 0 {
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
	if e.Retries != nil && !e.Retries.Holds(r.Retries) {
		bad = append(bad, fmt.Sprintf("retries: want %s, got %d", e.Retries, r.Retries))
	}
	sort.Strings(bad)
	return bad
}
