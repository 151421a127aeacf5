package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gwsim/gwsim/scenarios"
)

// The matrix reports: a table, CSV, JSON and an SVG heatmap of the race
// rate (the share of requests the gateway answered with its race status:
// 502 for most, 503 for Envoy, 504 for AWS CLB, 520 for Cloudflare).

// predictedPct is the model's rate for c, or n/a outside its domain.
func predictedPct(c *scenarios.Cell) string {
	if c.OutOfDomain {
		return "n/a"
	}
	return ratePct(c.Predicted)
}

func predictedCSV(c *scenarios.Cell) string {
	if c.OutOfDomain {
		return ""
	}
	return strconv.FormatFloat(c.Predicted, 'g', 6, 64)
}

func predictedJSON(c *scenarios.Cell) *float64 {
	if c.OutOfDomain {
		return nil
	}
	p := c.Predicted
	return &p
}

func ratePct(f float64) string {
	switch {
	case f == 0:
		return "0%"
	case f < 0.001:
		return strconv.FormatFloat(100*f, 'f', 3, 64) + "%"
	}
	return strconv.FormatFloat(100*f, 'f', 1, 64) + "%"
}

func axisNames(axes []scenarios.Axis) []string {
	out := make([]string, len(axes))
	for i, a := range axes {
		out[i] = a.Field
	}
	return out
}

