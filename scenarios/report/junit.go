package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gwsim/gwsim/scenarios"
)

// The JUnit XML shape CI systems read (the Ant/Surefire schema, as GitHub
// Actions reporters, GitLab and Jenkins parse it): testsuites > testsuite >
// testcase, with a failure (an expectation did not hold) or an error (the
// scenario could not run) child.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"` // an inconclusive outcome
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

// junitSkipped marks an inconclusive scenario: CI shows it skipped, with
// the reason, neither passed nor failed.
type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

type junitText struct {
	Text string `xml:",cdata"`
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

// JUnit writes results as JUnit XML: one testsuite named suite, one
// testcase per scenario (classname gwsim.<gateway preset>). A failed
// expectation is a failure whose text lists what differed; a scenario that
// could not run is an error. Each testcase's system-out holds the lines
// `gwsim run` prints under the table.
func JUnit(w io.Writer, suite string, results []*scenarios.Result, wall time.Duration, at time.Time) error {
	s := junitSuite{Name: suite, Tests: len(results), Time: seconds(wall), Timestamp: at.UTC().Format("2006-01-02T15:04:05")}
	for _, r := range results {
		gw := r.Profile.Name
		if gw == "" {
			gw = r.Scenario.Gateway.Preset
		}
		c := junitCase{Name: r.Scenario.Name, Classname: "gwsim." + gw, Time: seconds(r.Wall),
			SystemOut: &junitText{strings.Join(append(junitSummary(r), Why(r)...), "\n")}}
		switch {
		case r.Err != nil:
			s.Errors++
			c.Error = &junitProblem{Message: r.Err.Error(), Type: "error", Text: r.Err.Error()}
		case r.Outcome == scenarios.OutcomeInconclusive:
			s.Skipped++
			c.Skipped = &junitSkipped{Message: "inconclusive: " + r.InconclusiveReason}
		case !r.Pass:
			s.Failures++
			c.Failure = &junitProblem{Message: fmt.Sprintf("%d expectation(s) failed: %s", len(r.Failures), strings.Join(r.Failures, "; ")),
				Type: "expectation", Text: strings.Join(r.Failures, "\n")}
		}
		s.Cases = append(s.Cases, c)
	}
	doc := junitSuites{Name: "gwsim", Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Time: s.Time, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// junitSummary is the table row of r in words.
func junitSummary(r *scenarios.Result) []string {
	if r.Err != nil {
		return nil
	}
	cause := r.MainCause()
	if cause == "" {
		cause = "-"
	}
	return []string{fmt.Sprintf("gateway %s, backend keep-alive %s, %d requests, %d × 502, %d × 504, %d client errors, main cause %s, time scale %g",
		r.Profile.Name, keepAlive(r), r.Requests, r.Status[502], r.Status[504], sum(r.ClientErrors), cause, r.TimeScale)}
}
