package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gwsim/gwsim/scenarios/explain"
)

// TestExplainStandaloneJournals runs the backend (race trap) and the gateway
// as standalone commands, each writing its own journal, drives load through
// them, and checks that `gwsim explain` on the two journals joins them by
// 4-tuple and classifies every 502 the client saw as keepalive-race/trap,
// and that the gateway's journal alone does not.
func TestExplainStandaloneJournals(t *testing.T) {
	dir := t.TempDir()
	bj, gj := filepath.Join(dir, "backend.jsonl"), filepath.Join(dir, "gateway.jsonl")
	a := newActors(t)
	b := a.start("backend", "--listen", "127.0.0.1:0", "--admin-listen", "off", "--keepalive-timeout", "30ms", "--close", "rst",
		"--race-trap", "--events", bj, "--log-level", "info")
	gaddr := a.start("proxy", "--listen", "127.0.0.1:0", "--admin-listen", "off", "--backends", b.listen,
		"--link-latency", "200us", "--events", gj, "--log-level", "info").listen

	code, out, errOut := runCLI(t, "load", "--target", "http://"+gaddr+"/", "--pattern", "gap-sweep",
		"--gap-from", "40ms", "--gap-to", "100ms", "--gap-step", "10ms", "--json")
	if code != exitOK {
		t.Fatalf("load: exit %d %s", code, errOut)
	}
	var lr struct {
		Status map[string]int `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &lr); err != nil {
		t.Fatal(err)
	}
	// Every reused connection is trapped: the 502s alternate with fresh ones.
	if lr.Status["502"] < 3 {
		t.Fatalf("load statuses %v: want at least 3 × 502 from the trap", lr.Status)
	}
	a.stop() // closes the journals
	if t.Failed() {
		t.FailNow()
	}

	code, out, errOut = runCLI(t, "explain", "--max", "1", gj, bj)
	if code != exitOK {
		t.Fatalf("explain: exit %d %s", code, errOut)
	}
	n := strconv.Itoa(lr.Status["502"])
	want := "causes: keepalive-race " + n + " (keepalive-race/trap " + n + ")"
	if !strings.Contains(out, want) {
		t.Fatalf("explain output lacks %q:\n%s", want, out)
	}
	if !regexp.MustCompile(`went out on connection \d+ .* expired it under the race trap`).MatchString(out) {
		t.Fatalf("explain tells no trap story:\n%s", out)
	}
	// The gateway's journal alone cannot tell the race: the trap closed
	// each reused connection whatever its idle age (41 ms to 101 ms here),
	// so no idle age fits a keep-alive and no cluster of them tells one.
	code, out, _ = runCLI(t, "explain", gj)
	if code != exitOK || !strings.Contains(out, "causes: "+explain.CauseBackendClosedReused+" "+n+"\n") ||
		!strings.Contains(out, "nothing tells when the backend closes idle connections") {
		t.Fatalf("explain of the gateway journal alone: exit %d\n%s", code, out)
	}
}

// TestRunEventsAndExplainAgree writes the journal of an in-process run and
// checks that explaining it offline gives the run's own causes.
func TestRunEventsAndExplainAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a scenario")
	}
	journal := filepath.Join(t.TempDir(), "run.jsonl")
	code, out, errOut := runCLI(t, "run", "--json", "--events", journal, "appgw-v1-apache-default")
	if code != exitOK && code != exitInconclusive { // the journal is what matters here, not the verdict
		t.Fatalf("run: exit %d %s", code, errOut)
	}
	var doc struct {
		Scenarios []struct {
			Causes map[string]int64 `json:"causes"`
		} `json:"scenarios"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	n := doc.Scenarios[0].Causes["keepalive-race"]
	if n == 0 {
		t.Fatalf("no race in the run: %v", doc.Scenarios[0].Causes)
	}
	code, out, _ = runCLI(t, "explain", journal)
	want := "causes: keepalive-race " + strconv.FormatInt(n, 10) + " (keepalive-race/linger " + strconv.FormatInt(n, 10) + ")"
	if code != exitOK || !strings.Contains(out, want) {
		t.Fatalf("explain: exit %d, want %q:\n%s", code, want, out)
	}
	if fi, err := os.Stat(journal); err != nil || fi.Size() == 0 {
		t.Fatalf("journal: %v", err)
	}
}

func TestExplainBadJournal(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("{\"actor\":\"gateway\",\"kind\":\"config\"}\nnot json\n"), 0o644)
	code, _, errOut := runCLI(t, "explain", bad)
	if code != exitUsage || !strings.Contains(errOut, "line 2") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
}
