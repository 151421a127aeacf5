package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/event"
	"github.com/gwsim/gwsim/scenarios/load"
)

func cmdLoad(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("load", "--target URL [flags]",
		`Drive traffic through a gateway and count every status and client-side error.
The client is gwsim's own no-retry pool, with its own idle timeout, so a reused
connection that fails is counted, never silently replayed. Patterns: closed
(workers and think time), constant and poisson (open loop: late requests are
counted, never dropped), gap-sweep (one connection, the idle gap between
requests stepped across a range around a timeout: the race's shape), aimed
(the same gaps spread over --workers connections at once: in real time, one
keep-alive period gives that many aimed reuses instead of one).

Prints requests per second, the success ratio (answers 200-399), latency
(min, mean, p50, p90, p95, p99, max), every status and every client error
with its message; on a terminal, a progress line on stderr while it runs.
Exits 1 when no request succeeded (a dead target, a wrong URL: the numbers
would describe the outage, not the gateway), 3 when a --fail-on threshold is
crossed, else 0.

--fail-on: `+load.ThresholdHelp,
		`  gwsim load --target http://127.0.0.1:8080/ --pattern poisson --rate 50 --duration 30s
  gwsim load --target http://127.0.0.1:8080/ --pattern gap-sweep --gap-from 4.997s --gap-to 5.002s --gap-step 100us --json
  gwsim load --target http://127.0.0.1:8080/ --pattern closed --workers 4 --think 1s --requests 200 --post-ratio 0.3
  gwsim load --target http://127.0.0.1:8080/ --pattern aimed --workers 10 --gap-from 4.997s --gap-to 5.002s --gap-step 100us
  gwsim load --target http://127.0.0.1:8080/ --requests 1000 --fail-on '502>0' --fail-on 'success<0.99,p95>500ms'
`)
	fs := c.fs
	target := fs.String("target", "", "URL to send requests to (required)")
	pattern := fs.String("pattern", "closed", "closed, constant, poisson, gap-sweep or aimed")
	workers := fs.Int("workers", 1, "closed loop: concurrent workers; aimed: connections, each sweeping every workers-th gap (at most 10000)")
	think := fs.Duration("think", 0, "closed loop: pause after each response")
	rate := fs.Float64("rate", 0, "constant/poisson: requests per second (at most 100000)")
	duration := fs.Duration("duration", 0, "stop starting requests after this long (at most 168h)")
	requests := fs.Int("requests", 0, "stop after this many requests (at most 1000000)")
	seed := fs.Int64("seed", 1, "seed for poisson arrivals and the method mix")
	gapFrom := fs.Duration("gap-from", 0, "gap-sweep: first gap")
	gapTo := fs.Duration("gap-to", 0, "gap-sweep: last gap (inclusive)")
	gapStep := fs.Duration("gap-step", 0, "gap-sweep: step between gaps (gaps × passes at most 1000000)")
	passes := fs.Int("passes", 1, "gap-sweep: how many times to sweep")
	postRatio := fs.Float64("post-ratio", 0, "fraction of requests sent as POST with a body (0..1)")
	bodySize := fs.Int("body-size", 1024, "POST body bytes (at most 16 MiB)")
	timeout := fs.Duration("timeout", 30*time.Second, "per-request time-out")
	maxInFlight := fs.Int("max-in-flight", 0, "open loop: most outstanding requests (0 = 10000, the most)")
	clientIdle := fs.Duration("client-idle-timeout", 90*time.Second, "close idle client connections after this (0 = never)")
	maxConns := fs.Int("max-conns", 0, "most client connections (0 = unlimited; at most 10000)")
	linkLatency := fs.Duration("link-latency", 0, "one-way latency injected on client connections")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	metricsListen := fs.String("metrics-listen", "", "serve /metrics and /healthz on this address while the load runs (empty = off)")
	eventsFile := fs.String("events", "", "write the client's events to this JSON-lines journal (for gwsim explain)")
	failOn := fs.StringArray("fail-on", nil, "exit 3 when this holds after the run: METRIC OP VALUE, like 502>0, 5xx>1%, errors>0, success<0.99, rps<100 or p95>500ms (repeat, or separate with commas)")
	progressFlag := fs.String("progress", "auto", "a progress line on stderr: auto (when stderr is a terminal), on or off")
	if code, done := c.parse(args, stdout, stderr); done {
		return code
	}
	usage := func(msg string) int { code, _ := c.usageError(stderr, msg); return code }
	if fs.NArg() > 0 {
		return usage(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	p, err := load.ParsePattern(*pattern)
	if err != nil {
		return usage(err.Error())
	}
	if msg := checkTarget(*target); msg != "" {
		return usage(msg)
	}
	thresholds, err := parseFailOn(*failOn)
	if err != nil {
		return usage(err.Error())
	}
	if *progressFlag != "auto" && *progressFlag != "on" && *progressFlag != "off" {
		return usage(fmt.Sprintf("--progress must be auto, on or off, got %q", *progressFlag))
	}
	if *clientIdle < 0 || *maxConns < 0 || *linkLatency < 0 {
		return usage("--client-idle-timeout, --max-conns and --link-latency must be >= 0")
	}
	if *maxConns > load.MaxWorkers {
		return usage(fmt.Sprintf("--max-conns must be at most %d, got %d", load.MaxWorkers, *maxConns))
	}
	cfg := load.Config{Target: *target, Pattern: p, Workers: *workers, Think: *think, Rate: *rate,
		Duration: *duration, Requests: *requests, Seed: *seed, GapFrom: *gapFrom, GapTo: *gapTo, GapStep: *gapStep,
		Passes: *passes, PostRatio: *postRatio, BodySize: *bodySize, Timeout: *timeout, MaxInFlight: *maxInFlight}
	if err := cfg.Validate(); err != nil {
		return usage(loadError(err))
	}
	if *progressFlag == "on" || (*progressFlag == "auto" && stderrIsTerminal(stderr)) {
		cfg.Progress = progressLine(stderr)
		defer fmt.Fprint(stderr, "\r\x1b[K") // the summary replaces the line
	}
	var m *load.Metrics
	if *metricsListen != "" {
		reg := newRegistry()
		m = load.NewMetrics(reg)
		if err := serveMetrics(ctx, *metricsListen, reg, zap.NewNop()); err != nil {
			fmt.Fprintf(stderr, "gwsim load: %v\n", err)
			return exitRuntime
		}
	}
	events, closeEvents, err := openEvents(*eventsFile)
	if err != nil {
		fmt.Fprintf(stderr, "gwsim load: %v\n", err)
		return exitRuntime
	}
	defer closeEvents()
	pcfg := proxy.PoolConfig{IdleTimeout: *clientIdle, MaxConnsPerHost: *maxConns, LinkLatency: *linkLatency, Trace: event.PoolTrace(events, event.Client, "")}
	pool := proxy.NewPool(pcfg)
	defer pool.Close()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400) // as the proxy: +8% requests per second (bench/run.sh)
	}
	res, err := load.Run(ctx, cfg, pool, m)
	if cfg.Progress != nil {
		fmt.Fprint(stderr, "\r\x1b[K")
	}
	if err != nil {
		fmt.Fprintf(stderr, "gwsim load: %s\n", loadError(err))
		return exitRuntime
	}
	res.CheckThresholds(thresholds)
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "gwsim load: %v\n", err)
			return exitRuntime
		}
	} else {
		printLoad(stdout, res)
	}
	return loadExitCode(stderr, res)
}

