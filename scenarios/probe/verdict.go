package probe

import (
	"fmt"
	"strings"
	"time"

	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/rule"
)

// Verdict is the race rule's answer for the probed server behind one
// gateway preset.
type Verdict struct {
	Gateway string
	// Verdict is safe, marginal or unsafe; "unknown" when the server did
	// not close within the probe's wait and the gateway keeps connections
	// longer than that.
	Verdict     string
	Recommended time.Duration // 0 when the gateway does not reuse connections
	Rule        string
}

// Verdicts applies the race rule to r behind every gateway preset, with
// the server's median idle close as its keep-alive.
func Verdicts(r *Result) []Verdict {
	var out []Verdict
	for _, name := range proxy.ProfileNames() {
		p, err := proxy.LookupProfile(name)
		if err != nil {
			continue
		}
		s := rule.Setting{Gateway: name, GatewayIdle: p.BackendIdleTimeout, Backend: "the server", BackendKeepAlive: r.Median,
			GatewayReuseSafe: p.Reuse == proxy.ReuseSafe, GatewaySilentClose: p.SilentCloseOnLaterRequest}
		if s.GatewayIdle > 0 && s.GatewayIdle < time.Microsecond {
			s.GatewayIdle, s.GatewayNoReuse = 0, true
		}
		switch {
		case !r.KeepAlive:
			s.BackendKeepAlive = 0
		case r.NoCloseWithin > 0:
			if s.GatewayIdle == 0 || s.GatewayIdle > r.NoCloseWithin {
				if !s.GatewayNoReuse {
					d := rule.Decide(s)
					out = append(out, Verdict{Gateway: name, Verdict: "unknown", Recommended: d.Recommended,
						Rule: fmt.Sprintf("the server kept idle connections open past the probe's %s and %s keeps them %s: probe with a longer --max-wait", rule.Dur(r.NoCloseWithin), name, idleWords(s.GatewayIdle))})
					continue
				}
			}
			s.BackendKeepAlive, s.BackendNoLimit = 0, true
		}
		d := rule.Decide(s)
		out = append(out, Verdict{Gateway: name, Verdict: string(d.Verdict), Recommended: d.Recommended, Rule: d.Rule})
	}
	return out
}

func idleWords(g time.Duration) string {
	if g == 0 {
		return "with no limit"
	}
	return "up to " + rule.Dur(g)
}

// BackendYAML is a scenario backend section that makes gwsim's toy
// backend behave as measured: its keep-alive (the median idle close), the
// timeout it advertises, its requests per connection and its close style.
func BackendYAML(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# measured by gwsim probe %s\n", r.URL)
	b.WriteString("backend:\n")
	switch {
	case !r.KeepAlive:
		b.WriteString("  keepalive_off: true\n")
		return b.String()
	case r.NoCloseWithin > 0:
		fmt.Fprintf(&b, "  # no idle close within %s: the server's keep-alive is longer; this is the shortest it can be\n", r.NoCloseWithin)
		fmt.Fprintf(&b, "  keepalive_timeout: %s\n", r.NoCloseWithin)
	default:
		fmt.Fprintf(&b, "  keepalive_timeout: %s   # median idle close of %d connections (spread %s)\n", r.Median.Round(time.Millisecond/10), len(r.IdleCloses), r.Spread.Round(time.Microsecond))
	}
	if r.Advertised >= 0 {
		fmt.Fprintf(&b, "  advertised_keepalive: %s\n", r.Advertised)
	} else {
		b.WriteString("  # the server advertises no Keep-Alive timeout; the toy backend always states its own\n")
	}
	if r.MaxRequests > 0 {
		fmt.Fprintf(&b, "  max_keepalive_requests: %d\n", r.MaxRequests)
	}
	if r.Style != "" {
		fmt.Fprintf(&b, "  close: %s\n", r.Style)
	}
	return b.String()
}
