package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
)

func cmdPresets(_ context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("presets", "[flags] [PRESET ...]",
		`List the gateway and backend presets with their values and where each value
comes from (documents, or measurements; "assumption" marks what no document
says). VERIFIED says whether a preset was measured against the real server or
gateway on loopback (its version; the tests TestRealServers and
TestGatewayPresetsReal, with any difference found) or is documented only
(docs/presets.md has the figures). Scenario files select them with
gateway.preset and backend.preset; the matrix and check commands take them by
name.`,
		`  gwsim presets
  gwsim presets aws-alb node          # one gateway and one backend, with sources
  gwsim presets --no-sources
`)
	noSources := c.fs.Bool("no-sources", false, "print the tables only")
	if code, done := c.parse(args, stdout, stderr); done {
		return code
	}
	gateways, backends := proxy.ProfileNames(), backend.PresetNames()
	if c.fs.NArg() > 0 {
		var gw, be []string
		for _, n := range c.fs.Args() {
			isGW, isBE := slices.Contains(gateways, n), slices.Contains(backends, n)
			if !isGW && !isBE {
				code, _ := c.usageError(stderr, fmt.Sprintf("unknown preset %q (gateways: %s; backends: %s)", n,
					strings.Join(gateways, ", "), strings.Join(backends, ", ")))
				return code
			}
			if isGW {
				gw = append(gw, n)
			}
			if isBE {
				be = append(be, n)
			}
		}
		gateways, backends = gw, be
	}
	if len(gateways) > 0 {
		fmt.Fprintln(stdout, "Gateways (real-world values; a scenario's gateway section overrides any of them):")
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PRESET\tCLIENT KEEP-ALIVE\tBACKEND IDLE\tREQUEST TIMEOUT\tON TIMEOUT\tON RACE\tRETRY\tPOOL\tREUSE\tVERIFIED")
		for _, n := range gateways {
			p, _ := proxy.LookupProfile(n)
			onTimeout := strconv.Itoa(p.TimeoutStatus)
			if p.TimeoutTriesOtherMember {
				onTimeout = "next member, then " + onTimeout
			}
			onRace := strconv.Itoa(p.RaceStatus)
			if p.SilentCloseOnLaterRequest {
				onRace += ", later request: close" // no response on a client connection's second or later request
			}
			reuse, _ := proxy.ParseReusePolicy(string(p.Reuse))
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n, presetDur(p.ClientKeepAlive, "none"), gatewayIdleWords(p.BackendIdleTimeout),
				presetDur(p.RequestTimeout, "none"), onTimeout, onRace, p.Retry, p.PoolOrder, reuse, verifiedShort(proxy.ProfileVerified(n)))
		}
		if err := tw.Flush(); err != nil {
			return exitRuntime
		}
	}
	if len(backends) > 0 {
		if len(gateways) > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintln(stdout, "Backends (a scenario's backend section overrides any of them):")
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PRESET\tKEEP-ALIVE (CLOSES AT)\tADVERTISED\tMAX REQUESTS\tCLOSE\tVERIFIED")
		for _, n := range backends {
			b, _ := backend.Preset(n)
			ka := presetDur(b.KeepAliveTimeout, "off")
			if b.Tick > 0 && b.KeepAliveTimeout > 0 {
				ka += ", " + presetDur(b.Tick, "") + " tick"
			}
			if b.IdleForever {
				ka = "no limit"
			}
			adv := presetAdvertises(b)
			maxReq := "unlimited"
			switch {
			case b.KeepAliveTimeout == 0 && !b.IdleForever:
				maxReq = "1" // keep-alive off
			case b.MaxKeepAliveRequests > 0:
				maxReq = strconv.Itoa(b.MaxKeepAliveRequests)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n, ka, adv, maxReq, b.Close, verifiedShort(backend.PresetVerified(n)))
		}
		if err := tw.Flush(); err != nil {
			return exitRuntime
		}
	}
	if *noSources {
		return exitOK
	}
	fmt.Fprintln(stdout, "\nSources (\"assumption\": no document says; check it and override it in your scenario):")
	for _, n := range gateways {
		fmt.Fprintf(stdout, "  gateway %s:\n", n)
		for _, s := range proxy.ProfileSources(n) {
			fmt.Fprintf(stdout, "    %-29s %s%s\n", s.Field, assumptionMark(s.Assumption), s.Text)
		}
		fmt.Fprintf(stdout, "    %-29s %s\n", "verified", proxy.ProfileVerified(n))
	}
	for _, n := range backends {
		fmt.Fprintf(stdout, "  backend %s:\n", n)
		for _, s := range backend.PresetSources(n) {
			fmt.Fprintf(stdout, "    %-29s %s%s\n", s.Field, assumptionMark(s.Assumption), s.Text)
		}
		fmt.Fprintf(stdout, "    %-29s %s\n", "verified", backend.PresetVerified(n))
	}
	fmt.Fprintln(stdout, "\nEvery value, its source and the real servers' and gateways' figures: docs/presets.md.")
	return exitOK
}

// presetAdvertises is what a backend preset's Keep-Alive header says, and
// when: "timeout=5", "timeout=5 if asked", "never", "-" (no timeout to
// state).
func presetAdvertises(b backend.Config) string {
	mode, _ := backend.ParseAdvertiseMode(string(b.Advertise))
	param := b.TimeoutParam()
	switch {
	case mode == backend.AdvertiseNever:
		return "never"
	case param == "":
		return "-"
	case mode == backend.AdvertiseAsked:
		return param + " if asked"
	}
	return param
}

// verifiedShort is a backend preset's verification for the table: the
// server and version measured ("measured: Apache 2.4.71"), or "documented
// only".
func verifiedShort(v string) string {
	if what, ok := strings.CutPrefix(v, "measured: "); ok {
		if i := strings.Index(what, " ("); i > 0 {
			what = what[:i]
		}
		return "measured: " + what
	}
	if i := strings.Index(v, " ("); i > 0 {
		return v[:i]
	}
	return v
}

func assumptionMark(a bool) string {
	if a {
		return "assumption: "
	}
	return ""
}

// presetDur prints a real-world duration briefly: 60 s, 600 s, 1 h.
func presetDur(d time.Duration, zero string) string {
	switch {
	case d == 0:
		return zero
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d >= time.Second:
		return strconv.FormatFloat(d.Seconds(), 'g', 6, 64) + " s"
	}
	return d.String()
}

// gatewayIdleWords prints a gateway's backend idle timeout: none (kept
// until the backend closes it), no reuse (a new connection per request).
func gatewayIdleWords(d time.Duration) string {
	switch {
	case d == 0:
		return "none"
	case d < time.Microsecond:
		return "no reuse"
	}
	return presetDur(d, "none")
}
