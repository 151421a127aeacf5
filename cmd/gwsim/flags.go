package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
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
	fmt.Fprintf(stderr, "gwsim %s: %s (see gwsim %s --help)\n", c.name, msg, c.name)
	return exitUsage, true
}

// logFlags adds --log-level and --log-format.
type logFlags struct{ level, format string }

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
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(stderr), lvl)), nil
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
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info("metrics", zap.String("listen", ln.Addr().String()))
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// checkScale validates a --time-scale value.
func checkScale(f float64) error {
	if f <= 0 || f > 1 {
		return fmt.Errorf("--time-scale must be > 0 and <= 1, got %g", f)
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
