package load

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParsePattern(t *testing.T) {
	tests := []struct {
		in      string
		want    Pattern
		wantErr string
	}{
		{in: "closed", want: PatternClosed},
		{in: "constant", want: PatternConstant},
		{in: "poisson", want: PatternPoisson},
		{in: "gap-sweep", want: PatternGapSweep},
		{in: "x", wantErr: `unknown load pattern "x" (want closed, constant, poisson, gap-sweep or aimed)`},
		{in: "", wantErr: `unknown load pattern ""`},
		{in: "Closed", wantErr: `unknown load pattern "Closed"`},
	}
	for _, tt := range tests {
		got, err := ParsePattern(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParsePattern(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParsePattern(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Target: "http://127.0.0.1:8080/x", Requests: 10}
	with := func(f func(*Config)) Config {
		c := ok
		f(&c)
		return c
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" = valid
	}{
		{"closed with requests", ok, ""},
		{"closed with duration", with(func(c *Config) { c.Requests, c.Duration = 0, time.Second }), ""},
		{"constant", with(func(c *Config) { c.Pattern, c.Rate = PatternConstant, 5 }), ""},
		{"poisson", with(func(c *Config) { c.Pattern, c.Rate = PatternPoisson, 0.5 }), ""},
		{"gap-sweep without bounds", Config{Target: ok.Target, Pattern: PatternGapSweep, GapTo: time.Second, GapStep: time.Millisecond}, ""},
		{"https target", with(func(c *Config) { c.Target = "https://example.com" }), ""},
		{"post ratio 1", with(func(c *Config) { c.PostRatio = 1 }), ""},

		{"missing target", with(func(c *Config) { c.Target = "" }), "load: target is required"},
		{"relative target", with(func(c *Config) { c.Target = "/x" }), `load: target "/x": want an absolute http:// or https:// URL`},
		{"no host", with(func(c *Config) { c.Target = "http:///x" }), "want an absolute http:// or https:// URL"},
		{"ftp target", with(func(c *Config) { c.Target = "ftp://h/x" }), "want an absolute http:// or https:// URL"},
		{"unparsable target", with(func(c *Config) { c.Target = "http://h:port/" }), `load: target "http://h:port/"`},
		{"unknown pattern", with(func(c *Config) { c.Pattern = "burst" }), `load: pattern: unknown load pattern "burst"`},
		{"negative workers", with(func(c *Config) { c.Workers = -1 }), "load: workers must be >= 0, got -1"},
		{"negative requests", with(func(c *Config) { c.Requests = -2 }), "load: requests must be >= 0, got -2"},
		{"negative passes", with(func(c *Config) { c.Passes = -1 }), "load: passes must be >= 0"},
		{"negative body size", with(func(c *Config) { c.BodySize = -1 }), "load: body-size must be >= 0"},
		{"negative max in flight", with(func(c *Config) { c.MaxInFlight = -1 }), "load: max-in-flight must be >= 0"},
		{"negative think", with(func(c *Config) { c.Think = -time.Second }), "load: think must be >= 0, got -1s"},
		{"negative duration", with(func(c *Config) { c.Duration = -time.Second }), "load: duration must be >= 0"},
		{"negative timeout", with(func(c *Config) { c.Timeout = -1 }), "load: timeout must be >= 0"},
		{"negative gap from", with(func(c *Config) { c.GapFrom = -1 }), "load: gap-from must be >= 0"},
		{"negative rate", with(func(c *Config) { c.Pattern, c.Rate = PatternConstant, -5 }), "load: rate must be > 0 for pattern constant, got -5"},
		{"zero rate", with(func(c *Config) { c.Pattern = PatternPoisson }), "load: rate must be > 0 for pattern poisson, got 0"},
		{"NaN rate", with(func(c *Config) { c.Pattern, c.Rate = PatternConstant, math.NaN() }), "load: rate must be > 0 for pattern constant, got NaN"},
		{"infinite rate", with(func(c *Config) { c.Pattern, c.Rate = PatternConstant, math.Inf(1) }), "load: rate must be at most 100000 per second, got +Inf"},
		{"negative rate, closed", with(func(c *Config) { c.Rate = -1 }), "load: rate must be >= 0, got -1"},
		{"post ratio above 1", with(func(c *Config) { c.PostRatio = 1.5 }), "load: post-ratio must be within 0..1, got 1.5"},
		{"post ratio negative", with(func(c *Config) { c.PostRatio = -0.1 }), "load: post-ratio must be within 0..1"},
		{"no bounds", with(func(c *Config) { c.Requests = 0 }), "load: duration or requests must be set for pattern closed"},
		{"no bounds, constant", Config{Target: ok.Target, Pattern: PatternConstant, Rate: 1}, "load: duration or requests must be set for pattern constant"},
		{"gap step zero", Config{Target: ok.Target, Pattern: PatternGapSweep, GapTo: time.Second}, "load: gap-step must be > 0 for pattern gap-sweep, got 0s"},
		{"gap from after to", Config{Target: ok.Target, Pattern: PatternGapSweep, GapFrom: 2 * time.Second, GapTo: time.Second, GapStep: 1}, "load: gap-from (2s) must be <= gap-to (1s)"},

		// Caps: nothing may ask for unbounded memory or goroutines.
		{"workers at the cap", with(func(c *Config) { c.Workers = MaxWorkers }), ""},
		{"workers above the cap", with(func(c *Config) { c.Workers = 100000000 }), "load: workers must be at most 10000, got 100000000"},
		{"max in flight above the cap", with(func(c *Config) { c.MaxInFlight = MaxWorkers + 1 }), "load: max-in-flight must be at most 10000, got 10001"},
		{"requests at the cap", with(func(c *Config) { c.Requests = MaxRequests }), ""},
		{"requests above the cap", with(func(c *Config) { c.Requests = MaxRequests + 1 }), "load: requests must be at most 1000000, got 1000001"},
		{"body size above the cap", with(func(c *Config) { c.BodySize = 1 << 40 }), "load: body-size must be at most 16777216, got 1099511627776"},
		{"duration at the cap", with(func(c *Config) { c.Duration = MaxDuration }), ""},
		{"duration above the cap", with(func(c *Config) { c.Duration = 1000 * time.Hour }), "load: duration must be at most 168h0m0s, got 1000h0m0s"},
		{"rate at the cap", with(func(c *Config) { c.Pattern, c.Rate = PatternPoisson, MaxRate }), ""},
		{"rate above the cap", with(func(c *Config) { c.Pattern, c.Rate = PatternConstant, 1e9 }), "load: rate must be at most 100000 per second, got 1e+09"},
		{"sweep at the cap", Config{Target: ok.Target, Pattern: PatternGapSweep, GapTo: 999_998, GapStep: 1}, ""},
		{"sweep above the cap", Config{Target: ok.Target, Pattern: PatternGapSweep, GapTo: 999_999, GapStep: 1},
			"load: a gap sweep from 0s to 999.999µs in steps of 1ns, 1 pass(es), plans 1000001 requests; at most 1000000"},
		{"sweep of an hour in nanoseconds", Config{Target: ok.Target, Pattern: PatternGapSweep, GapTo: time.Hour, GapStep: 1},
			"plans 3600000000002 requests; at most 1000000"},
		{"sweep passes above the cap", Config{Target: ok.Target, Pattern: PatternGapSweep, GapTo: 99 * time.Millisecond, GapStep: time.Millisecond, Passes: 10001},
			"1ms, 10001 pass(es), plans 1000101 requests"},
		{"sweep of every duration, many passes", Config{Target: ok.Target, Pattern: PatternGapSweep, GapTo: math.MaxInt64, GapStep: 1, Passes: math.MaxInt},
			"plans 18446744073709551615 requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSweepRequests(t *testing.T) {
	tests := []struct {
		from, to, step time.Duration
		passes         int
		want           uint64
	}{
		{0, 0, 1, 0, 2},                          // one gap of 0, plus the priming request
		{1, 10, 1, 1, 11},                        // gaps 1..10
		{1, 10, 3, 2, 9},                         // gaps 1, 4, 7, 10, twice
		{0, 10, 0, 1, 0},                         // no step: no sweep
		{5, 1, 1, 1, 0},                          // from > to: no sweep
		{0, math.MaxInt64, 1, 1, 1<<63 + 1},      // every gap: no overflow
		{0, math.MaxInt64, 1, 2, math.MaxUint64}, // saturates
		{-math.MaxInt64, math.MaxInt64, 1, 1, math.MaxUint64}, // the span overflows int64, not uint64
	}
	for _, tt := range tests {
		if got := SweepRequests(tt.from, tt.to, tt.step, tt.passes); got != tt.want {
			t.Errorf("SweepRequests(%d, %d, %d, %d) = %d, want %d", tt.from, tt.to, tt.step, tt.passes, got, tt.want)
		}
	}
}
