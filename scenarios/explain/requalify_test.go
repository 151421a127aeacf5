package explain

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/event"
)

// gatewayOnlyJournal is what a gateway in front of a backend that is not
// gwsim's leaves: each failure is on a reused connection, the backend's
// EOF read before any answer byte, classified by the gateway as the race,
// with the given idle ages; no backend event at all.
func gatewayOnlyJournal(idle ...time.Duration) []event.Event {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	evs := []event.Event{{Time: t0, Actor: event.Gateway, Kind: event.Config, Profile: "appgw-v2", IdleTimeout: 60 * time.Second}}
	for i, d := range idle {
		at := t0.Add(time.Duration(i+1) * time.Second)
		local, remote := fmt.Sprintf("127.0.0.1:%d", 40000+i), "127.0.0.1:8081"
		up := event.Event{Actor: event.Gateway, Side: event.SideUpstream, Conn: uint64(i + 1), Local: local, Remote: remote}
		opened, written, failed := up, up, up
		opened.Time, opened.Kind = at.Add(-time.Minute), event.ConnOpened
		written.Time, written.Kind, written.Method, written.Reused, written.Idle, written.Requests = at, event.RequestWritten, "GET", true, d, 2
		failed.Time, failed.Kind, failed.Method, failed.Reused, failed.Idle, failed.Requests = at.Add(time.Millisecond), event.ExchangeFailed, "GET", true, d, 2
		failed.ErrKind, failed.Err = event.ErrEOF, "EOF"
		ans := event.Event{Time: at.Add(2 * time.Millisecond), Actor: event.Gateway, Kind: event.Answered, Side: event.SideDownstream,
			Local: local, Remote: remote, Peer: fmt.Sprintf("127.0.0.1:%d", 50000+i), Method: "GET", Status: 502, Cause: proxy.CauseKeepaliveRace}
		evs = append(evs, opened, written, failed, ans)
	}
	return evs
}

// TestRaceNeedsEvidence: without backend events, a failure on a reused
// connection is the keep-alive race only when its idle age fits the
// backend's keep-alive (stated, or told by a cluster of idle ages).
func TestRaceNeedsEvidence(t *testing.T) {
	const s = time.Second
	backendConfig := event.Event{Actor: event.Backend, Kind: event.Config, KeepAlive: 5 * s}
	for _, tc := range []struct {
		name      string
		events    []event.Event
		race, not int64
		says      string
	}{
		// Four failures at Apache's 5 s, one at 200 ms: the cluster tells
		// 5 s; the 200 ms one is a backend dropping a request.
		{"cluster", gatewayOnlyJournal(4990*time.Millisecond, 5*s, 4995*time.Millisecond, 5001*time.Millisecond, 200*time.Millisecond), 4, 1,
			"idle far less than the keep-alive the failures' idle ages point to (4.99 s)"},
		// No cluster and no stated keep-alive: nothing is the race.
		{"no evidence", gatewayOnlyJournal(5*s, 200*time.Millisecond), 0, 2, "nothing tells when the backend closes idle connections"},
		// A stated keep-alive decides even for one failure.
		{"stated", append(gatewayOnlyJournal(4999*time.Millisecond, 1*s), backendConfig), 1, 1, "idle far less than the backend's keep-alive (5 s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Analyze(tc.events)
			if a.Causes[proxy.CauseKeepaliveRace] != tc.race || a.Causes[CauseBackendClosedReused] != tc.not {
				t.Fatalf("causes %v, want %d race, %d %s", a.Causes, tc.race, tc.not, CauseBackendClosedReused)
			}
			found := false
			for _, x := range a.Explanations {
				story := x.Story(a.Start)
				if !strings.Contains(story, "after it had been idle") {
					t.Errorf("story without the idle age: %s", story)
				}
				if x.Cause == CauseBackendClosedReused && strings.Contains(story, tc.says) {
					found = true
				}
			}
			if !found {
				t.Errorf("no %s story says %q", CauseBackendClosedReused, tc.says)
			}
		})
	}
}