// loadExitCode is 1 when no request succeeded, else 3 when a --fail-on
// threshold was crossed, else 0; it says why on stderr.
func loadExitCode(stderr io.Writer, r *load.Result) int {
	if r.Requests > 0 && r.Succeeded == 0 {
		why := "no answer"
		if len(r.ErrorSet) > 0 {
			why = r.ErrorSet[0].Message
		} else if len(r.Status) > 0 {
			why = "statuses " + statusList(r.Status)
		}
		fmt.Fprintf(stderr, "gwsim load: every request failed (%d of %d; %s): is the target up and the URL right?\n", r.Requests, r.Requests, why)
		return exitRuntime
	}
	code := exitOK
	for _, t := range r.FailOn {
		if t.Crossed {
			fmt.Fprintf(stderr, "gwsim load: --fail-on %s: crossed (%s)\n", t.Expr, thresholdValue(t))
			code = exitExpect
		}
	}
	return code
}

// checkTarget is a one-line complaint about --target, or "".
func checkTarget(target string) string {
	if target == "" {
		return "--target is required, e.g. --target http://127.0.0.1:8080/"
	}
	u, err := url.Parse(target)
	switch {
	case err == nil && u.Scheme == "https":
		return fmt.Sprintf("--target %s: https is not supported (the gateway and backend speak HTTP/1.1 in clear)", target)
	case err != nil || u.Scheme != "http" || u.Host == "":
		if !strings.Contains(target, "://") {
			return fmt.Sprintf("--target %s: want an http:// URL, like http://%s", target, strings.TrimPrefix(target, "//"))
		}
		return fmt.Sprintf("--target %s: want an http:// URL, like http://127.0.0.1:8080/", target)
	}
	return ""
}

// loadError is err's text without the package's "load: " prefix: gwsim
// load says where it is.
func loadError(err error) string {
	var ce *load.ConfigError
	if errors.As(err, &ce) {
		return ce.Msg
	}
	return strings.TrimPrefix(err.Error(), "load: ")
}

