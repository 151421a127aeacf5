package scenarios

import (
	"context"
	"testing"

	"github.com/gwsim/gwsim/proxy"
)

// TestAimedScenario: the aimed pattern spreads Apache's race sweep over
// four connections at once, each primed once, and meets the race as the
// one-connection sweep does; the model counts the same requests.
func TestAimedScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a scenario")
	}
	s, err := Parse("aimed.yaml", []byte(`name: aimed
time_scale: auto
gateway: {preset: appgw-v2}
backend: {preset: apache}
load: {pattern: aimed, connections: 4, gap_around: backend-close, gap_from: -3ms, gap_to: 2ms, gap_step: 100us}
expect:
  status: {"502": ">0"}
  only_causes: [keepalive-race]
`))
	if err != nil {
		t.Fatal(err)
	}
	r := RunAll(context.Background(), []*Scenario{s}, Options{Repeat: 2})[0]
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	// 51 gaps and 4 primings, more when the sweep was widened toward the
	// backend's measured close.
	if r.Requests < 51+4 {
		t.Errorf("%d requests, want at least 55 (51 gaps, 4 primings)", r.Requests)
	}
	if pr, err := Predict(s, r.TimeScale); err != nil || pr.Requests != 55 || pr.Rate == 0 {
		t.Errorf("model: %+v %v", pr, err)
	}
	switch r.Outcome {
	case OutcomePass:
		if r.Causes[proxy.CauseKeepaliveRace] == 0 {
			t.Errorf("pass without a race: %v", r.Causes)
		}
	case OutcomeInconclusive:
		t.Skipf("inconclusive on this machine: %s", r.InconclusiveReason)
	default:
		t.Fatalf("%s: %v", r.Outcome, r.Failures)
	}
}
