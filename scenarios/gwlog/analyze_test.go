package gwlog

import (
	"strings"
	"testing"
	"time"

	"github.com/gwsim/gwsim/scenarios/rule"
)

var t0 = time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)

// req is a request on conn starting at ms after t0, taking 2 ms.
func req(conn string, ms int, status int, class Class) Record {
	return Record{Format: FormatAppGW, Conn: conn, Time: t0.Add(time.Duration(ms) * time.Millisecond), Duration: 2 * time.Millisecond,
		Status: status, Class: class, Evidence: "test"}
}

// appgwV2 is the gateway side of the rule: Application Gateway V2.
var appgwV2 = rule.Setting{Gateway: "appgw-v2", GatewayIdle: 60 * time.Second}

// TestAnalyzeInfersKeepAlive: failures on reused connections idle about
// the backend's keep-alive (500 ms) are the race, the keep-alive is
// inferred from them (the median of their cluster), a failure on a connection idle far less is not the
// race, and one with no earlier request stays race-likely.
func TestAnalyzeInfersKeepAlive(t *testing.T) {
	a := NewAnalyzer(Options{Gateway: appgwV2})
	// Three connections each: a 200, then after ~500 ms idle a 502.
	for i, idle := range []int{500, 503, 510} {
		c := string(rune('a' + i))
		a.Add(req(c, 0, 200, ClassOK))
		a.Add(req(c, 2+idle, 502, ClassRaceLikely))
	}
	a.Add(req("d", 0, 200, ClassOK))
	a.Add(req("d", 52, 502, ClassRaceLikely)) // idle 50 ms: not for idleness
	a.Add(req("e", 10, 502, ClassRaceLikely)) // first on its connection
	a.Add(req("f", 20, 504, ClassBackendTimeout))
	res := a.Result()
	if res.KeepAlive != 503*time.Millisecond || !res.KeepAliveInferred { // the cluster's median
		t.Fatalf("keep-alive %v inferred %v (%s), want 503ms inferred", res.KeepAlive, res.KeepAliveInferred, res.KeepAliveNote)
	}
	want := map[Class]int{ClassRace: 3, ClassOther: 1, ClassRaceLikely: 1, ClassBackendTimeout: 1}
	for c, n := range want {
		if res.Causes[c] != n {
			t.Errorf("causes %v, want %v", res.Causes, want)
			break
		}
	}
	if res.Requests != 10 || res.Status[502] != 5 || res.Status[200] != 4 || res.Conns != 6 || !res.ConnsNamed {
		t.Errorf("requests %d status %v conns %d", res.Requests, res.Status, res.Conns)
	}
	if res.Verdict != "unsafe" || res.Recommended != 90*time.Second {
		t.Errorf("verdict %s recommended %v, want unsafe 90s", res.Verdict, res.Recommended)
	}
	f := res.Failures[1]
	if f.Class != ClassRace || f.Idle != 503*time.Millisecond || f.Prior != 1 || !strings.Contains(f.Reason, "at the backend's keep-alive") {
		t.Errorf("failure %+v", f)
	}
	if f := res.Failures[3]; f.Class != ClassOther || !strings.Contains(f.Reason, "not the keep-alive race") {
		t.Errorf("the 50 ms failure: %+v", f)
	}
	if len(res.ByHour) != 1 || res.ByHour[0].Requests != 10 || res.ByHour[0].Failures != 6 || res.ByHour[0].Races != 4 {
		t.Errorf("by hour %+v", res.ByHour)
	}
	// Result is repeatable.
	if again := a.Result(); again.ByHour[0].Races != 4 || again.Causes[ClassRace] != 3 {
		t.Errorf("second Result: %+v", again.ByHour)
	}
}

// TestAnalyzeWithoutConnections: a format that names no upstream
// connection keeps the race-likely class and says why the keep-alive
// cannot be inferred; the verdict is inconclusive, the advice still given.
func TestAnalyzeWithoutConnections(t *testing.T) {
	a := NewAnalyzer(Options{Gateway: rule.Setting{Gateway: "aws-alb", GatewayIdle: 60 * time.Second}})
	for i := 0; i < 5; i++ {
		r := req("", i*1000, 502, ClassRaceLikely)
		r.Format = FormatALB
		a.Add(r)
	}
	res := a.Result()
	if res.Causes[ClassRaceLikely] != 5 || res.KeepAlive != 0 || res.Verdict != VerdictInconclusive ||
		!strings.Contains(res.KeepAliveNote, "cannot be inferred") || res.Recommended != 90*time.Second {
		t.Fatalf("%+v", res)
	}
	if !strings.Contains(res.Failures[0].Reason, "does not name the upstream connection") {
		t.Errorf("reason %q", res.Failures[0].Reason)
	}
}

// TestAnalyzeStatedKeepAlive: a stated keep-alive decides the race and the
// verdict; a failed request ends its connection, so the next request on
// the same 4-tuple has no idle gap.
func TestAnalyzeStatedKeepAlive(t *testing.T) {
	a := NewAnalyzer(Options{Gateway: appgwV2, BackendKeepAlive: 120 * time.Second})
	a.Add(req("a", 0, 200, ClassOK))
	a.Add(req("a", 1000, 502, ClassRaceLikely))
	a.Add(req("a", 5000, 502, ClassRaceLikely))
	res := a.Result()
	if res.Verdict != "safe" || res.KeepAliveInferred || res.Causes[ClassOther] != 1 || res.Causes[ClassRaceLikely] != 1 {
		t.Fatalf("verdict %s causes %v", res.Verdict, res.Causes)
	}
	if res.Failures[1].Idle >= 0 {
		t.Errorf("the request after a failure measured idle %v on a new connection", res.Failures[1].Idle)
	}
}

// TestAnalyzeSampleBound: past MaxFailures the failures are counted, not
// kept.
func TestAnalyzeSampleBound(t *testing.T) {
	a := NewAnalyzer(Options{Gateway: appgwV2, MaxFailures: 2})
	for i := 0; i < 5; i++ {
		a.Add(req("", i, 503, ClassNoBackend))
	}
	res := a.Result()
	if len(res.Failures) != 2 || res.FailuresDropped != 3 || res.Causes[ClassNoBackend] != 5 {
		t.Fatalf("%d kept, %d dropped, causes %v", len(res.Failures), res.FailuresDropped, res.Causes)
	}
}
