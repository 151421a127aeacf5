// Command gwsim reproduces, explains and regression-tests the HTTP/1.1
// keep-alive race between a gateway (Azure Application Gateway V1/V2 first)
// and its backends: the intermittent 502.
//
//	gwsim run                 the seed suite: the race, then its cures
//	gwsim proxy ...           the gateway, standalone
//	gwsim backend ...         the toy backend, standalone
//	gwsim load ...            the load driver, standalone
//	gwsim scenarios           the built-in scenarios
//	gwsim probe URL           a real server's keep-alive, measured
//	gwsim explain FILE...     every failure in journals or captures, explained
//	gwsim logs FILE...        a gateway's own logs: every 5xx classified
//	gwsim check, matrix       the race rule without traffic, every combination
//	gwsim version             also gwsim --version
//
// Exit codes: 0 ok, 1 runtime error, 2 usage error, 3 an expectation failed,
// 4 nothing failed but something was inconclusive (the machine's timing
// could have changed the answer).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gwsim/gwsim/scenarios"
)

// Exit codes (ARCHITECTURE.md).
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
	exitExpect  = 3
	// exitInconclusive: nothing failed, but a verdict was inconclusive.
	exitInconclusive = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const mainUsage = `gwsim reproduces, explains and regression-tests the intermittent 502 of the
HTTP/1.1 keep-alive race between a gateway and its backends.

Usage: gwsim <command> [flags]

Commands:
  run        run scenarios in-process (no argument: the seed suite) and check them
  proxy      run the gateway (Application Gateway V1/V2, ALB, GCP, nginx, HAProxy, Envoy, ... presets)
  backend    run the toy backend (keep-alive, close style, race trap, faults)
  load       drive traffic shaped to hit the race and count every 502 and reset
  explain    explain every failure in journals or packet captures (pcap, pcapng), with the gateway's access log
  tune       read or change a running backend's or gateway's settings (admin API)
  health     exit 0 when a URL answers 200 (container healthchecks)
  scenarios  list the built-in scenarios
  presets    list the gateway and backend presets, with values and sources
  matrix     run every combination of settings: race rate table, CSV, SVG heatmap
  check      decide without traffic whether a gateway and a backend can race (exit 3 if so)
  probe      measure a real server's keep-alive: idle close, close style, advertised timeout, verdicts
  logs       read a gateway's logs (App Gateway, ALB, nginx, HAProxy, Envoy, GCP): classify every 5xx, infer the keep-alive
  version    print the version

Run 'gwsim <command> --help' (or 'gwsim help <command>') for a command's flags
and examples; 'gwsim --version' prints the version.

Examples:
  gwsim run                          # the race, then its cures; exit 0
  gwsim run appgw-v2-apache-default --json
  gwsim check --gateway appgw-v2 --backend apache     # unsafe: exit 3
  gwsim probe http://127.0.0.1:8081/                 # a real server's keep-alive, measured
  gwsim matrix --gateway appgw-v2,aws-alb --backend-keepalive 5s,60s,65s,120s --svg heat.svg
  gwsim backend --preset apache --listen 127.0.0.1:8081
  gwsim proxy --profile appgw-v2 --listen 127.0.0.1:8080 --backends 127.0.0.1:8081
  gwsim load --target http://127.0.0.1:8080/ --pattern gap-sweep --gap-from 4.99s --gap-to 5.01s --gap-step 1ms

Exit codes: 0 ok, 1 runtime error, 2 usage error, 3 an expectation failed.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return exitUsage
	}
	rest := args[1:]
	switch args[0] {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "proxy":
		return cmdProxy(ctx, rest, stdout, stderr)
	case "backend":
		return cmdBackend(ctx, rest, stdout, stderr)
	case "load":
		return cmdLoad(ctx, rest, stdout, stderr)
	case "scenarios":
		return cmdScenarios(ctx, rest, stdout, stderr)
	case "explain":
		return cmdExplain(ctx, rest, stdout, stderr)
	case "tune":
		return cmdTune(ctx, rest, stdout, stderr)
	case "health":
		return cmdHealth(ctx, rest, stdout, stderr)
	case "presets":
		return cmdPresets(ctx, rest, stdout, stderr)
	case "matrix":
		return cmdMatrix(ctx, rest, stdout, stderr)
	case "check":
		return cmdCheck(ctx, rest, stdout, stderr)
	case "probe":
		return cmdProbe(ctx, rest, stdout, stderr)
	case "logs":
		return cmdLogs(ctx, rest, stdout, stderr)
	case "version":
		return cmdVersion(ctx, rest, stdout, stderr)
	case "--version", "-version":
		return cmdVersion(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		if len(rest) == 0 || args[0] != "help" {
			fmt.Fprint(stdout, mainUsage)
			return exitOK
		}
		if len(rest) > 1 || strings.HasPrefix(rest[0], "-") || rest[0] == "help" {
			fmt.Fprintf(stderr, "gwsim help: want one command, e.g. gwsim help run\n")
			return exitUsage
		}
		// gwsim help CMD is gwsim CMD --help.
		return run(ctx, []string{rest[0], "--help"}, stdout, stderr)
	}
	if near := scenarios.DidYouMean(args[0], commandNames()); near != "" && !strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "gwsim: unknown command %q: %s (gwsim help lists the commands)\n", args[0], near)
		return exitUsage
	}
	fmt.Fprintf(stderr, "gwsim: unknown command %q (want run, proxy, backend, load, explain, tune, health, scenarios, presets, matrix, check, probe or version)\n", args[0])
	return exitUsage
}

// commandNames are the commands of mainUsage, for "did you mean".
func commandNames() []string {
	var names []string
	inCommands := false
	for _, line := range strings.Split(mainUsage, "\n") {
		switch {
		case line == "Commands:":
			inCommands = true
		case inCommands && strings.HasPrefix(line, "  "):
			if f := strings.Fields(line); len(f) > 0 {
				names = append(names, f[0])
			}
		case inCommands:
			return names
		}
	}
	return names
}
