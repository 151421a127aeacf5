package scenarios

import (
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name string
		in   CheckInput
		want Verdict
		rec  time.Duration
		rule string
	}{
		{"apache behind v2", CheckInput{GatewayIdle: 60 * s, BackendKeepAlive: 5 * s}, Unsafe, 90 * s, "5 s <= gateway idle 60 s"},
		{"equal", CheckInput{GatewayIdle: 60 * s, BackendKeepAlive: 60 * s}, Unsafe, 90 * s, "60 s <= gateway idle 60 s"},
		{"1 ms above", CheckInput{GatewayIdle: 60 * s, BackendKeepAlive: 60*s + time.Millisecond}, Marginal, 90 * s, "by only 1 ms"},
		{"61 s behind 60 s", CheckInput{GatewayIdle: 60 * s, BackendKeepAlive: 61 * s}, Marginal, 90 * s, "race window 1.001 s"},
		{"window passed", CheckInput{GatewayIdle: 60 * s, BackendKeepAlive: 62 * s}, Safe, 90 * s, "always closes"},
		{"scaled margin", CheckInput{GatewayIdle: 60 * s, BackendKeepAlive: 61 * s, TimerSlack: time.Millisecond, Scale: 0.001}, Marginal, 90 * s, "2.1 s"},
		{"scaled safe", CheckInput{GatewayIdle: 60 * s, BackendKeepAlive: 65 * s, TimerSlack: time.Millisecond, Scale: 0.001}, Safe, 90 * s, "always closes"},
		{"node26 behind alb", CheckInput{GatewayIdle: 60 * s, BackendKeepAlive: 65 * s}, Safe, 90 * s, "65 s >= gateway idle 60 s"},
		{"v1 no limit, apache", CheckInput{BackendKeepAlive: 5 * s}, Unsafe, 300 * s, "no limit"},
		{"v1 no limit, the seed's 300 s", CheckInput{BackendKeepAlive: 300 * s}, Marginal, 300 * s, "mitigated, not removed"},
		{"keep-alive off", CheckInput{GatewayIdle: 60 * s}, Safe, 90 * s, "keep-alive off"},
		{"go no limit", CheckInput{GatewayIdle: 60 * s, BackendNoLimit: true}, Safe, 90 * s, "never closes"},
		{"both no limit", CheckInput{BackendNoLimit: true}, Safe, 300 * s, "never closes"},
		{"nginx no reuse", CheckInput{GatewayNoReuse: true, BackendKeepAlive: 5 * s}, Safe, 0, "new backend connection"},
		{"gcp", CheckInput{GatewayIdle: 600 * s, BackendKeepAlive: 30 * s}, Unsafe, 660 * s, "30 s <= gateway idle 600 s"},
		{"rtt widens", CheckInput{GatewayIdle: 60 * s, BackendKeepAlive: 60*s + 5*time.Millisecond, RTT: 10 * time.Millisecond, TimerSlack: time.Microsecond}, Marginal, 90 * s, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(tc.in)
			if r.Verdict != tc.want || r.Recommended != tc.rec || !strings.Contains(r.Rule, tc.rule) || r.Advice == "" {
				t.Errorf("Check = %+v\nwant %s, recommended %s, rule containing %q", r, tc.want, tc.rec, tc.rule)
			}
		})
	}
}

// TestCheckScenarios: the built-ins' verdicts, as deployed (scale 1): the
// failing famous cases are unsafe, their cures safe.
func TestCheckScenarios(t *testing.T) {
	for name, want := range map[string]Verdict{
		"appgw-v2-apache-default": Unsafe, "appgw-v2-backend-120s": Safe, "appgw-v2-keepalive-off": Safe,
		"appgw-v1-apache-default": Unsafe, "aws-alb-node-default": Unsafe, "aws-alb-node-keepalive-65s": Safe,
		"aws-alb-gunicorn-default": Unsafe, "aws-alb-gunicorn-keepalive-65s": Safe, "aws-alb-puma-default": Unsafe,
		"aws-alb-puma-persistent-65s": Safe, "gcp-jetty-default": Unsafe, "gcp-jetty-idle-620s": Safe,
		"appgw-v1-backend-300s": Marginal, // the seed's own advice for V1: mitigated, not removed
	} {
		s, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		r, err := CheckScenario(s, 1, 0)
		if err != nil || r.Verdict != want {
			t.Errorf("%s: %s (%v), want %s: %s", name, r.Verdict, err, want, r.Rule)
		}
	}
}
