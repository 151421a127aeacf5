package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios"
)

// TestInconclusiveOutcome: an inconclusive scenario is neither a pass nor a
// failure anywhere: the table says inconclusive with the reason, the JSON
// carries outcome and inconclusive_reason (and the run's outcome), and
// JUnit marks the testcase skipped with the reason.
func TestInconclusiveOutcome(t *testing.T) {
	s, err := scenarios.Lookup("appgw-v2-apache-default")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := proxy.LookupProfile("appgw-v2")
	reason := "timers ran up to 40ms late (99th percentile 12ms; backend keep-alive timer 0s late at worst) against a margin of 2.5ms (the gap sweep aims within ±2.5ms of 50ms): the machine's timing could have made this failure"
	pass := &scenarios.Result{Scenario: s, Pass: true, Outcome: scenarios.OutcomePass, Profile: p.Scaled(0.01), TimeScale: 0.01,
		Requests: 52, Status: map[int]int64{200: 40, 502: 12}, Wall: time.Second}
	inc := &scenarios.Result{Scenario: s, Outcome: scenarios.OutcomeInconclusive, InconclusiveReason: reason, Profile: p.Scaled(0.01), TimeScale: 0.01,
		Requests: 52, Status: map[int]int64{200: 52}, Failures: []string{"status 502: want >0, got 0"}, Wall: time.Second,
		Timing: scenarios.Timing{LatenessP99: 12 * time.Millisecond, LatenessMax: 40 * time.Millisecond, Margin: 2500 * time.Microsecond, MarginWhat: "the gap sweep aims within ±2.5ms of 50ms"}}
	fail := &scenarios.Result{Scenario: s, Outcome: scenarios.OutcomeFail, Profile: p.Scaled(0.01), TimeScale: 0.01,
		Requests: 52, Status: map[int]int64{200: 52}, Failures: []string{"status 502: want >0, got 0"}, Wall: time.Second}

	if got := Outcome([]*scenarios.Result{pass, inc}); got != scenarios.OutcomeInconclusive {
		t.Errorf("pass + inconclusive: %s", got)
	}
	if got := Outcome([]*scenarios.Result{inc, fail, pass}); got != scenarios.OutcomeFail {
		t.Errorf("inconclusive + fail: %s", got)
	}
	if got := Outcome([]*scenarios.Result{pass}); got != scenarios.OutcomePass {
		t.Errorf("pass: %s", got)
	}

	var table bytes.Buffer
	if err := Table(&table, []*scenarios.Result{inc}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), " inconclusive\n") || !strings.Contains(table.String(), "inconclusive: "+reason) {
		t.Errorf("table:\n%s", table.String())
	}

	var js bytes.Buffer
	if err := JSON(&js, []*scenarios.Result{pass, inc}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Pass      bool   `json:"pass"`
		Outcome   string `json:"outcome"`
		Scenarios []struct {
			Pass               bool   `json:"pass"`
			Outcome            string `json:"outcome"`
			InconclusiveReason string `json:"inconclusive_reason"`
			Timing             struct {
				LatenessP99Seconds float64 `json:"lateness_p99_seconds"`
				MarginSeconds      float64 `json:"margin_seconds"`
			} `json:"timing"`
		} `json:"scenarios"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Pass || doc.Outcome != "inconclusive" || doc.Scenarios[0].Outcome != "pass" || doc.Scenarios[1].Outcome != "inconclusive" ||
		doc.Scenarios[1].Pass || doc.Scenarios[1].InconclusiveReason != reason || doc.Scenarios[1].Timing.MarginSeconds != 0.0025 ||
		doc.Scenarios[1].Timing.LatenessP99Seconds != 0.012 {
		t.Errorf("JSON %+v", doc)
	}

	var x bytes.Buffer
	if err := JUnit(&x, "gwsim run", []*scenarios.Result{pass, inc}, time.Second, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	out := x.String()
	if !strings.Contains(out, `skipped="1"`) || !strings.Contains(out, `<skipped message="inconclusive: timers ran up to 40ms late`) || strings.Contains(out, "<failure") {
		t.Errorf("JUnit:\n%s", out)
	}
	ParseJUnit(t, x.Bytes())
}
