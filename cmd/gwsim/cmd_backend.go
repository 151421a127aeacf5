package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/scenarios/event"
)

func cmdBackend(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("backend", "[flags]",
		`Run the toy backend: an HTTP/1.1 server with its own connection loop, so the
keep-alive timer, max requests, close style (FIN, RST, Apache's lingering
close), race trap and faults are exact. A preset sets a real server's
defaults; flags override them. --time-scale multiplies every duration.`,
		`  gwsim backend --preset apache --listen 127.0.0.1:8081
  gwsim backend --keepalive-timeout 5s --close rst --race-trap
  gwsim backend --preset apache --fault hang:40s:30s --metrics-listen 127.0.0.1:9101
  gwsim backend --keepalive-timeout 0          # keep-alive off: Connection: close
`)
	fs := c.fs
	preset := fs.String("preset", "", "real server defaults: "+strings.Join(backend.PresetNames(), ", "))
	listen := fs.String("listen", "127.0.0.1:8081", "address to serve on")
	ka := fs.Duration("keepalive-timeout", 5*time.Second, "close an idle keep-alive connection this long after the last response; 0 = keep-alive off")
	adv := fs.Duration("advertised-keepalive", 0, "timeout advertised in the Keep-Alive header (0 = the real one)")
	advertise := fs.String("advertise", "", "when to send the Keep-Alive header: always, asked (only answering Connection: keep-alive, as Apache and Tomcat) or never (as nginx, Gunicorn and most others) (preset's; else always)")
	tick := fs.Duration("tick", 0, "check idle time-outs on a timer of this period, as Gunicorn gthread and Tomcat (1s): an idle connection closes at the first tick after its keep-alive (0 = at its keep-alive exactly; preset: gunicorn, tomcat 1s, lighttpd 2s)")
	maxReq := fs.Int("max-keepalive-requests", 0, "requests per connection before Connection: close (0 = unlimited)")
	closeStyle := fs.String("close", "fin", "how idle connections are closed: fin, rst or linger (Apache)")
	trap := fs.Bool("race-trap", false, "at the keep-alive deadline, do not close: close (unanswered) when the next request arrives")
	delay := fs.Duration("delay", 0, "delay before every response")
	status := fs.Int("status", 200, "response status")
	size := fs.Int("response-size", 0, "response body bytes (0 = a short text)")
	faults := fs.StringArray("fault", nil, "fault window KIND:START:DURATION from start-up, KIND hang or reset (repeatable)")
	scale := fs.Float64("time-scale", 1, "multiply every duration by this")
	metricsListen := fs.String("metrics-listen", "", "serve /metrics and /healthz on this address (empty = off)")
	eventsFile := fs.String("events", "", "write the backend's events to this JSON-lines journal (for gwsim explain)")
	adminListen := fs.String("admin-listen", "", adminUsage)
	var lf logFlags
	lf.add(fs, "info")
	if code, done := c.parse(args, stdout, stderr); done {
		return code
	}
	usage := func(msg string) int { code, _ := c.usageError(stderr, msg); return code }
	if fs.NArg() > 0 {
		return usage(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	var cfg backend.Config
	if *preset != "" {
		var err error
		if cfg, err = backend.Preset(*preset); err != nil {
			return usage(err.Error())
		}
	}
	if *preset == "" || fs.Changed("keepalive-timeout") {
		cfg.KeepAliveTimeout, cfg.IdleForever = *ka, false
	}
	if fs.Changed("advertised-keepalive") {
		cfg.AdvertisedKeepAlive = *adv
	}
	if fs.Changed("tick") {
		cfg.Tick = *tick
	}
	if fs.Changed("advertise") {
		m, err := backend.ParseAdvertiseMode(*advertise)
		if err != nil {
			return usage(err.Error())
		}
		cfg.Advertise = m
	}
	if *preset == "" || fs.Changed("max-keepalive-requests") {
		cfg.MaxKeepAliveRequests = *maxReq
	}
	if *preset == "" || fs.Changed("close") {
		cs, err := backend.ParseCloseStyle(*closeStyle)
		if err != nil {
			return usage(err.Error())
		}
		cfg.Close = cs
	}
	cfg.RaceTrap = cfg.RaceTrap || *trap
	cfg.Delay = *delay
	cfg.Status = *status
	cfg.ResponseSize = *size
	for _, f := range *faults {
		fault, err := parseFault(f)
		if err != nil {
			return usage(err.Error())
		}
		cfg.Faults = append(cfg.Faults, fault)
	}
	if err := checkScale(*scale); err != nil {
		return usage(err.Error())
	}
	if err := cfg.Validate(); err != nil {
		return usage(err.Error())
	}
	cfg = cfg.Scaled(*scale)
	log, err := lf.build(stderr)
	if err != nil {
		return usage(err.Error())
	}
	reg := newRegistry()
	events, closeEvents, err := openEvents(*eventsFile)
	if err != nil {
		fmt.Fprintf(stderr, "gwsim backend: %v\n", err)
		return exitRuntime
	}
	defer closeEvents()
	cfg.Trace = event.BackendTrace(events)
	srv, err := backend.New(cfg, log, reg)
	if err != nil {
		return usage(err.Error())
	}
	ln, err := bindServer(ctx, *listen, *metricsListen, *adminListen, reg, adminHandler(srv, *scale), log)
	if err != nil {
		fmt.Fprintf(stderr, "gwsim backend: %v\n", err)
		return exitRuntime
	}
	log.Info("backend listening", zap.String("listen", ln.Addr().String()), zap.String("preset", *preset),
		zap.Duration("keepalive_timeout", cfg.KeepAliveTimeout), zap.Bool("idle_forever", cfg.IdleForever),
		zap.Int("max_keepalive_requests", cfg.MaxKeepAliveRequests), zap.String("close", string(cfg.Close)),
		zap.Bool("race_trap", cfg.RaceTrap), zap.Float64("time_scale", *scale))
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintf(stderr, "gwsim backend: %v\n", err)
		return exitRuntime
	}
	_ = log.Sync()
	return exitOK
}

// parseFault parses KIND:START:DURATION.
func parseFault(s string) (backend.Fault, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return backend.Fault{}, fmt.Errorf("--fault %q: want KIND:START:DURATION, e.g. hang:40s:30s", s)
	}
	kind := backend.FaultKind(parts[0])
	if kind != backend.FaultHang && kind != backend.FaultReset {
		return backend.Fault{}, fmt.Errorf("--fault %q: unknown kind %q (want hang or reset)", s, parts[0])
	}
	start, err1 := time.ParseDuration(parts[1])
	dur, err2 := time.ParseDuration(parts[2])
	if err1 != nil || err2 != nil || start < 0 || dur <= 0 {
		return backend.Fault{}, fmt.Errorf("--fault %q: START and DURATION must be durations like 40s (DURATION > 0)", s)
	}
	return backend.Fault{Kind: kind, Start: start, Duration: dur}, nil
}
