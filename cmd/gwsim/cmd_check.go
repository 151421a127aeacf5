package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios"
	"github.com/gwsim/gwsim/scenarios/report"
)

func cmdCheck(_ context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("check", "[flags] [SCENARIO|FILE.yaml ...]",
		`Decide, without sending traffic, whether a gateway and a backend can meet the
keep-alive race: unsafe when the backend's keep-alive is not longer than the
gateway's idle timeout (or the gateway has no idle limit), marginal when it is
longer by less than one round trip plus timer slack, safe otherwise. Prints the
rule that decided and the backend setting to use; exits 3 when unsafe (or,
with --fail-on marginal, marginal). A gateway with no idle limit (Application
Gateway V1) in front of a keep-alive of 300 s or more is marginal: mitigated,
not removed.

Give presets (lists check every pair), explicit values, or scenario files (their
gateway, backend and link; a file needs no load or expect section). Values are real-world; --time-scale checks them as
a simulation at that scale would run them.`,
		`  gwsim check --gateway appgw-v2 --backend apache
  gwsim check --gateway aws-alb --backend node,node26,gunicorn,puma
  gwsim check --gateway-idle 60s --backend-keepalive 65s
  gwsim check ./ci-scenarios/checkout-api.yaml
`)
	fs := c.fs
	gateways := fs.String("gateway", "", "gateway presets, comma-separated")
	backends := fs.String("backend", "", "backend presets, comma-separated")
	idle := fs.Duration("gateway-idle", 0, "the gateway's backend idle timeout (overrides the preset; 0 = no limit)")
	keepalive := fs.Duration("backend-keepalive", 0, "when the backend closes an idle connection (overrides the preset; 0 = keep-alive off)")
	rtt := fs.Duration("rtt", 2*scenarios.DefaultLinkLatency, "gateway-backend round trip")
	slack := fs.Duration("timer-slack", 0, "how late timers may act (0 = 1s in the real world, the one-second tick of many servers' timers; this host's measured slack with --time-scale below 1)")
	failOn := fs.String("fail-on", "unsafe", "exit 3 when a verdict is this or worse: unsafe or marginal")
	scale := fs.Float64("time-scale", 1, "check as run at this time scale (1 = the real world)")
	jsonOut := fs.Bool("json", false, "print the verdicts as JSON")
	if code, done := c.parse(args, stdout, stderr); done {
		return code
	}
	usage := func(msg string) int { code, _ := c.usageError(stderr, msg); return code }
	if err := checkScale(*scale); err != nil {
		return usage(err.Error())
	}
	if *failOn != string(scenarios.Unsafe) && *failOn != string(scenarios.Marginal) {
		return usage(fmt.Sprintf("--fail-on must be unsafe or marginal, got %q", *failOn))
	}
	if *idle < 0 || *keepalive < 0 || *rtt < 0 || *slack < 0 {
		return usage("durations must be >= 0")
	}
	type item struct {
		json   report.CheckJSON
		result scenarios.CheckResult
	}
	var items []item
	for _, arg := range fs.Args() {
		s, err := scenarios.ResolveSettings(arg) // no load section needed
		if err != nil {
			return usage(err.Error())
		}
		j, r, err := report.ScenarioCheck(s, *scale, *slack)
		if err != nil {
			return usage(err.Error())
		}
		items = append(items, item{j, r})
	}
	if fs.NArg() == 0 {
		gws, bes := splitList(*gateways), splitList(*backends)
		if len(gws) == 0 {
			if !fs.Changed("gateway-idle") {
				return usage("give --gateway or --gateway-idle (or scenario files)")
			}
			gws = []string{""}
		}
		if len(bes) == 0 {
			if !fs.Changed("backend-keepalive") {
				return usage("give --backend or --backend-keepalive (or scenario files)")
			}
			bes = []string{""}
		}
		if len(gws) > maxCheckPairs/len(bes) {
			return usage(fmt.Sprintf("%d gateways × %d backends: at most %d pairs", len(gws), len(bes), maxCheckPairs))
		}
		for _, g := range gws {
			p := proxy.Profile{Name: "the gateway"}
			if g != "" {
				var err error
				if p, err = proxy.LookupProfile(g); err != nil {
					return usage(err.Error())
				}
			}
			if fs.Changed("gateway-idle") {
				p.BackendIdleTimeout = *idle
			}
			for _, b := range bes {
				var cfg backend.Config
				if b != "" {
					var err error
					if cfg, err = backend.Preset(b); err != nil {
						return usage(err.Error())
					}
				}
				if fs.Changed("backend-keepalive") {
					cfg.KeepAliveTimeout, cfg.IdleForever = *keepalive, false
				}
				in := scenarios.CheckFor(p, cfg)
				in.Gateway, in.Backend = orWord(g, "the gateway"), orWord(b, "the backend")
				in.RTT, in.TimerSlack, in.Scale = *rtt, *slack, *scale
				r := scenarios.Check(in)
				items = append(items, item{report.NewCheckJSON(in.Gateway, in.Backend, r), r})
			}
		}
	}
	code := exitOK
	doc := report.CheckDocumentJSON{SchemaVersion: report.SchemaVersion, Checks: []report.CheckJSON{}}
	for _, it := range items {
		r := it.result
		if r.Verdict == scenarios.Unsafe || (r.Verdict == scenarios.Marginal && *failOn == string(scenarios.Marginal)) {
			code = exitExpect
		}
		if *jsonOut {
			doc.Checks = append(doc.Checks, it.json)
			continue
		}
		fmt.Fprintf(stdout, "%s + %s: %s\n  rule: %s\n  recommended: %s\n", it.json.Gateway, it.json.Backend, r.Verdict, r.Rule, r.Advice)
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return exitRuntime
		}
	}
	return code
}

// maxCheckPairs caps the gateway × backend pairs one check decides.
const maxCheckPairs = 10000

func orWord(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
