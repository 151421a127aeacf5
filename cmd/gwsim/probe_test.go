package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gwsim/gwsim/scenarios"
)

// TestProbeCommand probes a standalone toy backend (Apache preset at time
// scale 0.1: a 500 ms keep-alive, a 200 ms lingering close, 101 requests) and
// checks the JSON contract, the verdicts and the backend section, which
// must parse as a scenario's.
func TestProbeCommand(t *testing.T) {
	a := newActors(t)
	b := a.start("backend", "--preset", "apache", "--time-scale", "0.1", "--listen", "127.0.0.1:0", "--admin-listen", "off", "--log-level", "info")
	section := filepath.Join(t.TempDir(), "measured.yaml")
	code, out, errOut := runCLI(t, "probe", "--json", "--connections", "3", "--write-backend", section, "http://"+b.listen+"/")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		URL        string   `json:"url"`
		IdleClose  *float64 `json:"idle_close_seconds"`
		Spread     *float64 `json:"idle_close_spread_seconds"`
		Style      string   `json:"close_style"`
		Late       string   `json:"late_request"`
		Advertised *float64 `json:"advertised_keepalive_seconds"`
		Max        *int     `json:"max_requests"`
		Keepalive  bool     `json:"keepalive"`
		Verdicts   []struct {
			Gateway     string   `json:"gateway"`
			Verdict     string   `json:"verdict"`
			Recommended *float64 `json:"recommended_keepalive_seconds"`
		} `json:"verdicts"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !doc.Keepalive || doc.IdleClose == nil || *doc.IdleClose < 0.25 || *doc.IdleClose > 1 || doc.Spread == nil ||
		doc.Style != "linger" || doc.Late != "drained" || doc.Advertised == nil || doc.Max == nil || *doc.Max != 101 {
		t.Fatalf("probe JSON:\n%s", out)
	}
	found := false
	for _, v := range doc.Verdicts {
		if v.Gateway == "appgw-v2" {
			found = v.Verdict == "unsafe" && v.Recommended != nil && *v.Recommended == 90
		}
	}
	if !found {
		t.Errorf("no appgw-v2 verdict unsafe with 90 s:\n%s", out)
	}
	data, err := os.ReadFile(section)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scenarios.Parse("measured.yaml", append([]byte("name: measured\nload: {requests: 1}\n"), data...)); err != nil {
		t.Fatalf("the backend section does not parse: %v\n%s", err, data)
	}
	if !strings.Contains(string(data), "close: linger") || !strings.Contains(string(data), "max_keepalive_requests: 101") {
		t.Errorf("backend section:\n%s", data)
	}
}

// TestProbeBadInput: one clear line and exit 2.
func TestProbeBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"probe"}, "give one URL"},
		{[]string{"probe", "127.0.0.1:8081"}, "want an http:// or https:// URL"},
		{[]string{"probe", "--connections", "0", "http://127.0.0.1:1/"}, "--connections must be 1..100"},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with %q", tc.args, code, errOut, tc.want)
		}
	}
}
