package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadScenarioFiles: every scenarios/testdata/bad-*.yaml makes `gwsim
// run` exit 2 with exactly its golden error on one line.
func TestBadScenarioFiles(t *testing.T) {
	files, err := filepath.Glob("../../scenarios/testdata/bad-*.yaml")
	if err != nil || len(files) < 40 {
		t.Fatalf("%d bad files (%v)", len(files), err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			golden, err := os.ReadFile(strings.TrimSuffix(file, ".yaml") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			// The golden names the file as the scenarios package opens it.
			want := "gwsim run: ../../scenarios/" + strings.TrimSuffix(string(golden), "\n") + " (see gwsim run --help)\n"
			code, out, errOut := runCLI(t, "run", file)
			if code != exitUsage || out != "" || errOut != want {
				t.Fatalf("exit %d, stdout %q\nstderr %q\n  want %q", code, out, errOut, want)
			}
		})
	}
}

// TestRunJUnitFile: --junit writes a JUnit document with one testcase per
// scenario and the failed expectation as the failure's text; exit 3.
func TestRunJUnitFile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs scenarios")
	}
	dir := t.TempDir()
	wrong := filepath.Join(dir, "wrong.yaml")
	if err := os.WriteFile(wrong, []byte(`name: wrong-expectation
time_scale: 0.01
backend: {preset: apache, keepalive_off: true}
load: {pattern: closed, requests: 5}
expect:
  502: ">0"
  502_rate: ">1%"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	junit := filepath.Join(dir, "out", "gwsim.xml")
	if code, _, errOut := runCLI(t, "run", "--junit", junit, wrong); code != exitUsage || !strings.Contains(errOut, "--junit") { // refused before running
		t.Fatalf("unwritable --junit: exit %d %q", code, errOut)
	}
	junit = filepath.Join(dir, "gwsim.xml")
	code, _, errOut := runCLI(t, "run", "--junit", junit, "appgw-v2-keepalive-off", wrong)
	if code != exitExpect {
		t.Fatalf("exit %d, want 3; stderr %q", code, errOut)
	}
	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Suite    []struct {
			Tests int `xml:"tests,attr"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, data)
	}
	if doc.Tests != 2 || doc.Failures != 1 || len(doc.Suite) != 1 || len(doc.Suite[0].Cases) != 2 {
		t.Fatalf("document:\n%s", data)
	}
	c := doc.Suite[0].Cases[1]
	if c.Name != "wrong-expectation" || c.Failure == nil ||
		c.Failure.Text != "502 rate: want >1%, got 0% (0 of 5 requests)\nstatus 502: want >0, got 0" {
		t.Fatalf("failing testcase: %+v\n%s", c, data)
	}
	if doc.Suite[0].Cases[0].Failure != nil {
		t.Fatalf("passing testcase has a failure:\n%s", data)
	}
}
