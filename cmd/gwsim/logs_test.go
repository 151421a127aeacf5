package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gwsim/gwsim/scenarios"
)

// TestLogsOfOwnAppGWLog (issue 13): gwsim's gateway writes Application
// Gateway V2's access log of a sweep across the apache preset's close at
// time scale 0.1 (0.5 s); gwsim logs reads it as Azure's, counts every 502
// as the keep-alive race, infers the backend's keep-alive from the idle
// gaps before them (5 s real-world, within 25%), gives the rule's verdict,
// and writes a scenario that loads.
func TestLogsOfOwnAppGWLog(t *testing.T) {
	if testing.Short() {
		t.Skip("a 15 s sweep in real time")
	}
	dir := t.TempDir()
	access := filepath.Join(dir, "access.json")
	a := newActors(t)
	b := a.start("backend", "--listen", "127.0.0.1:0", "--admin-listen", "off", "--preset", "apache", "--time-scale", "0.1", "--log-level", "info")
	gaddr := a.start("proxy", "--listen", "127.0.0.1:0", "--admin-listen", "off", "--backends", b.listen, "--profile", "appgw-v2",
		"--time-scale", "0.1", "--access-log-format", "appgw-v2", "--access-log", access, "--log-level", "info",
		"--link-latency", "1ms").listen
	// Four connections, gaps stepped by 100 µs across the close at 500 ms
	// (each connection takes every fourth gap):
	// the requests sent within the race window (a round trip, 2 ms with
	// the link's latency) meet it.
	code, out, errOut := runCLI(t, "load", "--target", "http://"+gaddr+"/", "--pattern", "aimed", "--workers", "4",
		"--gap-from", "498ms", "--gap-to", "502ms", "--gap-step", "100us", "--json")
	if code != exitOK {
		t.Fatalf("load: exit %d %s", code, errOut)
	}
	var lr struct {
		Status map[string]int `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &lr); err != nil {
		t.Fatal(err)
	}
	a.stop() // flushes the access log
	if t.Failed() {
		t.FailNow()
	}
	races := lr.Status["502"]
	if races == 0 {
		t.Skipf("no request met the close on this machine (statuses %v): nothing to read", lr.Status)
	}

	scenario := filepath.Join(dir, "repro.yaml")
	code, out, errOut = runCLI(t, "logs", "--json", "--time-scale", "0.1", access)
	if code != exitOK {
		t.Fatalf("logs: exit %d %s", code, errOut)
	}
	var lj struct {
		SchemaVersion int            `json:"schema_version"`
		Requests      int            `json:"requests"`
		Status        map[string]int `json:"status"`
		Causes        map[string]int `json:"causes"`
		Inferred      *float64       `json:"inferred_backend_keepalive_seconds"`
		Verdict       string         `json:"verdict"`
		Recommended   float64        `json:"recommended_backend_keepalive_seconds"`
		ByHour        []struct {
			Races int `json:"races"`
		} `json:"by_hour"`
		Files []struct {
			Format  string `json:"format"`
			Skipped int    `json:"skipped_lines"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(out), &lj); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	requests := 0
	for _, n := range lr.Status {
		requests += n
	}
	if lj.SchemaVersion != 1 || lj.Files[0].Format != "appgw" || lj.Files[0].Skipped != 0 || lj.Requests != requests || lj.Status["502"] != races {
		t.Fatalf("read %d requests (statuses %v) of %s, want the load's %d (%v):\n%s", lj.Requests, lj.Status, lj.Files[0].Format, requests, lr.Status, out)
	}
	if races >= 3 {
		// Three races cluster enough to tell the keep-alive, and so to
		// call each the race.
		if lj.Causes["keepalive-race"] != races || len(lj.Causes) != 1 {
			t.Errorf("causes %v, want every one of the %d 502s as keepalive-race", lj.Causes, races)
		}
	} else if lj.Causes["keepalive-race-likely"] != races || len(lj.Causes) != 1 || lj.Inferred != nil {
		// Fewer do not: the log alone cannot tell the race from a crash.
		t.Errorf("causes %v, inferred %v: want the %d 502s as keepalive-race-likely and no keep-alive inferred (too few to cluster)", lj.Causes, lj.Inferred, races)
	}
	// Told the backend's keep-alive, every 502 is the race, however few.
	if code, out, errOut := runCLI(t, "logs", "--json", "--time-scale", "0.1", "--backend-keepalive", "5s", access); code != exitOK ||
		!strings.Contains(out, `"keepalive-race": `+strconv.Itoa(races)) || strings.Contains(out, `"keepalive-race-likely"`) {
		t.Errorf("logs --backend-keepalive 5s: exit %d %s\n%s", code, errOut, out)
	}
	if testing.Verbose() {
		t.Logf("%d races of %d requests; logs:\n%s", races, requests, out)
	}
	if races >= 3 {
		// Three races cluster enough to tell the keep-alive.
		if lj.Inferred == nil || *lj.Inferred < 5*0.75 || *lj.Inferred > 5*1.25 {
			t.Errorf("inferred keep-alive %v s, want 5 s ± 25%% (real-world; 0.5 s at scale 0.1)", lj.Inferred)
		}
		if lj.Verdict != "unsafe" || lj.Recommended != 90 {
			t.Errorf("verdict %s, recommended %v s; want unsafe, 90 s", lj.Verdict, lj.Recommended)
		}
		if code, _, errOut := runCLI(t, "logs", "--time-scale", "0.1", "--write-scenario", scenario, access); code != exitOK {
			t.Fatalf("logs --write-scenario: exit %d %s", code, errOut)
		}
		data, err := os.ReadFile(scenario)
		if err != nil {
			t.Fatal(err)
		}
		s, err := scenarios.Parse(scenario, data)
		if err != nil {
			t.Fatalf("the written scenario does not load: %v\n%s", err, data)
		}
		if s.Gateway.Preset != "appgw-v2" || s.Backend.KeepaliveTimeout == nil || !strings.Contains(string(data), `"502": ">0"`) {
			t.Errorf("written scenario:\n%s", data)
		}
	}
	sum := 0
	for _, h := range lj.ByHour {
		sum += h.Races
	}
	if sum != races {
		t.Errorf("by_hour %+v, want its races to add up to %d", lj.ByHour, races)
	}
}
