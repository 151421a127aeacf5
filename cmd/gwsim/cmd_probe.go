package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/gwsim/gwsim/scenarios/probe"
	"github.com/gwsim/gwsim/scenarios/report"
	"github.com/gwsim/gwsim/scenarios/rule"
)

func cmdProbe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("probe", "[flags] URL",
		`Measure a real server's keep-alive from the client's side of its sockets, in
about one keep-alive period plus a second: when it closes an idle connection
(median and spread over several connections opened at once), how (fin: a FIN,
and a request sent after it is reset; linger: a FIN, then what comes is drained;
rst: the close is a reset), the Keep-Alive timeout it advertises, how many
requests it serves on one connection, and whether keep-alive is on at all. Then
the race rule's verdict behind every gateway preset, with the keep-alive to set.
http and https.`,
		`  gwsim probe http://127.0.0.1:8081/
  gwsim probe --json --max-wait 10m https://api.internal.example/health
  gwsim probe --write-backend measured.yaml http://127.0.0.1:8081/
`)
	fs := c.fs
	conns := fs.Int("connections", 5, "idle connections watched at once")
	maxWait := fs.Duration("max-wait", 2*time.Minute, "longest wait for an idle close")
	maxRequests := fs.Int("max-requests", 1000, "most requests sent on one connection to find the server's limit")
	insecure := fs.Bool("insecure", false, "https: skip the certificate check")
	jsonOut := fs.Bool("json", false, "print the measurement as JSON")
	writeBackend := fs.String("write-backend", "", "write a scenario backend section that makes gwsim's backend behave as measured")
	if code, done := c.parse(args, stdout, stderr); done {
		return code
	}
	usage := func(msg string) int { code, _ := c.usageError(stderr, msg); return code }
	if fs.NArg() != 1 {
		return usage("give one URL")
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usage(fmt.Sprintf("%q: want an http:// or https:// URL with a host, e.g. http://127.0.0.1:8081/", fs.Arg(0)))
	}
	if *conns < 1 || *conns > 100 || *maxWait <= 0 || *maxRequests < 1 {
		return usage("--connections must be 1..100, --max-wait > 0, --max-requests >= 1")
	}
	res, err := probe.Run(ctx, probe.Options{URL: u, Connections: *conns, MaxWait: *maxWait, MaxRequests: *maxRequests, Insecure: *insecure})
	if err != nil {
		fmt.Fprintf(stderr, "gwsim probe: %v\n", err)
		return exitRuntime
	}
	verdicts := probe.Verdicts(res)
	if *writeBackend != "" {
		if err := os.WriteFile(*writeBackend, []byte(probe.BackendYAML(res)), 0o644); err != nil {
			fmt.Fprintf(stderr, "gwsim probe: %v\n", err)
			return exitRuntime
		}
	}
	if *jsonOut {
		if err := writeProbeJSON(stdout, res, verdicts); err != nil {
			return exitRuntime
		}
		return exitOK
	}
	printProbe(stdout, res, verdicts)
	return exitOK
}

// probeJSON is `gwsim probe --json`.
type probeJSON struct {
	SchemaVersion       int           `json:"schema_version"` // report.SchemaVersion; first key
	URL                 string        `json:"url"`
	Keepalive           bool          `json:"keepalive"`
	IdleCloseSeconds    *float64      `json:"idle_close_seconds"` // null: keep-alive off, or no close within max-wait
	IdleCloseSpread     *float64      `json:"idle_close_spread_seconds"`
	IdleClosesSeen      int           `json:"idle_closes_seen"`
	NoCloseWithin       *float64      `json:"no_idle_close_within_seconds,omitempty"`
	CloseStyle          *string       `json:"close_style"`
	LateRequest         *string       `json:"late_request"`
	AdvertisedKeepalive *float64      `json:"advertised_keepalive_seconds"`
	MaxRequests         *int          `json:"max_requests"`
	MaxRequestsBound    int           `json:"max_requests_bound"`
	Verdicts            []verdictJSON `json:"verdicts"`
	Errors              []string      `json:"errors,omitempty"`
}

type verdictJSON struct {
	Gateway            string   `json:"gateway"`
	Verdict            string   `json:"verdict"`
	RecommendedSeconds *float64 `json:"recommended_keepalive_seconds"`
	Rule               string   `json:"rule"`
}

