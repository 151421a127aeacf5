package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios"
	"github.com/gwsim/gwsim/scenarios/event"
)

// command is a subcommand's flag set and usage text.
type command struct {
	name     string
	synopsis string // after "Usage: gwsim <name> "
	about    string
	examples string
	fs       *pflag.FlagSet
}

func newCommand(name, synopsis, about, examples string) *command {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, by parse
	fs.Usage = func() {}
	fs.SortFlags = false
	return &command{name: name, synopsis: synopsis, about: about, examples: examples, fs: fs}
}

func (c *command) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: gwsim %s %s\n\n%s\n\nFlags:\n%s\nExamples:\n%s", c.name, c.synopsis, c.about, c.fs.FlagUsages(), c.examples)
}

// parse parses args. done is true when the command must return code at
// once: after --help (0) or a usage error (2, one line on stderr).
func (c *command) parse(args []string, stdout, stderr io.Writer) (code int, done bool) {
	err := c.fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) {
		c.usage(stdout)
		return exitOK, true
	}
	if err != nil {
		return c.usageError(stderr, err.Error())
	}
	return 0, false
}

func (c *command) usageError(stderr io.Writer, msg string) (int, bool) {
	fmt.Fprintf(stderr, "gwsim %s: %s (see gwsim %s --help)\n", c.name, withSuggestion(msg), c.name)
	return exitUsage, true
}

// unknownName finds the name in the proxy's and the backend's "unknown
// gateway profile" and "unknown backend preset" errors.
var unknownName = regexp.MustCompile(`unknown (gateway profile|backend preset) ("(?:[^"\\]|\\.)*")`)

// withSuggestion adds a "did you mean" to a message about an unknown
// gateway profile or backend preset (from any flag: --profile, --preset,
// --gateway, --backend) when a known name is a typo away.
func withSuggestion(msg string) string {
	m := unknownName.FindStringSubmatch(msg)
	if m == nil || strings.Contains(msg, "did you mean") {
		return msg
	}
	name, err := strconv.Unquote(m[2])
	if err != nil {
		return msg
	}
	names := proxy.ProfileNames()
	if m[1] == "backend preset" {
		names = backend.PresetNames()
	}
	if near := scenarios.DidYouMean(name, names); near != "" {
		msg += "; " + near
	}
	return msg
}

// logFlags adds --log-level and --log-format.
type logFlags struct {
	level, format string
	// bufferAccess sends the "access" lines (one per request) through a
	// buffer flushed every second and at exit: a write per request was a
	// tenth of the gateway's cost. Other lines are written at once.
	bufferAccess bool
}

func (l *logFlags) add(fs *pflag.FlagSet, level string) {
	fs.StringVar(&l.level, "log-level", level, "log level: debug, info, warn, error, or off")
	fs.StringVar(&l.format, "log-format", "json", "log encoding on stderr: json or console")
}

// build makes the one logger of the process, writing to stderr.
func (l *logFlags) build(stderr io.Writer) (*zap.Logger, error) {
	if l.level == "off" {
		return zap.NewNop(), nil
	}
	lvl, err := zapcore.ParseLevel(l.level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: unknown level %q (want debug, info, warn, error or off)", l.level)
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch l.format {
	case "json":
		enc = zapcore.NewJSONEncoder(ec)
	case "console":
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, fmt.Errorf("--log-format: unknown format %q (want json or console)", l.format)
	}
	direct := zapcore.AddSync(stderr)
	if !l.bufferAccess {
		return zap.New(zapcore.NewCore(enc, direct, lvl)), nil
	}
	buffered := &zapcore.BufferedWriteSyncer{WS: direct, Size: 256 << 10, FlushInterval: time.Second}
	return zap.New(accessCore{
		Core:   zapcore.NewCore(enc, direct, lvl),
		access: zapcore.NewCore(enc.Clone(), buffered, lvl),
	}), nil
}

// accessCore writes "access" entries to its buffered core and the others
// to the direct one; Sync flushes both.
type accessCore struct {
	zapcore.Core
	access zapcore.Core
}

func (c accessCore) With(fields []zapcore.Field) zapcore.Core {
	return accessCore{Core: c.Core.With(fields), access: c.access.With(fields)}
}

func (c accessCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Message == "access" {
		return c.access.Check(e, ce)
	}
	return c.Core.Check(e, ce)
}

func (c accessCore) Sync() error {
	return errors.Join(c.access.Sync(), c.Core.Sync())
}

// newRegistry is the process's own Prometheus registry with Go and process
// collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveMetrics serves /metrics (and /healthz) on addr until ctx ends.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, log *zap.Logger) error {
	return serveAdmin(ctx, addr, reg, nil, log)
}

