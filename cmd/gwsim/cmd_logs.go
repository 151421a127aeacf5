package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios"
	"github.com/gwsim/gwsim/scenarios/gwlog"
	"github.com/gwsim/gwsim/scenarios/report"
	"github.com/gwsim/gwsim/scenarios/rule"
)

// logsGateway is the gateway preset whose idle limit the verdict uses for
// a format, when --gateway does not name one. nginx: a log with upstream
// closes comes from a pool of kept connections (upstream keepalive),
// hence nginx-pooling.
var logsGateway = map[gwlog.Format]string{
	gwlog.FormatAppGW:   "appgw-v2",
	gwlog.FormatALB:     "aws-alb",
	gwlog.FormatNginx:   "nginx-pooling",
	gwlog.FormatHAProxy: "haproxy",
	gwlog.FormatEnvoy:   "envoy",
	gwlog.FormatGCP:     "gcp-global",
}

func cmdLogs(_ context.Context, args []string, stdout, stderr io.Writer) int {
	formats := make([]string, len(gwlog.Formats))
	for i, f := range gwlog.Formats {
		formats[i] = string(f)
	}
	c := newCommand("logs", "FILE... [flags]",
		`Read a gateway's own logs (Application Gateway V1/V2, AWS ALB, nginx, HAProxy,
Envoy, GCP; gzip accepted) and classify every 5xx and client reset as the
keep-alive race, a backend time-out, no live backend, or other, with the
fields that say so. Where the log names the upstream connection (Application
Gateway's instanceId, serverRouted and upstreamSourcePort; HAProxy's %bi:%bp;
Envoy's upstream local address), each connection's requests are rebuilt, the
idle gap before each failure measured, and the backend's keep-alive inferred
from the failures' gaps; then the rule's verdict and the keep-alive to set.`,
		`  gwsim logs access.json                           # Application Gateway diagnostic log (or AGWAccessLogs export)
  gwsim logs --format nginx /var/log/nginx/error.log
  gwsim logs --json alb-logs/*.log.gz
  gwsim logs access.json --write-scenario repro.yaml  # a scenario that reproduces what was found
`)
	fs := c.fs
	format := fs.String("format", "auto", "log format: "+strings.Join(formats, ", "))
	jsonOut := fs.Bool("json", false, "print the analysis as JSON")
	gatewayName := fs.String("gateway", "", "the gateway preset for the verdict (default by format: appgw-v2, aws-alb, nginx-pooling, haproxy, envoy, gcp-global)")
	keepAlive := fs.Duration("backend-keepalive", 0, "the backend's idle keep-alive (real-world), when you know it (else inferred from the log where it can be; gwsim probe measures it)")
	scale := fs.Float64("time-scale", 1, "the log is of a gwsim run at this time scale: its idle gaps are divided by it, so the keep-alive, the verdict and the advice are real-world")
	writeScenario := fs.String("write-scenario", "", "write a scenario file that reproduces what the log shows (needs the backend's keep-alive)")
	maxShown := fs.Int("max", 10, "failures to print (text output)")
	if code, done := c.parse(args, stdout, stderr); done {
		return code
	}
	usage := func(msg string) int { code, _ := c.usageError(stderr, msg); return code }
	if fs.NArg() == 0 {
		return usage("give at least one log file")
	}
	f := gwlog.Format(*format)
	if !validFormat(f) {
		return usage(fmt.Sprintf("--format: unknown format %q (want %s)", *format, strings.Join(formats, ", ")))
	}
	if *keepAlive < 0 {
		return usage(fmt.Sprintf("--backend-keepalive must be > 0, got %s", *keepAlive))
	}
	if err := checkScale(*scale); err != nil {
		return usage(err.Error())
	}
	if *gatewayName != "" {
		if _, err := proxy.LookupProfile(*gatewayName); err != nil {
			return usage("--gateway: " + err.Error())
		}
	}

	var an *gwlog.Analyzer
	var files []logsFile
	var gw proxy.Profile
	for _, path := range fs.Args() {
		lf, err := readLog(path, f, stderr, func(first gwlog.Format) func(gwlog.Record) {
			if an == nil {
				name := *gatewayName
				if name == "" {
					name = logsGateway[first]
				}
				gw, _ = proxy.LookupProfile(name)
				in := scenarios.CheckFor(gw, backend.Config{})
				an = gwlog.NewAnalyzer(gwlog.Options{
					Gateway: rule.Setting{Gateway: gw.Name, GatewayIdle: in.GatewayIdle, GatewayNoReuse: in.GatewayNoReuse,
						GatewayReuseSafe: in.GatewayReuseSafe, GatewaySilentClose: in.GatewaySilentClose},
					BackendKeepAlive: *keepAlive,
					TimeScale:        *scale,
				})
			}
			return an.Add
		})
		if err != nil {
			fmt.Fprintf(stderr, "gwsim logs: %v\n", err)
			return exitRuntime
		}
		an.Skipped(lf.Skipped, lf.firstSkipped)
		files = append(files, lf)
	}
	if an == nil { // every file was empty
		fmt.Fprintf(stderr, "gwsim logs: no log line in %s\n", strings.Join(fs.Args(), ", "))
		return exitRuntime
	}
	res := an.Result()
	if *writeScenario != "" {
		if err := writeLogsScenario(*writeScenario, res, gw); err != nil {
			fmt.Fprintf(stderr, "gwsim logs: --write-scenario: %v\n", err)
			return exitRuntime
		}
	}
	if *jsonOut {
		b, err := json.MarshalIndent(logsJSONOf(res, files, gw, *scale), "", "  ")
		if err != nil {
			fmt.Fprintf(stderr, "gwsim logs: %v\n", err)
			return exitRuntime
		}
		fmt.Fprintln(stdout, string(b))
		return exitOK
	}
	printLogs(stdout, res, files, gw, *maxShown)
	return exitOK
}

