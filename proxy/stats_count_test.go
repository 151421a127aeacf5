package proxy

import (
	"errors"
	"testing"
)

// TestStatsCountPastTheSample: the failure sample is bounded, the counts
// are not.
func TestStatsCountPastTheSample(t *testing.T) {
	var g Gateway
	g.stats.init()
	e := &RoundTripError{Err: errors.New("EOF"), Reused: true}
	for range maxFailureSamples + 50 {
		g.stats.recordRetried(CauseKeepaliveRace, e, "GET")
	}
	st := g.Stats()
	if st.RacesMet != maxFailureSamples+50 || len(st.Failures) != maxFailureSamples || st.FailuresDropped != 50 {
		t.Fatalf("races %d, sample %d, dropped %d", st.RacesMet, len(st.Failures), st.FailuresDropped)
	}
}
