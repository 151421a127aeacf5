package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gwsim/gwsim/scenarios"
	"github.com/gwsim/gwsim/scenarios/explain"
	"github.com/gwsim/gwsim/scenarios/report"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("run", "[flags] [SCENARIO|FILE.yaml ...]",
		`Run scenarios in-process on loopback: backend members, the gateway and the
load driver, time-scaled. With no argument, runs the seed suite: the Application
Gateway keep-alive race, then its cures, the unresponsive-backend cause and the
client-side race. Prints a table (or --json) and exits 3 if any expectation
fails, 4 if none failed but one was inconclusive: a failure that this
machine's timer lateness, measured during the run, could have caused (it
reached half the timing margin the answer depends on).`,
		`  gwsim run
  gwsim run appgw-v2-apache-default appgw-v2-backend-120s
  gwsim run --json ./my-scenario.yaml
  gwsim run --time-scale 0.02 appgw-v1-apache-default
  gwsim run --all --junit gwsim.xml                  # every built-in; JUnit XML for CI
  gwsim run --junit gwsim.xml ci-scenarios/*.yaml    # a team's own scenarios
`)
	jsonOut := c.fs.Bool("json", false, "print one JSON document instead of the table")
	scale := c.fs.Float64("time-scale", 0, "multiply every scenario duration by this (0 = each scenario's own time_scale); link latency is not scaled")
	parallel := c.fs.Int("parallel", 0, "scenarios run at once (0 = all)")
	explainFlag := c.fs.Bool("explain", false, "tell the story of the first failures of each scenario and the verdict with its fix")
	explainMax := c.fs.Int("explain-max", 3, "with --explain: stories per scenario")
	eventsFile := c.fs.String("events", "", "write every event of every scenario to this JSON-lines journal (read it with gwsim explain)")
	timeline := c.fs.String("timeline", "", "draw each scenario's connections as an SVG timeline to this file (several scenarios: NAME is added before the extension)")
	junitFile := c.fs.String("junit", "", "also write JUnit XML to this file (one testcase per scenario, failure text = what differed)")
	all := c.fs.Bool("all", false, "run every built-in scenario ('gwsim scenarios' lists them), then any named")
	autoScale := c.fs.Bool("auto-scale", true, "raise each scenario's time scale until its shortest timer is at least 8× the timer lateness measured on this machine: slower runs on a busy machine instead of inconclusive ones (ignored with --time-scale)")
	repeat := c.fs.Int("repeat", 2, "run an inconclusive scenario again, up to this many times, until its outcome is pass or fail (0-10; attempts in --json)")
	var lf logFlags
	lf.add(c.fs, "off")
	if code, done := c.parse(args, stdout, stderr); done {
		return code
	}
	if *scale != 0 {
		if err := checkScale(*scale); err != nil {
			code, _ := c.usageError(stderr, err.Error())
			return code
		}
	}
	if *repeat < 0 || *repeat > 10 {
		code, _ := c.usageError(stderr, fmt.Sprintf("--repeat must be 0..10, got %d", *repeat))
		return code
	}
	if *parallel < 0 {
		code, _ := c.usageError(stderr, fmt.Sprintf("--parallel must be >= 0, got %d", *parallel))
		return code
	}
	log, err := lf.build(stderr)
	if err != nil {
		code, _ := c.usageError(stderr, err.Error())
		return code
	}
	var list []*scenarios.Scenario
	if c.fs.NArg() == 0 || *all {
		list, err = defaultRunList(*all)
		if err != nil {
			fmt.Fprintf(stderr, "gwsim run: %v\n", err)
			return exitRuntime
		}
	}
	for _, arg := range c.fs.Args() {
		s, err := scenarios.Resolve(arg)
		if err != nil {
			code, _ := c.usageError(stderr, err.Error())
			return code
		}
		list = append(list, s)
	}
	// Outputs that cannot be written are found now, not after every
	// scenario ran.
	var junitOut *os.File
	if *junitFile != "" {
		if junitOut, err = createOutput("--junit", *junitFile); err != nil {
			code, _ := c.usageError(stderr, err.Error())
			return code
		}
		defer junitOut.Close()
	}
	if *timeline != "" {
		if err := checkOutputDir("--timeline", *timeline); err != nil {
			code, _ := c.usageError(stderr, err.Error())
			return code
		}
	}
	opts := scenarios.Options{TimeScale: *scale, Parallel: *parallel, Logger: log, Repeat: *repeat, AutoScale: *autoScale}
	var journal *eventJournal
	if *eventsFile != "" {
		if journal, err = openJournal(*eventsFile); err != nil {
			fmt.Fprintf(stderr, "gwsim run: %v\n", err)
			return exitRuntime
		}
		opts.Events = journal.Sink()
	}
	start := time.Now()
	results := scenarios.RunAll(ctx, list, opts)
	if journal != nil {
		if err := journal.Close(); err != nil {
			fmt.Fprintf(stderr, "gwsim run: %v\n", err)
			return exitRuntime
		}
	}
	if *timeline != "" {
		for _, r := range results {
			if r.Analysis == nil {
				continue
			}
			path := *timeline
			if len(results) > 1 {
				ext := filepath.Ext(path)
				path = strings.TrimSuffix(path, ext) + "-" + r.Scenario.Name + ext
			}
			if err := writeTimeline(path, []string{r.Scenario.Name}, []*explain.Analysis{r.Analysis}); err != nil {
				fmt.Fprintf(stderr, "gwsim run: %v\n", err)
				return exitRuntime
			}
		}
	}
	if *jsonOut {
		err = report.JSON(stdout, results)
	} else {
		err = report.Table(stdout, results)
		if *explainFlag {
			fmt.Fprintln(stdout)
			for _, r := range results {
				if r.Analysis != nil {
					report.Explain(stdout, r.Scenario.Name, r.Analysis, *explainMax)
				}
			}
		}
		printModel(stdout, results)
		fmt.Fprintf(stdout, "\n%d scenario(s) in %.1f s wall\n", len(results), time.Since(start).Seconds())
	}
	if err == nil && junitOut != nil {
		err = writeJUnit(junitOut, results, time.Since(start), start)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gwsim run: %v\n", err)
		return exitRuntime
	}
	for _, r := range results {
		if r.Err != nil {
			fmt.Fprintf(stderr, "gwsim run: %s: %v\n", r.Scenario.Name, r.Err)
			return exitRuntime
		}
	}
	return runExitCode(results)
}