// parseFailOn parses every --fail-on value (each may list several).
func parseFailOn(values []string) ([]load.Threshold, error) {
	var out []load.Threshold
	for _, v := range values {
		ts, err := load.ParseThresholds(v)
		if err != nil {
			return nil, fmt.Errorf("--fail-on %w", err)
		}
		if len(ts) == 0 {
			return nil, fmt.Errorf("--fail-on %q: want METRIC OP VALUE, like 502>0", v)
		}
		out = append(out, ts...)
	}
	return out, nil
}

// stderrIsTerminal reports whether w is a terminal (a progress line would
// litter a file or a CI log).
func stderrIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// progressLine draws "12.3 s  1234 of 5000 requests  99.1% ok  100 per second"
// on w, in place.
func progressLine(w io.Writer) func(load.Progress) {
	return func(p load.Progress) {
		of := ""
		switch {
		case p.Planned > 0:
			of = fmt.Sprintf(" of %d", p.Planned)
		case p.Duration > 0:
			of = fmt.Sprintf(" (%.0f%% of %s)", min(100, 100*p.Elapsed.Seconds()/p.Duration.Seconds()), p.Duration)
		}
		ok := 0.0
		if p.Requests > 0 {
			ok = 100 * float64(p.Succeeded) / float64(p.Requests)
		}
		rate := 0.0
		if s := p.Elapsed.Seconds(); s > 0 {
			rate = float64(p.Requests) / s
		}
		fmt.Fprintf(w, "\r\x1b[K%.1f s  %d%s requests  %.1f%% ok  %.0f per second", p.Elapsed.Seconds(), p.Requests, of, ok, rate)
	}
}

// printLoad writes the summary, in the manner of hey and vegeta.
func printLoad(w io.Writer, r *load.Result) {
	fmt.Fprintf(w, "Summary:\n")
	fmt.Fprintf(w, "  requests       %d in %.3f s, %.1f per second\n", r.Requests, r.Elapsed.Seconds(), r.RequestsPerSecond())
	fmt.Fprintf(w, "  success ratio  %.2f%% (%d answered 200-399)\n", 100*r.SuccessRatio(), r.Succeeded)
	if r.Late > 0 {
		fmt.Fprintf(w, "  started late   %d (open loop: more than 1 ms behind schedule; the client or this machine could not keep the rate)\n", r.Late)
	}
	if r.First502 >= 0 {
		fmt.Fprintf(w, "  first 502      after %s\n", r.First502.Round(time.Microsecond))
	}
	n := r.Requests
	for _, c := range r.ClientErrors {
		n -= c
	}
	fmt.Fprintf(w, "\nLatency (%d responses):\n", n)
	if n > 0 {
		fmt.Fprintf(w, "  min %s  mean %s  p50 %s  p90 %s  p95 %s  p99 %s  max %s\n",
			latencyDur(r.LatencyMin), latencyDur(r.LatencyMean), latencyDur(r.LatencyP50), latencyDur(r.LatencyP90),
			latencyDur(r.LatencyP95), latencyDur(r.LatencyP99), latencyDur(r.LatencyMax))
	}
	fmt.Fprintf(w, "\nStatus codes:\n")
	codes := slices.Sorted(maps.Keys(r.Status))
	for _, c := range codes {
		fmt.Fprintf(w, "  %d  %d\n", c, r.Status[c])
	}
	if len(codes) == 0 {
		fmt.Fprintf(w, "  none\n")
	}
	if len(r.ErrorSet) > 0 {
		fmt.Fprintf(w, "\nErrors (no response):\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, e := range r.ErrorSet {
			fmt.Fprintf(tw, "  %d\t%s\t%s\n", e.Count, e.Kind, e.Message)
		}
		_ = tw.Flush()
	}
	if len(r.FailOn) > 0 {
		fmt.Fprintf(w, "\nFail on:\n")
		for _, t := range r.FailOn {
			verdict := "ok"
			if t.Crossed {
				verdict = "CROSSED"
			}
			fmt.Fprintf(w, "  %-20s %-8s (%s)\n", t.Expr, verdict, thresholdValue(t))
		}
	}
}

// latencyDur prints a latency with a useful precision.
func latencyDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// thresholdValue is a threshold's measured value with its unit.
func thresholdValue(t load.ThresholdResult) string {
	switch t.Unit {
	case "percent":
		return fmt.Sprintf("%.2f%%", t.Value)
	case "ratio":
		return fmt.Sprintf("%.4f", t.Value)
	case "ms":
		return latencyDur(time.Duration(t.Value * float64(time.Millisecond)))
	case "per_second":
		return fmt.Sprintf("%.1f per second", t.Value)
	}
	return fmt.Sprintf("%.0f", t.Value)
}

// statusList is "502: 10, 503: 2".
func statusList(status map[int]int) string {
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(status)) {
		parts = append(parts, fmt.Sprintf("%d: %d", c, status[c]))
	}
	return strings.Join(parts, ", ")
}
