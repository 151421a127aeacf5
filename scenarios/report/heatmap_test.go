package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"github.com/gwsim/gwsim/scenarios"
)

func matrixFixture() ([]scenarios.Axis, []*scenarios.Cell) {
	axes := []scenarios.Axis{
		{Field: "gateway.preset", Values: []string{"appgw-v2", "envoy"}},
		{Field: "backend.keepalive_timeout", Values: []string{"5s", "120s"}},
	}
	cells := []*scenarios.Cell{
		{Values: []string{"appgw-v2", "5s"}, RaceStatus: 502, Requests: 104, Races: 13, Failed: 13, Predicted: 0.1, TimeScale: 0.001, Check: scenarios.CheckResult{Verdict: scenarios.Unsafe}},
		{Values: []string{"appgw-v2", "120s"}, RaceStatus: 502, Requests: 104, TimeScale: 0.001, Check: scenarios.CheckResult{Verdict: scenarios.Safe}},
		{Values: []string{"envoy", "5s"}, RaceStatus: 503, Requests: 100, Races: 5, Failed: 5, Predicted: 0.05, TimeScale: 0.001, Check: scenarios.CheckResult{Verdict: scenarios.Unsafe}},
		{Values: []string{"envoy", "120s"}, RaceStatus: 503, Err: errors.New("listen: <no ports>"), Check: scenarios.CheckResult{Verdict: scenarios.Safe}},
	}
	return axes, cells
}

// TestHeatmap: the SVG is well-formed XML, one rect per cell plus the
// background, each cell labelled with its rate and count, colours from
// pale green (none) to red (the highest rate).
func TestHeatmap(t *testing.T) {
	axes, cells := matrixFixture()
	var buf bytes.Buffer
	if err := Heatmap(&buf, axes, cells); err != nil {
		t.Fatal(err)
	}
	var svg struct {
		XMLName xml.Name `xml:"svg"`
		Rects   []struct {
			Fill  string `xml:"fill,attr"`
			Title string `xml:"title"`
		} `xml:"rect"`
		Texts []string `xml:"text"`
	}
	dec := xml.NewDecoder(&buf)
	dec.Strict = true
	if err := dec.Decode(&svg); err != nil {
		t.Fatalf("not XML: %v\n%s", err, buf.String())
	}
	if len(svg.Rects) != 5 {
		t.Fatalf("%d rects, want background + 4 cells", len(svg.Rects))
	}
	fills := []string{svg.Rects[1].Fill, svg.Rects[2].Fill, svg.Rects[3].Fill, svg.Rects[4].Fill}
	if fills[0] != "#b71c1c" || fills[1] != "#e8f5e9" || fills[3] != "#bdbdbd" || fills[2] == fills[0] {
		t.Errorf("fills %v", fills)
	}
	text := strings.Join(svg.Texts, "|")
	for _, want := range []string{"12.5%", "13/104", "5.0%", "5/100", "0%", "error", "appgw-v2", "envoy", "120s", "model 10.0% · unsafe"} {
		if !strings.Contains(text, want) {
			t.Errorf("no label %q in %s", want, text)
		}
	}
	if !strings.Contains(svg.Rects[4].Title, "&lt;no ports&gt;") && !strings.Contains(svg.Rects[4].Title, "safe") {
		t.Errorf("title %q", svg.Rects[4].Title)
	}
}

func TestMatrixCSVAndJSON(t *testing.T) {
	axes, cells := matrixFixture()
	var buf bytes.Buffer
	if err := MatrixCSV(&buf, axes, cells); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 5 || recs[0][0] != "gateway.preset" || recs[1][6] != "0.125" || recs[4][len(recs[4])-1] != "listen: <no ports>" {
		t.Fatalf("csv %v %v", recs, err)
	}
	buf.Reset()
	if err := MatrixJSON(&buf, axes, cells); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Axes  []string         `json:"axes"`
		Cells []MatrixCellJSON `json:"cells"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil || len(doc.Cells) != 4 {
		t.Fatalf("json %v\n%s", err, buf.String())
	}
	if c := doc.Cells[2]; c.Axes["gateway.preset"] != "envoy" || c.RaceStatus != 503 || c.Failed != 5 || c.MeasuredRate != 0.05 || c.PredictedRate == nil || *c.PredictedRate != 0.05 || c.Check != "unsafe" {
		t.Errorf("cell %+v", c)
	}
	buf.Reset()
	if err := MatrixTable(&buf, axes, cells); err != nil || !strings.Contains(buf.String(), "503 ×5") || !strings.Contains(buf.String(), "envoy/120s: listen") {
		t.Errorf("table %v\n%s", err, buf.String())
	}
}

// TestMatrixOutOfDomain: a cell whose load is outside the model prints no
// prediction: n/a in the table, empty in CSV, null in JSON.
func TestMatrixOutOfDomain(t *testing.T) {
	axes, cells := matrixFixture()
	cells[1].OutOfDomain = true
	var buf bytes.Buffer
	if err := MatrixCSV(&buf, axes, cells); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || recs[2][7] != "" || recs[1][7] != "0.1" {
		t.Fatalf("csv %v %v", recs, err)
	}
	buf.Reset()
	if err := MatrixJSON(&buf, axes, cells); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"predicted_rate": null`) {
		t.Errorf("json:\n%s", buf.String())
	}
	buf.Reset()
	if err := MatrixTable(&buf, axes, cells); err != nil || !strings.Contains(buf.String(), "n/a") {
		t.Errorf("table %v\n%s", err, buf.String())
	}
}
