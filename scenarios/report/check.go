package report

import (
	"time"

	"github.com/gwsim/gwsim/scenarios"
)

// CheckJSON is one decision of the race rule as `gwsim check --json`
// prints it; each scenario of `run --json` carries the same object for its
// gateway, backend and link in the real world.
type CheckJSON struct {
	Gateway            string  `json:"gateway"`
	Backend            string  `json:"backend"`
	Verdict            string  `json:"verdict"`
	Rule               string  `json:"rule"`
	Advice             string  `json:"advice"`
	RecommendedSeconds float64 `json:"recommended_keepalive_seconds,omitempty"`
	// MarginSeconds is the race window the rule used: one round trip plus
	// timer slack.
	MarginSeconds float64 `json:"margin_seconds"`
}

// CheckDocumentJSON is `gwsim check --json`: one decision per pair or
// scenario, in the order given.
type CheckDocumentJSON struct {
	SchemaVersion int         `json:"schema_version"` // first key
	Checks        []CheckJSON `json:"checks"`
}

// NewCheckJSON is r for gateway and backend.
func NewCheckJSON(gateway, backend string, r scenarios.CheckResult) CheckJSON {
	return CheckJSON{gateway, backend, string(r.Verdict), r.Rule, r.Advice, r.Recommended.Seconds(), r.Window.Seconds()}
}

// ScenarioCheck is the race rule's decision for s's gateway, backend and
// link, at scale (0 = the real world) with timer slack (0 = the rule's
// default for that scale), named as `gwsim check` names a scenario's pair.
func ScenarioCheck(s *scenarios.Scenario, scale float64, slack time.Duration) (CheckJSON, scenarios.CheckResult, error) {
	r, err := scenarios.CheckScenario(s, scale, slack)
	if err != nil {
		return CheckJSON{}, r, err
	}
	be := s.Backend.Preset
	if be == "" {
		be = "its backend"
	}
	return NewCheckJSON(s.Name+": "+s.Gateway.Preset, be, r), r, nil
}
