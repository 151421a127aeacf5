package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/gwsim/gwsim/scenarios"
	"github.com/gwsim/gwsim/scenarios/report"
	"github.com/gwsim/gwsim/scenarios/rule"
)

// defaultRunList is what `gwsim run` runs before any named scenario: every
// built-in with --all, else the seed suite.
func defaultRunList(all bool) ([]*scenarios.Scenario, error) {
	if all {
		return scenarios.Builtin()
	}
	return scenarios.Seed()
}

// writeJUnit writes the results as JUnit XML to path.
func writeJUnit(path string, results []*scenarios.Result, wall time.Duration, at time.Time) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--junit: %w", err)
	}
	if err := report.JUnit(f, "gwsim run", results, wall, at); err != nil {
		f.Close()
		return fmt.Errorf("--junit %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--junit %s: %w", path, err)
	}
	return nil
}

// printModel writes, for each scenario that ran, the analytic model's
// predicted share of requests answered with the race status beside the
// measured one (see the README, "Analytic model").
func printModel(w io.Writer, results []*scenarios.Result) {
	fmt.Fprintln(w, "\nmodel: share of requests answered because of the keep-alive race, predicted and measured (README \"Analytic model\"):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SCENARIO\tPREDICTED\tMEASURED\tMODEL\tSTATIC CHECK")
	for _, r := range results {
		if r.Err != nil {
			continue
		}
		p, err := scenarios.Predict(r.Scenario, r.TimeScale)
		if err != nil {
			continue
		}
		status := r.Profile.RaceStatus
		if status == 0 {
			status = 502
		}
		answered := r.RaceAnswers()
		var measured float64
		if r.Requests > 0 {
			measured = float64(answered) / float64(r.Requests)
		}
		verdict := "-"
		if c, err := scenarios.CheckScenario(r.Scenario, r.TimeScale, rule.TimerSlack()); err == nil {
			verdict = string(c.Verdict)
		}
		predicted := fmt.Sprintf("%.1f%%", 100*p.Rate)
		if p.OutOfDomain {
			predicted = "n/a (outside the model)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%.1f%% (%d race %d of %d)\t%s\t%s\n", r.Scenario.Name, predicted, 100*measured, answered, status, r.Requests, p.Model, verdict)
	}
	_ = tw.Flush()
}
