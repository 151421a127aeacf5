package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime/debug"
	"sort"
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
keep-alive period gives that many aimed reuses instead of one).`,
		`  gwsim load --target http://127.0.0.1:8080/ --pattern poisson --rate 50 --duration 30s
  gwsim load --target http://127.0.0.1:8080/ --pattern gap-sweep --gap-from 4.997s --gap-to 5.002s --gap-step 100us --json
  gwsim load --target http://127.0.0.1:8080/ --pattern closed --workers 4 --think 1s --requests 200 --post-ratio 0.3
  gwsim load --target http://127.0.0.1:8080/ --pattern aimed --workers 10 --gap-from 4.997s --gap-to 5.002s --gap-step 100us
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
	if u, err := url.Parse(*target); err == nil && u.Scheme == "https" {
		return usage("--target: https is not supported (the gateway and backend speak HTTP/1.1 in clear)")
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
		return usage(err.Error())
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
	if err != nil {
		fmt.Fprintf(stderr, "gwsim load: %v\n", err)
		return exitRuntime
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "gwsim load: %v\n", err)
			return exitRuntime
		}
		return exitOK
	}
	printLoad(stdout, res)
	return exitOK
}

func printLoad(w io.Writer, r *load.Result) {
	fmt.Fprintf(w, "requests %d in %.2f s (late %d)\n", r.Requests, r.Elapsed.Seconds(), r.Late)
	codes := make([]int, 0, len(r.Status))
	for c := range r.Status {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "  status %d: %d\n", c, r.Status[c])
	}
	kinds := make([]string, 0, len(r.ClientErrors))
	for k := range r.ClientErrors {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "  client error %s: %d\n", k, r.ClientErrors[k])
	}
	fmt.Fprintf(w, "latency p50 %s p90 %s p99 %s max %s\n", r.LatencyP50, r.LatencyP90, r.LatencyP99, r.LatencyMax)
	if r.First502 >= 0 {
		fmt.Fprintf(w, "first 502 after %s\n", r.First502.Round(time.Microsecond))
	}
}