// serveAdmin serves /metrics, /healthz and, when admin is set, the
// live-tuning API under /admin/ on addr until ctx ends.
func serveAdmin(ctx context.Context, addr string, reg *prometheus.Registry, admin http.Handler, log *zap.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	serveAdminOn(ctx, ln, addr, reg, admin, log)
	return nil
}

// serveAdminOn serves what serveAdmin does on ln (bound for the address
// listen) until ctx ends. The live-tuning API is guarded (guardAdmin):
// only the operator's tools may use it, not a web page. /metrics and
// /healthz are read-only and answer any Host (Prometheus scrapes by
// service name).
func serveAdminOn(ctx context.Context, ln net.Listener, listen string, reg *prometheus.Registry, admin http.Handler, log *zap.Logger) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	what := "metrics"
	if admin != nil {
		mux.Handle("/admin/", guardAdmin(admin, listen, ln.Addr()))
		what = "admin"
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info(what, zap.String("listen", ln.Addr().String()))
	go func() { _ = srv.Serve(ln) }()
}

// adminFlag is --admin-listen: "" = the default (127.0.0.1 with the listen
// port + 1000), "off" = no admin API.
const adminUsage = "serve the live-tuning API (/admin/config), /metrics and /healthz here; default 127.0.0.1 with the --listen port + 1000; off = none"

// startAdmin starts the admin listener. An explicit address that cannot
// be bound is an error; the default one is only warned about.
func startAdmin(ctx context.Context, flagValue, listen string, reg *prometheus.Registry, admin http.Handler, log *zap.Logger) error {
	if flagValue == "off" {
		return nil
	}
	addr := flagValue
	if addr == "" {
		_, port, err := net.SplitHostPort(listen)
		p, perr := strconv.Atoi(port)
		if err != nil || perr != nil || p == 0 || p+1000 > 65535 {
			return nil
		}
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1000))
		if err := serveAdmin(ctx, addr, reg, admin, log); err != nil {
			log.Warn("admin API not started", zap.Error(err))
		}
		return nil
	}
	if err := serveAdmin(ctx, addr, reg, admin, log); err != nil {
		return fmt.Errorf("--admin-listen: %w", err)
	}
	return nil
}

// bindServer binds what a standalone actor serves: its --listen address,
// then --metrics-listen and the admin API beside it.
func bindServer(ctx context.Context, listen, metricsListen, adminListen string, reg *prometheus.Registry, admin http.Handler, log *zap.Logger) (net.Listener, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", listen, err)
	}
	if metricsListen != "" {
		if err := serveMetrics(ctx, metricsListen, reg, log); err != nil {
			ln.Close()
			return nil, err
		}
	}
	if err := startAdmin(ctx, adminListen, ln.Addr().String(), reg, admin, log); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// openEvents opens the --events journal at path ("" = none). The returned
// close flushes and closes it.
func openEvents(path string) (event.Sink, func() error, error) {
	if path == "" {
		return nil, func() error { return nil }, nil
	}
	j, err := openJournal(path)
	if err != nil {
		return nil, nil, err
	}
	return j.Sink(), j.Close, nil
}

// checkScale validates a --time-scale value: a number from
// scenarios.MinTimeScale to scenarios.MaxTimeScale (NaN, infinities, 0 and
// negative values are refused, never turned into 1 ns timeouts).
func checkScale(f float64) error {
	if !scenarios.ValidTimeScale(f) {
		return fmt.Errorf("--time-scale must be a number from %g to %g (0.01 runs 100× faster), got %g",
			scenarios.MinTimeScale, scenarios.MaxTimeScale, f)
	}
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