func validFormat(f gwlog.Format) bool {
	for _, x := range gwlog.Formats {
		if x == f {
			return true
		}
	}
	return false
}

// logsFile is what one file gave.
type logsFile struct {
	Path    string       `json:"path"`
	Format  gwlog.Format `json:"format"`
	Records int          `json:"records"`
	Skipped int          `json:"skipped_lines"`

	firstSkipped string // "file:line: why", for the analyzer
}

// readLog streams one gateway log to the function sink returns once the
// log's format is known, with a progress bar on a terminal.
func readLog(path string, f gwlog.Format, stderr io.Writer, sink func(gwlog.Format) func(gwlog.Record)) (logsFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return logsFile{}, err
	}
	defer fh.Close()
	in, done := withProgress(fh, path, stderr)
	defer done()
	r, err := gwlog.NewReader(in, path, f)
	if err != nil {
		return logsFile{}, err
	}
	out := logsFile{Path: path, Format: r.Format()}
	add := sink(r.Format())
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return logsFile{}, fmt.Errorf("%s: %w", path, err)
		}
		out.Records++
		add(rec)
	}
	out.Skipped, out.firstSkipped = r.Skipped(), r.FirstSkipped()
	return out, nil
}

// withProgress is f, drawing a progress bar of its bytes on stderr when
// stderr is a terminal and f a regular file; done clears the bar.
func withProgress(f *os.File, path string, stderr io.Writer) (r io.Reader, done func()) {
	tty, ok := stderr.(*os.File)
	if !ok || !isTerminal(tty) {
		return f, func() {}
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return f, func() {}
	}
	bar := progressbar.NewOptions64(st.Size(), progressbar.OptionSetWriter(stderr), progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("reading "+path), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))
	return io.TeeReader(f, bar), func() { _ = bar.Finish() }
}

// logsJSON is `gwsim logs --json`. Seconds are real-world: a gwsim run's
// log at --time-scale has its idle gaps divided by it (its timestamps and
// hours stay as written).
type logsJSON struct {
	SchemaVersion  int            `json:"schema_version"`
	TimeScale      float64        `json:"time_scale"`
	Files          []logsFile     `json:"files"`
	Requests       int            `json:"requests"`
	ErrorLogEvents int            `json:"error_log_events"`
	Status         map[string]int `json:"status"`
	Causes         map[string]int `json:"causes"`
	// InferredKeepAlive is the keep-alive the log's idle gaps tell, null
	// when they cannot; BackendKeepAlive is the one the verdict used
	// (inferred or stated).
	InferredKeepAlive  *float64       `json:"inferred_backend_keepalive_seconds"`
	BackendKeepAlive   *float64       `json:"backend_keepalive_seconds"`
	KeepAliveNote      string         `json:"backend_keepalive_note"`
	UpstreamConnsNamed bool           `json:"upstream_connections_named"`
	UpstreamConns      int            `json:"upstream_connections"`
	Gateway            string         `json:"gateway"`
	GatewayIdle        float64        `json:"gateway_idle_seconds"` // 0 = no limit
	Verdict            string         `json:"verdict"`
	Rule               string         `json:"rule,omitempty"`
	Advice             string         `json:"advice,omitempty"`
	Recommended        float64        `json:"recommended_backend_keepalive_seconds"`
	ByHour             []logsHourJSON `json:"by_hour"`
	Failures           []logsFailJSON `json:"failures"`
	FailuresNotListed  int            `json:"failures_not_listed"`
	SkippedLines       int            `json:"skipped_lines"`
	FirstSkipped       string         `json:"first_skipped,omitempty"`
}

