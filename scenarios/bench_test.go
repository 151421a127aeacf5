package scenarios_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gwsim/gwsim/scenarios"
)

// BenchmarkTimeToFirst502 runs the built-in scenario appgw-v2-apache-default
// (time scale 0.01) b.N times and reports how long, in scaled wall time from
// the start of the load, the client waited for its first 502: the mean over
// runs that had one (first502-ms), the longest (first502-max-ms), and how
// many runs had none (runs-without-502). One run takes a few seconds: use
// -benchtime Nx.
func BenchmarkTimeToFirst502(b *testing.B) {
	s, err := scenarios.Lookup("appgw-v2-apache-default")
	if err != nil {
		b.Fatal(err)
	}
	var (
		sum, longest time.Duration
		with, none   int
	)
	for b.Loop() {
		r := scenarios.Run(context.Background(), s, scenarios.Options{})
		if r.Err != nil {
			b.Fatalf("run %s: %v", s.Name, r.Err)
		}
		if r.First502 < 0 {
			none++
			continue
		}
		with++
		sum += r.First502
		longest = max(longest, r.First502)
	}
	if with > 0 {
		b.ReportMetric(ms(sum/time.Duration(with)), "first502-ms")
		b.ReportMetric(ms(longest), "first502-max-ms")
	}
	b.ReportMetric(float64(none), "runs-without-502")
}

// BenchmarkSeedSuiteWall runs the seed suite (what `gwsim run` runs with no
// argument, all scenarios at once) b.N times and reports the mean wall time
// of one suite run in seconds (wall-s). It fails if any scenario did not
// pass. Use -benchtime 1x.
func BenchmarkSeedSuiteWall(b *testing.B) {
	list, err := scenarios.Seed()
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	var failed []string
	runs := 0
	for b.Loop() {
		start := time.Now()
		results := scenarios.RunAll(context.Background(), list, scenarios.Options{})
		total += time.Since(start)
		runs++
		for _, r := range results {
			switch {
			case r.Err != nil:
				failed = append(failed, fmt.Sprintf("%s: %v", r.Scenario.Name, r.Err))
			case !r.Pass:
				failed = append(failed, fmt.Sprintf("%s: %s", r.Scenario.Name, strings.Join(r.Failures, "; ")))
			}
		}
	}
	wall := total.Seconds() / float64(max(runs, 1))
	if len(failed) > 0 {
		b.Fatalf("suite wall %.2f s; %d scenario run(s) did not pass:\n  %s", wall, len(failed), strings.Join(failed, "\n  "))
	}
	b.ReportMetric(wall, "wall-s")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