// runExitCode is 3 when an expectation failed, else 4 when a scenario was
// inconclusive, else 0.
func runExitCode(results []*scenarios.Result) int {
	switch report.Outcome(results) {
	case scenarios.OutcomeFail:
		return exitExpect
	case scenarios.OutcomeInconclusive:
		return exitInconclusive
	}
	return exitOK
}

func cmdScenarios(_ context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("scenarios", "", "List the built-in scenarios; * marks the seed suite that 'gwsim run' runs by default.", "  gwsim scenarios\n")
	if code, done := c.parse(args, stdout, stderr); done {
		return code
	}
	all, err := scenarios.Builtin()
	if err != nil {
		fmt.Fprintf(stderr, "gwsim scenarios: %v\n", err)
		return exitRuntime
	}
	seed := map[string]bool{}
	for _, n := range scenarios.SeedSuite {
		seed[n] = true
	}
	for _, s := range all {
		mark := " "
		if seed[s.Name] {
			mark = "*"
		}
		fmt.Fprintf(stdout, "%s %-36s %s\n", mark, s.Name, firstSentence(s.Description))
	}
	return exitOK
}

func firstSentence(s string) string {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '.' && (s[i+1] == ' ' || s[i+1] == '\n') {
			return s[:i+1]
		}
	}
	return s
}
