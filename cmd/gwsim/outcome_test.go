package main

import (
	"strings"
	"testing"

	"github.com/gwsim/gwsim/scenarios"
)

// TestRunExitCode: 3 when a scenario failed (whatever else), else 4 when
// one was inconclusive, else 0.
func TestRunExitCode(t *testing.T) {
	r := func(outcome string) *scenarios.Result { return &scenarios.Result{Outcome: outcome} }
	pass, fail, inc := scenarios.OutcomePass, scenarios.OutcomeFail, scenarios.OutcomeInconclusive
	for _, tc := range []struct {
		outcomes []string
		want     int
	}{
		{[]string{pass, pass}, exitOK},
		{[]string{pass, inc}, exitInconclusive},
		{[]string{inc, fail}, exitExpect},
		{[]string{fail}, exitExpect},
	} {
		var results []*scenarios.Result
		for _, o := range tc.outcomes {
			results = append(results, r(o))
		}
		if got := runExitCode(results); got != tc.want {
			t.Errorf("%v: exit %d, want %d", tc.outcomes, got, tc.want)
		}
	}
}

// TestRunRepeatFlag: --repeat is bounded.
func TestRunRepeatFlag(t *testing.T) {
	for _, v := range []string{"-1", "11"} {
		code, _, errOut := runCLI(t, "run", "--repeat", v, "appgw-v2-keepalive-off")
		if code != exitUsage || !strings.Contains(errOut, "--repeat must be 0..10, got "+v) {
			t.Errorf("--repeat %s: exit %d %q", v, code, errOut)
		}
	}
}
