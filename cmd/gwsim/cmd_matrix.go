package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gwsim/gwsim/scenarios"
	"github.com/gwsim/gwsim/scenarios/report"
)

func cmdMatrix(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("matrix", "[flags]",
		`Run every combination of scenario values (the cells) and show the race rate of
each: the share of requests the gateway answered with its race status (502;
Envoy 503, AWS CLB 504), beside the analytic model's prediction and the static
check's verdict. Prints a table; writes CSV and an SVG heatmap on request.

Each axis is a scenario field with its values. By default every cell starts
from Application Gateway V2 in front of Apache at time scale 0.001, and its load
is gap sweeps (one connection, gaps from 3 ms below to 2 ms above, in 100 µs
steps): one around the earlier of the cell's backend keep-alive and gateway
idle timeout, and one around the later when it is at most twice the earlier.
A sweep takes about 51 × its centre × time scale; cells run at once. With --scenario, cells start from that scenario and keep its load
(--sweep auto to sweep instead).`,
		`  gwsim matrix --gateway appgw-v2,aws-alb --backend-keepalive 5s,30s,55s,60s,65s,90s,120s --svg heat.svg --csv heat.csv
  gwsim matrix --gateway aws-alb --backend node,gunicorn,puma,node26 --json
  gwsim matrix --backend-keepalive 5s,120s --axis backend.close=fin,rst,linger
  gwsim matrix --scenario aws-alb-node-default --axis gateway.retry=none,idempotent --axis load.post_ratio=0,0.5
`)
	fs := c.fs
	gateways := fs.String("gateway", "", "axis gateway.preset: comma-separated gateway presets")
	backends := fs.String("backend", "", "axis backend.preset: comma-separated backend presets")
	idles := fs.String("gateway-idle", "", "axis gateway.backend_idle_timeout: comma-separated durations")
	keepalives := fs.String("backend-keepalive", "", "axis backend.keepalive_timeout: comma-separated durations")
	latencies := fs.String("link-latency", "", "axis link.latency: comma-separated one-way latencies (physical)")
	extra := fs.StringArray("axis", nil, "any scenario field as an axis: FIELD=V1,V2,... (repeatable), e.g. backend.close=fin,rst")
	base := fs.String("scenario", "", "the base of every cell: a built-in name or a YAML file (default: appgw-v2 + apache, gap sweeps)")
	sweep := fs.String("sweep", "", "auto (gap sweeps around keep-alive and idle) or base (the base scenario's own load); default auto without --scenario, base with it")
	scale := fs.Float64("time-scale", 0, "time scale of every cell (0 = the base's: 0.001 by default)")
	parallel := fs.Int("parallel", 0, "runs at once (0 = all)")
	csvFile := fs.String("csv", "", "write the cells as CSV to this file")
	svgFile := fs.String("svg", "", "write an SVG heatmap of the race rate to this file")
	jsonOut := fs.Bool("json", false, "print every cell as JSON instead of the table")
	var lf logFlags
	lf.add(fs, "off")
	if code, done := c.parse(args, stdout, stderr); done {
		return code
	}
	usage := func(msg string) int { code, _ := c.usageError(stderr, msg); return code }
	if fs.NArg() > 0 {
		return usage(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	var axes []scenarios.Axis
	for _, a := range []struct{ flag, field, list string }{
		{"gateway", "gateway.preset", *gateways}, {"backend", "backend.preset", *backends},
		{"gateway-idle", "gateway.backend_idle_timeout", *idles}, {"backend-keepalive", "backend.keepalive_timeout", *keepalives},
		{"link-latency", "link.latency", *latencies},
	} {
		if fs.Changed(a.flag) {
			vals := splitList(a.list)
			if len(vals) == 0 {
				return usage(fmt.Sprintf("--%s: no values", a.flag))
			}
			axes = append(axes, scenarios.Axis{Field: a.field, Values: vals})
		}
	}
	for _, a := range *extra {
		field, list, ok := strings.Cut(a, "=")
		if !ok || len(splitList(list)) == 0 {
			return usage(fmt.Sprintf("--axis %q: want FIELD=V1,V2,...", a))
		}
		axes = append(axes, scenarios.Axis{Field: strings.TrimSpace(field), Values: splitList(list)})
	}
	if len(axes) == 0 {
		return usage("no axis: give --gateway, --backend, --gateway-idle, --backend-keepalive, --link-latency or --axis")
	}
	if *scale != 0 {
		if err := checkScale(*scale); err != nil {
			return usage(err.Error())
		}
	}
	if *parallel < 0 {
		return usage(fmt.Sprintf("--parallel must be >= 0, got %d", *parallel))
	}
	opt := scenarios.MatrixOptions{Axes: axes, TimeScale: *scale, Parallel: *parallel, AutoSweep: *base == ""}
	switch *sweep {
	case "":
	case "auto":
		opt.AutoSweep = true
	case "base":
		opt.AutoSweep = false
	default:
		return usage(fmt.Sprintf("--sweep: want auto or base, got %q", *sweep))
	}
	if *base != "" {
		s, err := scenarios.Resolve(*base)
		if err != nil {
			return usage(err.Error())
		}
		opt.Base = s
	}
	log, err := lf.build(stderr)
	if err != nil {
		return usage(err.Error())
	}
	opt.Logger = log
	cells, err := scenarios.BuildMatrix(opt)
	if err != nil {
		return usage(err.Error())
	}
	if f, ok := stderr.(*os.File); ok && !*jsonOut && isTerminal(f) {
		opt.Progress = progressBar(stderr)
	}
	start := time.Now()
	scenarios.RunMatrix(ctx, cells, opt)
	if opt.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "gwsim matrix: interrupted\n")
		return exitRuntime
	}
	if *jsonOut {
		err = report.MatrixJSON(stdout, axes, cells)
	} else {
		err = report.MatrixTable(stdout, axes, cells)
		fmt.Fprintf(stdout, "\n%d cell(s) in %.1f s wall; MEASURED and PREDICTED are shares of requests answered with the race status\n",
			len(cells), time.Since(start).Seconds())
	}
	for _, out := range []struct {
		path  string
		write func(io.Writer, []scenarios.Axis, []*scenarios.Cell) error
	}{{*csvFile, report.MatrixCSV}, {*svgFile, report.Heatmap}} {
		if err == nil && out.path != "" {
			err = writeFile(out.path, func(w io.Writer) error { return out.write(w, axes, cells) })
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "gwsim matrix: %v\n", err)
		return exitRuntime
	}
	for _, cell := range cells {
		if cell.Err != nil {
			fmt.Fprintf(stderr, "gwsim matrix: %s: %v\n", strings.Join(cell.Values, "/"), cell.Err)
			return exitRuntime
		}
	}
	return exitOK
}

// writeFile creates path and fills it with write.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// isTerminal reports whether f is a character device (a TTY).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBar draws "[#####-----] done/total runs" on w, in place.
func progressBar(w io.Writer) func(done, total int) {
	return func(done, total int) {
		const width = 30
		n := width * done / max(total, 1)
		fmt.Fprintf(w, "\r[%s%s] %d/%d runs", strings.Repeat("#", n), strings.Repeat("-", width-n), done, total)
	}
}