// MatrixTable writes one row per cell.
func MatrixTable(w io.Writer, axes []scenarios.Axis, cells []*scenarios.Cell) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := append([]string{}, axisNames(axes)...)
	head = append(head, "REQUESTS", "RACES", "RACE STATUS", "MEASURED", "PREDICTED", "CHECK")
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(head, "\t")))
	for _, c := range cells {
		row := append([]string{}, c.Values...)
		if c.Err != nil {
			row = append(row, "-", "-", "-", "ERROR", "-", string(c.Check.Verdict))
		} else {
			row = append(row, strconv.FormatInt(c.Requests, 10), strconv.FormatInt(c.Races, 10),
				fmt.Sprintf("%s ×%d", raceAnswer(c), c.Failed), ratePct(c.Measured()), predictedPct(c), string(c.Check.Verdict))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range cells {
		if c.Err != nil {
			fmt.Fprintf(w, "%s: %v\n", strings.Join(c.Values, "/"), c.Err)
		}
	}
	return nil
}

// raceAnswer is what a cell's clients got when the race hit: the status,
// or "closed" (no response).
func raceAnswer(c *scenarios.Cell) string {
	if c.RaceStatus == 0 {
		return "closed"
	}
	return strconv.Itoa(c.RaceStatus)
}

// MatrixCSV writes a header and one record per cell.
func MatrixCSV(w io.Writer, axes []scenarios.Axis, cells []*scenarios.Cell) error {
	cw := csv.NewWriter(w)
	head := append(axisNames(axes), "requests", "races", "race_status", "failed", "measured_rate", "predicted_rate", "check", "time_scale", "error")
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, c := range cells {
		errText := ""
		if c.Err != nil {
			errText = c.Err.Error()
		}
		rec := append(append([]string{}, c.Values...), strconv.FormatInt(c.Requests, 10), strconv.FormatInt(c.Races, 10),
			strconv.Itoa(c.RaceStatus), strconv.FormatInt(c.Failed, 10), strconv.FormatFloat(c.Measured(), 'g', 6, 64),
			predictedCSV(c), string(c.Check.Verdict), strconv.FormatFloat(c.TimeScale, 'g', -1, 64), errText)
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// MatrixCellJSON is one cell of `gwsim matrix --json`.
type MatrixCellJSON struct {
	Axes          map[string]string `json:"axes"`
	Requests      int64             `json:"requests"`
	Races         int64             `json:"races"`       // exchanges that met the race, retried ones included
	RaceStatus    int               `json:"race_status"` // the status the gateway answers the race with; 0 = the client connection closes without one
	Failed        int64             `json:"failed"`      // requests answered with race_status (the 502s)
	MeasuredRate  float64           `json:"measured_rate"`
	PredictedRate *float64          `json:"predicted_rate"` // null outside the model's domain
	Check         string            `json:"check"`          // safe, marginal or unsafe
	TimeScale     float64           `json:"time_scale"`
	WallSeconds   float64           `json:"wall_seconds"`
	Error         string            `json:"error,omitempty"`
}

// MatrixJSON writes {"schema_version":1,"axes":[...],"cells":[...]}.
func MatrixJSON(w io.Writer, axes []scenarios.Axis, cells []*scenarios.Cell) error {
	doc := struct {
		SchemaVersion int              `json:"schema_version"`
		Axes          []string         `json:"axes"`
		Cells         []MatrixCellJSON `json:"cells"`
	}{SchemaVersion: SchemaVersion, Axes: axisNames(axes), Cells: []MatrixCellJSON{}}
	for _, c := range cells {
		j := MatrixCellJSON{Axes: map[string]string{}, Requests: c.Requests, Races: c.Races, RaceStatus: c.RaceStatus,
			Failed: c.Failed, MeasuredRate: c.Measured(), PredictedRate: predictedJSON(c), Check: string(c.Check.Verdict),
			TimeScale: c.TimeScale, WallSeconds: c.Wall.Seconds()}
		for i, a := range axes {
			j.Axes[a.Field] = c.Values[i]
		}
		if c.Err != nil {
			j.Error = c.Err.Error()
		}
		doc.Cells = append(doc.Cells, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// Heatmap writes an SVG heatmap of the measured race rate: the last axis
// across, every combination of the others down. Each cell is labelled with
// its rate, its count and the model's prediction; its colour goes from
// pale green (none) to deep red (the highest rate of the matrix).
func Heatmap(w io.Writer, axes []scenarios.Axis, cells []*scenarios.Cell) error {
	cols := []string{""}
	colAxis := ""
	if len(axes) > 0 {
		cols, colAxis = axes[len(axes)-1].Values, axes[len(axes)-1].Field
	}
	var rows []string
	rowIndex := map[string]int{}
	cellAt := map[[2]int]*scenarios.Cell{}
	colIndex := map[string]int{}
	for i, v := range cols {
		colIndex[v] = i
	}
	maxRate := 0.0
	for _, c := range cells {
		key, col := "", ""
		if n := len(c.Values); n > 0 {
			key, col = strings.Join(c.Values[:n-1], " · "), c.Values[n-1]
		}
		ri, ok := rowIndex[key]
		if !ok {
			ri = len(rows)
			rowIndex[key] = ri
			rows = append(rows, key)
		}
		cellAt[[2]int{ri, colIndex[col]}] = c
		maxRate = math.Max(maxRate, c.Measured())
	}
	const cw, ch, left, top = 96, 58, 170, 78
	width, height := max(left+cw*len(cols)+20, 760), top+ch*len(rows)+44 // wide enough for the title
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	title := "gwsim matrix: share of requests answered with the race status (502; Envoy 503, CLB 504)"
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	rowAxes := strings.Join(axisNames(axes[:max(len(axes)-1, 0)]), " · ")
	fmt.Fprintf(&b, `<text x="10" y="42" font-size="11" fill="#555">rows: %s; columns: %s; each cell: measured rate, 502s/requests, model prediction, static check</text>`+"\n",
		html.EscapeString(orDash(rowAxes)), html.EscapeString(orDash(colAxis)))
	for j, v := range cols {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="middle" font-weight="bold">%s</text>`+"\n", left+j*cw+cw/2, top-8, html.EscapeString(v))
	}
	for i, r := range rows {
		y := top + i*ch
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="end" font-weight="bold">%s</text>`+"\n", left-8, y+ch/2+4, html.EscapeString(orDash(r)))
		for j := range cols {
			x := left + j*cw
			c := cellAt[[2]int{i, j}]
			if c == nil {
				continue
			}
			fill, ink := heatColour(c, maxRate)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="#ffffff" stroke-width="2"><title>%s</title></rect>`+"\n",
				x, y, cw, ch, fill, html.EscapeString(cellTitle(axes, c)))
			if c.Err != nil {
				fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" text-anchor="middle" fill="%s">error</text>`+"\n", x+cw/2, y+ch/2+4, ink)
				continue
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="15" font-weight="bold" text-anchor="middle" fill="%s">%s</text>`+"\n", x+cw/2, y+20, ink, ratePct(c.Measured()))
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" text-anchor="middle" fill="%s">%d/%d</text>`+"\n", x+cw/2, y+34, ink, c.Failed, c.Requests)
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="9" text-anchor="middle" fill="%s">model %s · %s</text>`+"\n", x+cw/2, y+48, ink, predictedPct(c), c.Check.Verdict)
		}
	}
	fmt.Fprintf(&b, `<text x="10" y="%d" font-size="10" fill="#555">colour: pale green = no race status answered; red = the matrix's highest rate (%s)</text>`+"\n", height-14, ratePct(maxRate))
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cellTitle(axes []scenarios.Axis, c *scenarios.Cell) string {
	var parts []string
	for i, a := range axes {
		parts = append(parts, a.Field+"="+c.Values[i])
	}
	return fmt.Sprintf("%s: %s × %d of %d requests (%d races), model %s, check %s: %s",
		strings.Join(parts, ", "), raceAnswer(c), c.Failed, c.Requests, c.Races, predictedPct(c), c.Check.Verdict, c.Check.Rule)
}

// heatColour maps a cell's rate to a fill and a readable text colour.
func heatColour(c *scenarios.Cell, maxRate float64) (fill, ink string) {
	switch {
	case c.Err != nil:
		return "#bdbdbd", "#000000"
	case c.Failed == 0:
		return "#e8f5e9", "#1b5e20"
	}
	t := 1.0
	if maxRate > 0 {
		t = math.Sqrt(c.Measured() / maxRate) // sqrt: small rates stay visible
	}
	// From #ffe0b2 (pale orange) to #b71c1c (deep red).
	lerp := func(a, b int) int { return a + int(math.Round(t*float64(b-a))) }
	fill = fmt.Sprintf("#%02x%02x%02x", lerp(0xff, 0xb7), lerp(0xe0, 0x1c), lerp(0xb2, 0x1c))
	ink = "#000000"
	if t > 0.55 {
		ink = "#ffffff"
	}
	return fill, ink
}