func writeProbeJSON(w io.Writer, r *probe.Result, vs []probe.Verdict) error {
	secs := func(d time.Duration) *float64 { f := d.Seconds(); return &f }
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	doc := probeJSON{SchemaVersion: report.SchemaVersion, URL: r.URL, Keepalive: r.KeepAlive, IdleClosesSeen: len(r.IdleCloses), CloseStyle: str(r.Style),
		LateRequest: str(r.LateRequest), MaxRequestsBound: r.RequestBound, Errors: r.Errors, Verdicts: []verdictJSON{}}
	if len(r.IdleCloses) > 0 {
		doc.IdleCloseSeconds, doc.IdleCloseSpread = secs(r.Median), secs(r.Spread)
	}
	if r.NoCloseWithin > 0 {
		doc.NoCloseWithin = secs(r.NoCloseWithin)
	}
	if r.Advertised >= 0 {
		doc.AdvertisedKeepalive = secs(r.Advertised)
	}
	if r.MaxRequests > 0 {
		n := r.MaxRequests
		doc.MaxRequests = &n
	}
	for _, v := range vs {
		j := verdictJSON{Gateway: v.Gateway, Verdict: v.Verdict, Rule: v.Rule}
		if v.Recommended > 0 {
			j.RecommendedSeconds = secs(v.Recommended)
		}
		doc.Verdicts = append(doc.Verdicts, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func printProbe(w io.Writer, r *probe.Result, vs []probe.Verdict) {
	fmt.Fprintf(w, "%s\n", r.URL)
	switch {
	case !r.KeepAlive:
		fmt.Fprintln(w, "  keep-alive: off (it answers Connection: close to a request that asks for keep-alive): no connection is reused, no race")
	case len(r.IdleCloses) == 0:
		fmt.Fprintf(w, "  idle close: none within %s (%d connections watched)\n", rule.Dur(r.NoCloseWithin), r.Watched)
	default:
		fmt.Fprintf(w, "  idle close: %s after the answer (median of %d connections; spread %s)\n", probeDur(r.Median), len(r.IdleCloses), probeDur(r.Spread))
		fmt.Fprintf(w, "  close style: %s (%s)\n", r.Style, styleWords(r.Style, r.LateRequest))
	}
	switch {
	case r.Advertised < 0:
		fmt.Fprintln(w, "  advertised: no Keep-Alive timeout")
	case len(r.IdleCloses) > 0:
		fmt.Fprintf(w, "  advertised: Keep-Alive: timeout=%d (%s)\n", int(r.Advertised.Seconds()), advertisedWords(r.Advertised, r.Median))
	default:
		fmt.Fprintf(w, "  advertised: Keep-Alive: timeout=%d\n", int(r.Advertised.Seconds()))
	}
	if r.KeepAlive {
		if r.MaxRequests > 0 {
			fmt.Fprintf(w, "  requests per connection: %d (then Connection: close)\n", r.MaxRequests)
		} else {
			fmt.Fprintf(w, "  requests per connection: no limit up to %d\n", r.RequestBound)
		}
	}
	if r.Failed > 0 {
		fmt.Fprintf(w, "  %d connection(s) could not tell: %s\n", r.Failed, r.Errors[0])
	}
	fmt.Fprintln(w, "  behind each gateway preset (the race rule; gwsim check for the reasons):")
	for _, v := range vs {
		rec := ""
		if v.Recommended > 0 && v.Verdict != "safe" {
			rec = ": set the keep-alive to " + rule.Dur(v.Recommended)
		}
		fmt.Fprintf(w, "    %-14s %s%s\n", v.Gateway, v.Verdict, rec)
	}
}

func styleWords(style, late string) string {
	switch style {
	case probe.StyleRST:
		return "the idle close is a reset"
	case probe.StyleLinger:
		if late == probe.LateAnswered {
			return "a FIN, and a request sent after it was answered"
		}
		return "a FIN, then a request sent after it was drained, not reset: lingering close"
	}
	return "a FIN; a request sent after it was reset"
}

func advertisedWords(adv, closed time.Duration) string {
	switch d := closed - adv; {
	case d > 100*time.Millisecond:
		return fmt.Sprintf("it closes %s later than it says", probeDur(d))
	case d < -100*time.Millisecond:
		return fmt.Sprintf("it closes %s earlier than it says", probeDur(-d))
	}
	return "it closes when it says"
}

// probeDur prints a measured duration with a useful precision.
func probeDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return d.Round(time.Microsecond).String()
}
