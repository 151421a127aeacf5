package load

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ThresholdHelp documents the grammar of a threshold (gwsim load --fail-on).
const ThresholdHelp = `METRIC OP VALUE, where the run fails when it holds. OP: > >= < <= == !=.
METRIC and VALUE:
  502, 5xx          responses with that status (class): a count (502>0), or a
                    share of all requests with % (5xx>=1%)
  errors            requests with no response (reset, eof, timeout, refused,
                    canceled, other; or one of these kinds): a count or a %
  success           the share of requests answered 200-399: a ratio (success<0.99)
                    or a % (success<99%)
  requests          requests sent: a count (requests<100)
  rps               requests per second: a number (rps<50)
  min mean p50 p90 p95 p99 max
                    latency of the responses: a duration (p95>500ms)
Several: repeat the flag, or separate them with commas.`

// Threshold is one parsed --fail-on expression: METRIC OP VALUE (see
// ThresholdHelp). The run fails when the expression holds.
type Threshold struct {
	Expr   string // as given, spaces trimmed
	metric string
	op     string
	value  float64 // a count, a percentage, a ratio, requests per second, or milliseconds
	unit   string  // count, percent, ratio, per_second, ms
}

// ThresholdResult is a threshold's outcome: the measured value, in the
// threshold's unit, and whether the expression held (the run failed).
type ThresholdResult struct {
	Expr    string  `json:"expression"`
	Value   float64 `json:"value"`
	Unit    string  `json:"unit"` // count, percent, ratio, per_second or ms
	Crossed bool    `json:"crossed"`
}

var (
	thresholdExpr = regexp.MustCompile(`^\s*([A-Za-z0-9_]+)\s*(>=|<=|==|!=|>|<)\s*(\S.*?)\s*$`)
	statusMetric  = regexp.MustCompile(`^([1-5][0-9][0-9]|[1-5]xx)$`)
	latencyMetric = map[string]bool{"min": true, "mean": true, "p50": true, "p90": true, "p95": true, "p99": true, "max": true}
)

// ParseThresholds parses a comma-separated list of thresholds; "" is none.
func ParseThresholds(s string) ([]Threshold, error) {
	var out []Threshold
	for _, e := range strings.Split(s, ",") {
		if strings.TrimSpace(e) == "" {
			continue
		}
		t, err := ParseThreshold(e)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// ParseThreshold parses one threshold, METRIC OP VALUE. Its error is one
// line that quotes the expression and says what was wanted.
func ParseThreshold(s string) (Threshold, error) {
	expr := strings.TrimSpace(s)
	bad := func(format string, args ...any) (Threshold, error) {
		return Threshold{}, fmt.Errorf("%q: %s", expr, fmt.Sprintf(format, args...))
	}
	g := thresholdExpr.FindStringSubmatch(expr)
	if g == nil {
		return bad("want METRIC OP VALUE, like 502>0, success<0.99 or p95>500ms (OP: > >= < <= == !=)")
	}
	t := Threshold{Expr: expr, metric: strings.ToLower(g[1]), op: g[2]}
	v := g[3]
	number := func(s string) (float64, bool) {
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && f >= 0
	}
	percent := func() bool {
		if !strings.HasSuffix(v, "%") {
			return false
		}
		f, ok := number(strings.TrimSpace(strings.TrimSuffix(v, "%")))
		if ok && f <= 100 {
			t.value, t.unit = f, "percent"
			return true
		}
		return false
	}
	switch m := t.metric; {
	case statusMetric.MatchString(m) || m == "errors" || isErrorKind(m):
		if percent() {
			break
		}
		f, ok := number(v)
		if !ok || f != math.Trunc(f) {
			return bad("%s wants a count like 0 or a share like 1%%, got %q", m, v)
		}
		t.value, t.unit = f, "count"
	case m == "success":
		if percent() {
			break
		}
		f, ok := number(v)
		if !ok || f > 1 {
			return bad("success wants a ratio from 0 to 1 (0.99) or a percentage (99%%), got %q", v)
		}
		t.value, t.unit = f, "ratio"
	case m == "requests":
		f, ok := number(v)
		if !ok || f != math.Trunc(f) {
			return bad("requests wants a count, got %q", v)
		}
		t.value, t.unit = f, "count"
	case m == "rps":
		f, ok := number(v)
		if !ok {
			return bad("rps wants a number of requests per second, got %q", v)
		}
		t.value, t.unit = f, "per_second"
	case latencyMetric[m]:
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return bad("%s wants a duration like 500ms or 1.5s, got %q", m, v)
		}
		t.value, t.unit = ms(d), "ms"
	default:
		return bad("unknown metric %q (want a status like 502 or 5xx, errors, %s, success, requests, rps, min, mean, p50, p90, p95, p99 or max)",
			g[1], strings.Join(errorKinds(), ", "))
	}
	return t, nil
}

func isErrorKind(s string) bool {
	for _, k := range errorKinds() {
		if s == k {
			return true
		}
	}
	return false
}

// Eval measures t's metric in r, in t's unit, and reports whether the
// expression holds.
func (t Threshold) Eval(r *Result) ThresholdResult {
	var got float64
	share := func(n int) float64 {
		if t.unit != "percent" {
			return float64(n)
		}
		if r.Requests == 0 {
			return 0
		}
		return 100 * float64(n) / float64(r.Requests)
	}
	switch m := t.metric; {
	case statusMetric.MatchString(m):
		n := 0
		for code, c := range r.Status {
			if s := strconv.Itoa(code); s == m || (strings.HasSuffix(m, "xx") && s[0] == m[0]) {
				n += c
			}
		}
		got = share(n)
	case m == "errors":
		n := 0
		for _, c := range r.ClientErrors {
			n += c
		}
		got = share(n)
	case isErrorKind(m):
		got = share(r.ClientErrors[m])
	case m == "success":
		got = r.SuccessRatio()
		if t.unit == "percent" {
			got *= 100
		}
	case m == "requests":
		got = float64(r.Requests)
	case m == "rps":
		got = r.RequestsPerSecond()
	case latencyMetric[m]:
		got = ms(map[string]time.Duration{"min": r.LatencyMin, "mean": r.LatencyMean, "p50": r.LatencyP50,
			"p90": r.LatencyP90, "p95": r.LatencyP95, "p99": r.LatencyP99, "max": r.LatencyMax}[m])
	}
	var holds bool
	switch t.op {
	case ">":
		holds = got > t.value
	case ">=":
		holds = got >= t.value
	case "<":
		holds = got < t.value
	case "<=":
		holds = got <= t.value
	case "==":
		holds = got == t.value
	case "!=":
		holds = got != t.value
	}
	return ThresholdResult{Expr: t.Expr, Value: got, Unit: t.unit, Crossed: holds}
}

// CheckThresholds evaluates ts against r and records the outcomes in
// r.FailOn; it reports whether any was crossed.
func (r *Result) CheckThresholds(ts []Threshold) bool {
	r.FailOn = make([]ThresholdResult, len(ts))
	for i, t := range ts {
		r.FailOn[i] = t.Eval(r)
	}
	return r.Crossed()
}
