package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
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

// createOutput creates the file an output flag names, before any work: a
// path that cannot be written is a one-line usage error at once.
func createOutput(flag, path string) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s %s: cannot create it: %v", flag, path, err)
	}
	return f, nil
}

// checkOutputDir reports whether the directory of path, which an output
// flag names, exists, before any work.
func checkOutputDir(flag, path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s %s: directory %s: %v", flag, path, dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s %s: %s is not a directory", flag, path, dir)
	}
	return nil
}

// writeJUnit writes the results as JUnit XML to f (from createOutput) and
// closes it.
func writeJUnit(f *os.File, results []*scenarios.Result, wall time.Duration, at time.Time) error {
	if err := report.JUnit(f, "gwsim run", results, wall, at); err != nil {
		f.Close()
		return fmt.Errorf("--junit %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--junit %s: %w", f.Name(), err)
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
		status := strconv.Itoa(r.Profile.RaceStatus)
		if r.Profile.RaceStatus == 0 {
			status = "502"
		}
		if r.Profile.SilentCloseOnLaterRequest {
			status += " or closed" // no response on a client connection's later request
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
		fmt.Fprintf(tw, "  %s\t%s\t%.1f%% (%d race %s of %d)\t%s\t%s\n", r.Scenario.Name, predicted, 100*measured, answered, status, r.Requests, p.Model, verdict)
	}
	_ = tw.Flush()
}
