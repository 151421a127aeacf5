package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios"
)

func TestNewCommandsHelp(t *testing.T) {
	for _, cmd := range []string{"matrix", "check", "presets"} {
		code, out, _ := runCLI(t, cmd, "--help")
		if code != exitOK || !strings.Contains(out, "Usage: gwsim "+cmd) || !strings.Contains(out, "Examples:") {
			t.Errorf("%s --help: exit %d\n%s", cmd, code, out)
		}
	}
}

func TestPresetsCommand(t *testing.T) {
	code, out, _ := runCLI(t, "presets")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, n := range append(proxy.ProfileNames(), backend.PresetNames()...) {
		if !strings.Contains(out, "\n"+n+" ") || !strings.Contains(out, " "+n+":") {
			t.Errorf("preset %s missing from the tables or the sources", n)
		}
	}
	if !strings.Contains(out, "assumption: ") || !strings.Contains(out, "Troubleshoot ALB: 502") {
		t.Errorf("sources not printed:\n%s", out)
	}
	code, out, _ = runCLI(t, "presets", "--no-sources", "envoy")
	if code != exitOK || !strings.Contains(out, "envoy") || strings.Contains(out, "apache") || strings.Contains(out, "Sources") {
		t.Errorf("presets envoy: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, "presets", "iis6"); code != exitUsage || !strings.Contains(errOut, `unknown preset "iis6"`) {
		t.Errorf("unknown preset: exit %d %q", code, errOut)
	}
}

func TestCheckCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"check", "--gateway", "appgw-v2", "--backend", "apache"}, exitExpect, "appgw-v2 + apache: unsafe"},
		{[]string{"check", "--gateway", "aws-alb", "--backend", "node26"}, exitOK, "aws-alb + node26: safe"},
		{[]string{"check", "--gateway-idle", "60s", "--backend-keepalive", "60.001s"}, exitOK, "marginal"},
		{[]string{"check", "--gateway", "appgw-v2", "--backend", "apache", "--backend-keepalive", "120s"}, exitOK, "safe"},
		{[]string{"check", "appgw-v2-backend-120s"}, exitOK, "safe"},
		{[]string{"check", "gcp-jetty-default"}, exitExpect, "set the backend keep-alive to 660 s"},
		{[]string{"check", "appgw-v1-backend-300s"}, exitOK, "marginal"},
		{[]string{"check", "--fail-on", "marginal", "appgw-v1-backend-300s"}, exitExpect, "mitigated, not removed"},
		{[]string{"check", "--fail-on", "safe", "appgw-v1-backend-300s"}, exitUsage, "--fail-on must be unsafe or marginal"},
		{[]string{"check", "--gateway", "appgw-v9", "--backend", "apache"}, exitUsage, `unknown gateway profile "appgw-v9"`},
		{[]string{"check", "--backend", "apache"}, exitUsage, "give --gateway or --gateway-idle"},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%v: exit %d, want %d, output lacks %q:\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
	code, out, _ := runCLI(t, "check", "--json", "--gateway", "aws-alb", "--backend", "node,node26")
	var d struct {
		SchemaVersion int `json:"schema_version"`
		Checks        []struct {
			Verdict     string  `json:"verdict"`
			Recommended float64 `json:"recommended_keepalive_seconds"`
		} `json:"checks"`
	}
	err := json.Unmarshal([]byte(out), &d)
	doc := d.Checks
	if err != nil || d.SchemaVersion != 1 || code != exitExpect || len(doc) != 2 || doc[0].Verdict != "unsafe" || doc[0].Recommended != 90 || doc[1].Verdict != "safe" {
		t.Errorf("check --json: exit %d %v\n%s", code, err, out)
	}
}

// TestMatrixCommand runs a small matrix with every output.
func TestMatrixCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a matrix")
	}
	dir := t.TempDir()
	csvFile, svgFile := filepath.Join(dir, "m.csv"), filepath.Join(dir, "m.svg")
	code, out, errOut := runCLI(t, "matrix", "--gateway", "appgw-v2,envoy", "--backend-keepalive", "5s,120s", "--time-scale", "0.0005",
		"--csv", csvFile, "--svg", svgFile)
	if code != exitOK || errOut != "" || !strings.Contains(out, "PREDICTED") || !strings.Contains(out, "4 cell(s)") {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut, out)
	}
	for _, f := range []string{csvFile, svgFile} {
		if data, err := os.ReadFile(f); err != nil || len(data) < 100 {
			t.Errorf("%s: %v (%d bytes)", f, err, len(data))
		}
	}
	code, out, _ = runCLI(t, "matrix", "--json", "--backend-keepalive", "5s,120s", "--axis", "backend.close=fin,rst", "--time-scale", "0.001")
	var doc struct {
		Axes  []string `json:"axes"`
		Cells []struct {
			Axes          map[string]string `json:"axes"`
			Requests      int64             `json:"requests"`
			Failed        int64             `json:"failed"`
			MeasuredRate  *float64          `json:"measured_rate"`
			PredictedRate *float64          `json:"predicted_rate"`
			Check         string            `json:"check"`
		} `json:"cells"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != exitOK || len(doc.Cells) != 4 || len(doc.Axes) != 2 {
		t.Fatalf("--json: exit %d %v\n%s", code, err, out)
	}
	for _, c := range doc.Cells {
		if c.Requests == 0 || c.MeasuredRate == nil || c.PredictedRate == nil || c.Axes["backend.close"] == "" {
			t.Errorf("cell %+v", c)
		}
		if c.Check == "unsafe" && c.Failed == 0 || c.Check == "safe" && c.Failed != 0 {
			t.Errorf("cell %v: check %s, %d answered for the race", c.Axes, c.Check, c.Failed)
		}
	}
}

func TestMatrixBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"matrix"}, "no axis"},
		{[]string{"matrix", "--axis", "backend.close"}, "want FIELD=V1,V2"},
		{[]string{"matrix", "--axis", "backend.colour=red"}, "not a field of the scenario schema"},
		{[]string{"matrix", "--gateway", "appgw-v9"}, `unknown gateway profile "appgw-v9"`},
		{[]string{"matrix", "--backend-keepalive", "5x"}, `bad duration "5x"`},
		{[]string{"matrix", "--gateway", "aws-alb", "--sweep", "sometimes"}, "--sweep"},
		{[]string{"matrix", "--gateway", "aws-alb", "--scenario", "nope"}, `unknown scenario "nope"`},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != exitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d %q, want one line with %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestRunAll: every built-in passes in one `gwsim run --all`, each listed,
// with the model's line.
func TestRunAll(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every built-in (~6 s)")
	}
	code, out, errOut := runCLI(t, "run", "--all")
	skipIfInconclusive(t, code, out)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut, out)
	}
	all, err := scenarios.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if !strings.Contains(out, "\n"+s.Name+" ") || !strings.Contains(out, "  "+s.Name+" ") {
			t.Errorf("%s missing from the table or the model lines", s.Name)
		}
	}
	if !strings.Contains(out, "PREDICTED") {
		t.Errorf("no model lines:\n%s", out)
	}
}