type logsHourJSON struct {
	Hour     string `json:"hour"`
	Requests int    `json:"requests"`
	Failures int    `json:"failures"`
	Races    int    `json:"races"`
}

type logsFailJSON struct {
	File           string   `json:"file"`
	Line           int      `json:"line"`
	Time           string   `json:"time,omitempty"`
	Status         int      `json:"status"`
	UpstreamStatus int      `json:"upstream_status"`
	Method         string   `json:"method,omitempty"`
	URI            string   `json:"uri,omitempty"`
	Upstream       string   `json:"upstream,omitempty"`
	Conn           string   `json:"upstream_connection,omitempty"`
	Cause          string   `json:"cause"`
	Evidence       string   `json:"evidence"`
	Idle           *float64 `json:"idle_seconds"`
	Prior          int      `json:"prior_requests_on_connection"`
	Reason         string   `json:"reason,omitempty"`
}

func logsJSONOf(res gwlog.Result, files []logsFile, gw proxy.Profile, scale float64) logsJSON {
	out := logsJSON{SchemaVersion: report.SchemaVersion, TimeScale: scale, Files: files, Requests: res.Requests, ErrorLogEvents: res.Events,
		Status: map[string]int{}, Causes: map[string]int{}, KeepAliveNote: res.KeepAliveNote,
		UpstreamConnsNamed: res.ConnsNamed, UpstreamConns: res.Conns, Gateway: gw.Name, GatewayIdle: gw.BackendIdleTimeout.Seconds(),
		Verdict: res.Verdict, Rule: res.Decision.Rule, Advice: res.Decision.Advice, Recommended: res.Recommended.Seconds(),
		ByHour: []logsHourJSON{}, Failures: []logsFailJSON{}, FailuresNotListed: res.FailuresDropped,
		SkippedLines: res.Skipped, FirstSkipped: res.FirstSkipped}
	for s, n := range res.Status {
		out.Status[strconv.Itoa(s)] = n
	}
	for c, n := range res.Causes {
		out.Causes[string(c)] = n
	}
	if res.KeepAlive > 0 {
		k := res.KeepAlive.Seconds()
		out.BackendKeepAlive = &k
		if res.KeepAliveInferred {
			out.InferredKeepAlive = &k
		}
	}
	for _, h := range res.ByHour {
		out.ByHour = append(out.ByHour, logsHourJSON{Hour: h.Hour.Format(time.RFC3339), Requests: h.Requests, Failures: h.Failures, Races: h.Races})
	}
	for _, f := range res.Failures {
		j := logsFailJSON{File: f.File, Line: f.Line, Status: f.Status, UpstreamStatus: f.UpstreamStatus, Method: f.Method, URI: f.URI,
			Upstream: f.Upstream, Conn: f.Conn, Cause: string(f.Class), Evidence: f.Evidence, Prior: f.Prior, Reason: f.Reason}
		if !f.Time.IsZero() {
			j.Time = f.Time.UTC().Format(time.RFC3339Nano)
		}
		if f.Idle >= 0 {
			s := f.Idle.Seconds()
			j.Idle = &s
		}
		out.Failures = append(out.Failures, j)
	}
	return out
}

