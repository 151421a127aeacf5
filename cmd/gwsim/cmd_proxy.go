package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"go.uber.org/zap"

	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/event"
)

func cmdProxy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("proxy", "--backends host:port[,host:port...] [flags]",
		`Run the gateway: a reverse proxy with a gateway profile's timeouts and failure
behaviour, its own no-retry backend pool, and an access log with
Application Gateway V2's fields (on stderr, or --access-log FILE; with
--access-log-format appgw-v2, as Azure's diagnostic JSON, which gwsim logs reads).
Durations are real-world values; --time-scale multiplies all of them (link
latency excepted). A flag overrides the profile's value.`,
		`  gwsim proxy --profile appgw-v2 --listen 127.0.0.1:8080 --backends 127.0.0.1:8081
  gwsim proxy --profile appgw-v1 --backends 127.0.0.1:8081,127.0.0.1:8082 --retry idempotent
  gwsim proxy --backends 127.0.0.1:8081 --time-scale 0.01 --link-latency 500us --metrics-listen 127.0.0.1:9090
  gwsim proxy --backends 127.0.0.1:8081 --access-log-format appgw-v2 --access-log access.json
`)
	fs := c.fs
	profileName := fs.String("profile", "appgw-v2", "gateway profile: "+strings.Join(proxy.ProfileNames(), ", ")+" (gwsim presets shows their values)")
	listen := fs.String("listen", "127.0.0.1:8080", "address for clients")
	backends := fs.String("backends", "", "backend pool members, comma-separated host:port (round robin)")
	idle := fs.Duration("backend-idle-timeout", 0, "close idle backend connections after this (profile: V2 60s, V1 none; 0 with the flag set = no limit)")
	clientKA := fs.Duration("client-keepalive-timeout", 0, "close idle client connections after this (profile: V1 120s, V2 75s)")
	reqTimeout := fs.Duration("request-timeout", 0, "time-out of one backend attempt (profile: 20s)")
	clientReqTimeout := fs.Duration("client-request-timeout", 0, "answer 408 when a client sending a request (line, headers or body) goes silent this long (profile: V1, V2 60s; 0 with the flag set = no limit)")
	grace := fs.Duration("shutdown-grace", 0, "on SIGTERM, let requests in flight finish this long, then answer 503 (0 = the request time-out, so each meets its own time-out first; not scaled)")
	timeoutStatus := fs.Int("timeout-status", 0, "status on a backend time-out (profile: V1 502, V2 504)")
	timeoutOther := fs.Bool("timeout-try-other-member", false, "after a time-out, try the next member once (profile: V2 true, V1 false)")
	retry := fs.String("retry", "", "retry policy: none, idempotent (like nginx proxy_next_upstream) or reset-before-request (like Envoy) (profile: none)")
	order := fs.String("pool-order", "", "idle connection reuse order: lifo or fifo (profile: lifo)")
	reuse := fs.String("reuse", "", "which requests may go out on a reused backend connection: always, or safe (a client connection's first request on a new one, like HAProxy's http-reuse safe) (profile: haproxy safe, others always)")
	silentClose := fs.Bool("silent-close-on-later-request", false, "when a backend connection closes before any response byte of a client connection's second or later request, close the client connection without a response, like HAProxy (profile: haproxy true, others false)")
	maxConns := fs.Int("max-conns-per-member", 0, "most connections to one member, 0 = unlimited")
	linkLatency := fs.Duration("link-latency", 0, "one-way latency injected on gateway-backend connections, both ways (not scaled)")
	linkJitter := fs.Duration("link-jitter", 0, "random extra delay in [0, this) added to each chunk on gateway-backend connections, order kept (not scaled)")
	raceWindow := fs.Duration("race-window", 0, "a reused connection failing within this of the send is classified keepalive-race (0 = 4×link latency + 50ms; not scaled)")
	scale := fs.Float64("time-scale", 1, "multiply every profile duration by this")
	metricsListen := fs.String("metrics-listen", "", "serve /metrics and /healthz on this address (empty = off)")
	eventsFile := fs.String("events", "", "write the gateway's events to this JSON-lines journal (for gwsim explain)")
	adminListen := fs.String("admin-listen", "", adminUsage)
	accessFormat := fs.String("access-log-format", accessLogZap, "access-log encoding: zap (the process log's JSON line, message \"access\") or appgw-v2 (Application Gateway V2's diagnostic JSON, for gwsim logs and Azure tooling)")
	accessPath := fs.String("access-log", "", "write the access log to this file (appended) instead of stderr")
	lf := logFlags{bufferAccess: true}
	lf.add(fs, "info")
	if code, done := c.parse(args, stdout, stderr); done {
		return code
	}
	usage := func(msg string) int { code, _ := c.usageError(stderr, msg); return code }
	if fs.NArg() > 0 {
		return usage(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	p, err := proxy.LookupProfile(*profileName)
	if err != nil {
		return usage(err.Error())
	}
	if fs.Changed("backend-idle-timeout") {
		p.BackendIdleTimeout = *idle
	}
	if fs.Changed("client-keepalive-timeout") {
		p.ClientKeepAlive = *clientKA
	}
	if fs.Changed("request-timeout") {
		p.RequestTimeout = *reqTimeout
	}
	if fs.Changed("client-request-timeout") {
		p.ClientRequestTimeout = *clientReqTimeout
	}
	if *grace < 0 {
		return usage(fmt.Sprintf("--shutdown-grace must be >= 0, got %s", *grace))
	}
	if fs.Changed("timeout-status") {
		p.TimeoutStatus = *timeoutStatus
	}
	if fs.Changed("timeout-try-other-member") {
		p.TimeoutTriesOtherMember = *timeoutOther
	}
	if fs.Changed("retry") {
		if p.Retry, err = proxy.ParseRetryPolicy(*retry); err != nil {
			return usage(err.Error())
		}
	}
	if fs.Changed("pool-order") {
		if p.PoolOrder, err = proxy.ParsePoolOrder(*order); err != nil {
			return usage(err.Error())
		}
	}
	if fs.Changed("reuse") {
		if p.Reuse, err = proxy.ParseReusePolicy(*reuse); err != nil {
			return usage(err.Error())
		}
	}
	if fs.Changed("silent-close-on-later-request") {
		p.SilentCloseOnLaterRequest = *silentClose
	}
	if err := p.Validate(); err != nil {
		return usage(err.Error())
	}
	if err := checkScale(*scale); err != nil {
		return usage(err.Error())
	}
	members := splitList(*backends)
	if len(members) == 0 {
		return usage("--backends is required")
	}
	log, err := lf.build(stderr)
	if err != nil {
		return usage(err.Error())
	}
	if *accessFormat != accessLogZap && *accessFormat != accessLogAppGW2 {
		return usage(fmt.Sprintf("--access-log-format: unknown format %q (want %s or %s)", *accessFormat, accessLogZap, accessLogAppGW2))
	}
	if *accessFormat != accessLogZap || *accessPath != "" {
		w, closeAccess, err := openAccessLog(*accessPath, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "gwsim proxy: %v\n", err)
			return exitRuntime
		}
		if log, err = withAccessLog(log, *accessFormat, w, *accessPath); err != nil {
			return usage(err.Error())
		}
		// Every return flushes the access log's buffer before closing
		// its file.
		defer func() { _ = log.Sync(); _ = closeAccess() }()
	}
	reg := newRegistry()
	cfg := proxy.Config{Profile: p.Scaled(*scale), Backends: members, LinkLatency: *linkLatency, LinkJitter: *linkJitter,
		MaxConnsPerMember: *maxConns, RaceWindow: *raceWindow, TimeScale: *scale, ShutdownGrace: *grace}
	events, closeEvents, err := openEvents(*eventsFile)
	if err != nil {
		fmt.Fprintf(stderr, "gwsim proxy: %v\n", err)
		return exitRuntime
	}
	defer closeEvents()
	cfg.Trace = event.GatewayTrace(events)
	gw, err := proxy.New(cfg, log, reg)
	if err != nil {
		return usage(err.Error())
	}
	ln, err := bindServer(ctx, *listen, *metricsListen, *adminListen, reg, adminHandler(gw, *scale), log)
	if err != nil {
		fmt.Fprintf(stderr, "gwsim proxy: %v\n", err)
		return exitRuntime
	}
	sp := p.Scaled(*scale)
	log.Info("gateway listening", zap.String("listen", ln.Addr().String()), zap.String("profile", p.Name),
		zap.Strings("backends", members), zap.Float64("time_scale", *scale),
		zap.Duration("backend_idle_timeout", sp.BackendIdleTimeout), zap.Duration("client_keepalive", sp.ClientKeepAlive),
		zap.Duration("request_timeout", sp.RequestTimeout), zap.Duration("client_request_timeout", sp.ClientRequestTimeout),
		zap.String("retry", string(sp.Retry)),
		zap.Duration("link_latency", *linkLatency))
	if os.Getenv("GOGC") == "" {
		// The gateway's heap is small and churns per request: collecting at
		// 4× the live heap instead of 2× gave 8% more requests per second
		// (bench/run.sh); GOGC set by the user wins.
		debug.SetGCPercent(400)
	}
	if err := gw.Serve(ctx, ln); err != nil {
		fmt.Fprintf(stderr, "gwsim proxy: %v\n", err)
		return exitRuntime
	}
	_ = log.Sync()
	return exitOK
}
