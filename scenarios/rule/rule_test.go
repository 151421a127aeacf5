package rule

import (
	"strings"
	"testing"
	"time"
)

// TestDecide: the rule at its edges.
func TestDecide(t *testing.T) {
	const (
		s = time.Second
		w = 2 * time.Millisecond // a round trip of 1 ms plus 1 ms of timer slack
	)
	for _, tc := range []struct {
		name string
		in   Setting
		want Verdict
		rec  time.Duration
		says string
	}{
		{"equal", Setting{GatewayIdle: 60 * s, BackendKeepAlive: 60 * s, Window: w}, Unsafe, 90 * s, "60 s <= gateway idle 60 s"},
		{"backend first", Setting{GatewayIdle: 60 * s, BackendKeepAlive: 5 * s, Window: w}, Unsafe, 90 * s, "set the backend keep-alive to 90 s"},
		{"one round trip apart", Setting{GatewayIdle: 60 * s, BackendKeepAlive: 60*s + time.Millisecond, Window: w}, Marginal, 90 * s, "less than the race window 2 ms"},
		{"just under the window", Setting{GatewayIdle: 60 * s, BackendKeepAlive: 60*s + w - 1, Window: w}, Marginal, 90 * s, "raise the backend keep-alive to 90 s"},
		{"the window apart", Setting{GatewayIdle: 60 * s, BackendKeepAlive: 60*s + w, Window: w}, Safe, 90 * s, "always closes idle connections first"},
		{"61 s behind 60 s, real-world slack", Setting{GatewayIdle: 60 * s, BackendKeepAlive: 61 * s}, Marginal, 90 * s, "by only 1 s"},
		{"65 s behind 60 s", Setting{GatewayIdle: 60 * s, BackendKeepAlive: 65 * s}, Safe, 90 * s, "90 s leaves more headroom"},
		{"120 s behind 60 s", Setting{GatewayIdle: 60 * s, BackendKeepAlive: 120 * s}, Safe, 90 * s, "nothing to change"},
		{"no limit, Apache", Setting{BackendKeepAlive: 5 * s}, Unsafe, 300 * s, "set the backend keep-alive to 300 s"},
		{"no limit, the seed's 300 s", Setting{BackendKeepAlive: 300 * s}, Marginal, 300 * s, "mitigated, not removed"},
		{"keep-alive off", Setting{GatewayIdle: 60 * s}, Safe, 90 * s, "keep-alive off"},
		{"backend never closes", Setting{GatewayIdle: 60 * s, BackendNoLimit: true}, Safe, 90 * s, "never closes an idle connection"},
		{"no reuse", Setting{GatewayNoReuse: true, BackendKeepAlive: 5 * s}, Safe, 0, "new backend connection for every request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.in)
			if d.Verdict != tc.want || d.Recommended != tc.rec {
				t.Fatalf("verdict %s, recommended %s; want %s, %s (%s)", d.Verdict, d.Recommended, tc.want, tc.rec, d.Rule)
			}
			if text := d.Rule + " / " + d.Advice; !strings.Contains(text, tc.says) {
				t.Errorf("%q lacks %q", text, tc.says)
			}
		})
	}
}

// TestRecommend: half the idle limit, between 5 s and a minute, at least
// twice the window, rounded up to 5 s.
func TestRecommend(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct{ g, w, want time.Duration }{
		{60 * s, time.Millisecond, 90 * s},     // Application Gateway V2, ALB, nginx: the seed's 90-120 s
		{600 * s, time.Millisecond, 660 * s},   // GCP
		{3600 * s, time.Millisecond, 3660 * s}, // Envoy's hour: capped at a minute
		{4 * s, time.Millisecond, 10 * s},      // at least 5 s, rounded up to 5 s
		{60 * s, 20 * s, 100 * s},              // a wide window: twice it
		{0, time.Millisecond, NoLimitKeepAlive},
	} {
		if got := Recommend(tc.g, tc.w); got != tc.want {
			t.Errorf("Recommend(%s, %s) = %s, want %s", tc.g, tc.w, got, tc.want)
		}
	}
}

// TestRaceWindow: [K − W, min(K, G)), empty exactly when K >= G + W.
func TestRaceWindow(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct{ k, g, w, from, to time.Duration }{
		{50 * ms, 600 * ms, 2 * ms, 48 * ms, 50 * ms},
		{50 * ms, 0, 2 * ms, 48 * ms, 50 * ms},
		{601 * ms, 600 * ms, 2 * ms, 599 * ms, 600 * ms},
		{602 * ms, 600 * ms, 2 * ms, 600 * ms, 600 * ms},
		{1 * ms, 0, 2 * ms, 0, 1 * ms},
	} {
		from, to := RaceWindow(tc.k, tc.g, tc.w)
		if from != tc.from || to != tc.to {
			t.Errorf("RaceWindow(%s, %s, %s) = [%s, %s), want [%s, %s)", tc.k, tc.g, tc.w, from, to, tc.from, tc.to)
		}
	}
}

// TestIdleCluster: the shortest age of the largest cluster, each age
// within 80% of the next longer; a failure far below is left out, and so
// is a late outlier above; fewer than three in the cluster tell nothing.
func TestIdleCluster(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		idle []time.Duration
		want time.Duration
		ok   bool
	}{
		{ms(500, 502, 510, 120, 3), 500 * time.Millisecond, true},
		{ms(100, 101, 99, 100, 400), 99 * time.Millisecond, true},        // 400 alone above the pile
		{ms(100, 100, 101, 153), 100 * time.Millisecond, true},           // a race met late on a busy machine
		{ms(100, 101, 300, 310), 0, false},                               // two runs of two
		{ms(100, 101, 102, 300, 310, 320), 300 * time.Millisecond, true}, // a tie: the longer
		{ms(500, 510), 0, false},
		{nil, 0, false},
		{ms(5000, 4100, 4500, 6000), 4100 * time.Millisecond, true},
	} {
		got, ok := IdleCluster(tc.idle)
		if got != tc.want || ok != tc.ok {
			t.Errorf("IdleCluster(%v) = %v %v, want %v %v", tc.idle, got, ok, tc.want, tc.ok)
		}
	}
}

// TestDecideSaysWhoMeetsTheRace: a gateway that sends a client
// connection's first request on a new connection, or closes silently on a
// later one (HAProxy), keeps its verdict; the rule says which requests can
// meet the race and what their clients see, and a safe verdict says
// nothing of it.
func TestDecideSaysWhoMeetsTheRace(t *testing.T) {
	unsafe := Setting{Gateway: "haproxy", BackendKeepAlive: 5 * time.Second, GatewayReuseSafe: true, GatewaySilentClose: true}
	d := Decide(unsafe)
	if d.Verdict != Unsafe || !strings.Contains(d.Rule, "second and later requests") || !strings.Contains(d.Rule, "without a response") {
		t.Errorf("reuse safe, silent close, no idle limit before 5 s: %s: %s", d.Verdict, d.Rule)
	}
	plain := unsafe
	plain.GatewayReuseSafe, plain.GatewaySilentClose = false, false
	if p := Decide(plain); p.Verdict != d.Verdict || strings.Contains(p.Rule, "second") || !strings.HasPrefix(d.Rule, p.Rule) {
		t.Errorf("without the qualifiers: %s: %s", p.Verdict, p.Rule)
	}
	safe := unsafe
	safe.BackendKeepAlive = 0
	if s := Decide(safe); s.Verdict != Safe || strings.Contains(s.Rule, "second") {
		t.Errorf("keep-alive off: %s: %s", s.Verdict, s.Rule)
	}
}