// printLogs is the text report.
func printLogs(w io.Writer, res gwlog.Result, files []logsFile, gw proxy.Profile, maxShown int) {
	for _, f := range files {
		fmt.Fprintf(w, "%s: %s, %d lines read, %d skipped\n", f.Path, f.Format, f.Records, f.Skipped)
	}
	if res.FirstSkipped != "" {
		fmt.Fprintf(w, "first skipped: %s\n", res.FirstSkipped)
	}
	fmt.Fprintf(w, "requests: %d", res.Requests)
	if res.Events > 0 {
		fmt.Fprintf(w, "; error-log events about requests: %d", res.Events)
	}
	fmt.Fprintln(w)
	if len(res.Status) > 0 {
		codes := make([]int, 0, len(res.Status))
		for s := range res.Status {
			codes = append(codes, s)
		}
		sort.Ints(codes)
		parts := make([]string, len(codes))
		for i, s := range codes {
			name := strconv.Itoa(s)
			if s == 0 {
				name = "none"
			}
			parts[i] = fmt.Sprintf("%s %d", name, res.Status[s])
		}
		fmt.Fprintf(w, "status: %s\n", strings.Join(parts, ", "))
	}
	causes := make([]string, 0, len(res.Causes))
	for c := range res.Causes {
		causes = append(causes, string(c))
	}
	sort.Strings(causes)
	if len(causes) == 0 {
		fmt.Fprintln(w, "causes: none (no 5xx, no client reset)")
	} else {
		parts := make([]string, len(causes))
		for i, c := range causes {
			parts[i] = fmt.Sprintf("%s %d", c, res.Causes[gwlog.Class(c)])
		}
		fmt.Fprintf(w, "causes: %s\n", strings.Join(parts, ", "))
	}
	if res.KeepAlive > 0 {
		fmt.Fprintf(w, "backend keep-alive: %s, %s\n", rule.Dur(res.KeepAlive), res.KeepAliveNote)
	} else {
		fmt.Fprintf(w, "backend keep-alive: unknown; %s\n", res.KeepAliveNote)
	}
	fmt.Fprintf(w, "verdict (gateway %s): %s", gw.Name, res.Verdict)
	if res.Decision.Rule != "" {
		fmt.Fprintf(w, ": %s\n  advice: %s\n", res.Decision.Rule, res.Decision.Advice)
	} else {
		fmt.Fprintf(w, ": the rule needs the backend's keep-alive (--backend-keepalive, or gwsim probe URL)\n")
		if res.Recommended > 0 {
			fmt.Fprintf(w, "  advice: behind %s, a backend keep-alive of %s removes the race\n", gw.Name, rule.Dur(res.Recommended))
		}
	}
	if len(res.ByHour) > 0 {
		fmt.Fprintln(w, "by hour (UTC; the race follows idleness, not traffic):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  hour\trequests\tfailures\traces\t")
		for _, h := range res.ByHour {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t\n", h.Hour.Format("2006-01-02 15:00"), h.Requests, h.Failures, h.Races)
		}
		_ = tw.Flush()
	}
	total := len(res.Failures) + res.FailuresDropped
	if total == 0 || maxShown <= 0 {
		return
	}
	shown := min(maxShown, len(res.Failures))
	fmt.Fprintf(w, "failures (%d of %d):\n", shown, total)
	for _, f := range res.Failures[:shown] {
		at := "-"
		if !f.Time.IsZero() {
			at = f.Time.UTC().Format("2006-01-02T15:04:05.000Z")
		}
		status := strconv.Itoa(f.Status)
		if f.Status == 0 {
			status = "-"
		}
		fmt.Fprintf(w, "  %s:%d %s %s %s %s: %s", f.File, f.Line, at, status, f.Method, f.URI, f.Class)
		if f.Reason != "" {
			fmt.Fprintf(w, "; %s", f.Reason)
		}
		if f.Conn != "" {
			fmt.Fprintf(w, "; connection %s", f.Conn)
		}
		fmt.Fprintf(w, "\n    evidence: %s\n", f.Evidence)
	}
}

// writeLogsScenario writes a scenario that reproduces what the log shows:
// the gateway preset, a toy backend closing at the keep-alive found, and a
// gap sweep across that close.
func writeLogsScenario(path string, res gwlog.Result, gw proxy.Profile) error {
	if res.KeepAlive <= 0 {
		return fmt.Errorf("the backend's keep-alive is not known (%s): give --backend-keepalive", res.KeepAliveNote)
	}
	k := res.KeepAlive.Round(time.Millisecond) // real-world, as scenario files are
	how := "stated"
	if res.KeepAliveInferred {
		how = "inferred from the idle gaps before the failures"
	}
	races := res.Causes[gwlog.ClassRace] + res.Causes[gwlog.ClassRaceLikely]
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by gwsim logs from %d requests: %d failures with the keep-alive race's signature.\n", res.Requests, races)
	fmt.Fprintf(&b, "name: from-gateway-logs\n")
	fmt.Fprintf(&b, "description: >\n  %s in front of a backend that closes idle connections after %s (%s).\n  A request sent as the backend closes its connection gets the race's status.\n",
		gw.Name, rule.Dur(k), how)
	fmt.Fprintf(&b, "why: %s\n", yamlQuote("verdict "+res.Verdict+": "+res.Decision.Rule))
	fmt.Fprintf(&b, "time_scale: auto\ngateway:\n  preset: %s\nbackend:\n  keepalive_timeout: %s\n  close: fin\n", gw.Name, k)
	fmt.Fprintf(&b, "load:\n  # One connection, requests spaced by gaps stepped across the backend's close.\n  pattern: gap-sweep\n  gap_around: backend-close\n  gap_from: -3ms\n  gap_to: 2ms\n  gap_step: 100us\n")
	if res.Decision.Verdict == rule.Unsafe {
		fmt.Fprintf(&b, "expect:\n  status: {\"%d\": \">0\"}\n", raceStatusOf(gw))
	}
	// The file must load as a scenario: a test of what we write.
	if _, err := scenarios.Parse(path, []byte(b.String())); err != nil {
		return fmt.Errorf("the scenario written does not load: %w", err)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func raceStatusOf(p proxy.Profile) int {
	if p.RaceStatus != 0 {
		return p.RaceStatus
	}
	return 502
}

// yamlQuote quotes s as a JSON string, which is a YAML double-quoted
// scalar.
func yamlQuote(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}
