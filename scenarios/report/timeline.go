package report

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/explain"
)

// Timeline geometry, in SVG pixels. The width is fixed; the height grows
// with the rows drawn, which are capped (see pickRows), so even a run with
// thousands of connections gives a picture of at most about 1,200 px.
const (
	tlWidth     = 1280
	tlPlotLeft  = 170.0  // lane labels to the left
	tlPlotRight = 1110.0 // per-lane annotations to the right
	tlRow       = 20.0   // one connection
	tlMaxRows   = 40     // more lanes than this are folded
	tlInsetH    = 196.0  // the race zoom
	tlFont      = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"
)

// Colours, one per meaning; the legend names them.
const (
	colOK      = "#4e9a6a" // exchange answered (1xx–3xx)
	colErr     = "#e0a030" // the backend answered 4xx/5xx itself
	colFail    = "#d62728" // failed, and the client saw it
	colHidden  = "#e8b4ae" // failed, hidden by the retry policy
	colHidEdge = "#a8746e"
	colIdle    = "#a0a8b0" // the connection is open (idle between bars)
	colBackend = "#b2182b" // the backend closed it
	colGateway = "#2166ac" // the gateway closed it
	colQuiet   = "#8a8f96" // shutdown and unknown closes
	colZoom    = "#7b3294" // the race the inset zooms on
	colText    = "#222"
	colMuted   = "#5f6670"
)

// Timeline draws an analysis as an SVG: a time axis relative to a.Start and
// one row per gateway→backend connection, with its exchanges as bars (green
// answered, red failed, pink failed but hidden by a retry), idle periods as
// a thin line, the close marked by side (backend ✕ with its style, gateway
// bar with its reason) and each failure as a triangle where it hit. Below,
// an inset (id "race-inset") zooms on a keep-alive race (the first written after the close) with both
// timestamps, on a µs axis, so the sub-millisecond gap between the
// backend's close and the gateway's write can be seen. The output is
// deterministic.
func Timeline(w io.Writer, title string, a *explain.Analysis) error {
	if a == nil {
		a = &explain.Analysis{}
	}
	t := newTimeline(a)
	race, raceLane := zoomTarget(a)
	rows := pickRows(a.Lanes, raceLane)

	t.printf(`<rect width="100%%" height="100%%" fill="#fff"/>` + "\n")
	t.printf(`<g id="header"><text x="20" y="28" font-size="18" font-weight="bold" fill="%s">%s</text>`+"\n", colText, esc(title))
	t.printf(`<text x="20" y="48" font-size="12.5" fill="%s">%s</text>`+"\n", colText, esc(summary(a)))
	t.printf(`<text x="20" y="66" font-size="11.5" fill="%s">%s</text></g>`+"\n", colMuted, esc(settings(a, t.span)))
	top := t.legend(20, 88) + 34
	bottom := top + float64(max(len(rows), 1))*tlRow
	t.axis(top, bottom)
	t.printf(`<g id="lanes">` + "\n")
	for i, r := range rows {
		t.row(top+float64(i)*tlRow, i, r, race, raceLane)
	}
	if len(rows) == 0 {
		t.printf(`<text x="%s" y="%s" fill="%s">no gateway→backend connections in this run</text>`+"\n", num(tlPlotLeft), num(top+14), colMuted)
	}
	t.printf("</g>\n")
	height := bottom + 34
	var notes []string
	if n := a.Causes[explain.CauseClientIdleRace]; n > 0 {
		notes = append(notes, fmt.Sprintf("%d client-idle-race failure(s) happened on client→gateway connections, which are not drawn here.", n))
	}
	if n := a.Causes[proxy.CauseKeepaliveRace]; n > 0 && race == nil {
		notes = append(notes, fmt.Sprintf("%d keep-alive race(s), but no backend close time to zoom on (backend events missing?).", n))
	}
	for _, n := range notes {
		t.printf(`<text x="20" y="%s" fill="%s">%s</text>`+"\n", num(height), colMuted, esc(n))
		height += 18
	}
	if race != nil {
		t.inset(height+8, race)
		height += 8 + tlInsetH + 12
	}
	t.printf("</svg>\n")

	// The root element comes first but needs the height, known only now.
	_, err := fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%s" viewBox="0 0 %d %s" font-family="%s" font-size="11">`+"\n<title>%s</title>\n",
		tlWidth, num(height), tlWidth, num(height), tlFont, esc(title))
	if err == nil {
		_, err = w.Write(t.b.Bytes())
	}
	return err
}

// timeline is the SVG body being written and the main chart's time scale.
type timeline struct {
	b     bytes.Buffer
	start time.Time
	span  time.Duration
}

func newTimeline(a *explain.Analysis) *timeline {
	start, end := a.Start, a.End
	widen := func(at time.Time) {
		if at.IsZero() {
			return
		}
		if start.IsZero() || at.Before(start) {
			start = at
		}
		if at.After(end) {
			end = at
		}
	}
	for _, l := range a.Lanes {
		widen(l.Opened)
		widen(l.Closed)
		for _, s := range l.Exchanges {
			widen(s.End)
		}
	}
	span := end.Sub(start)
	if span <= 0 {
		span = time.Millisecond
	}
	return &timeline{start: start, span: span}
}

func (t *timeline) printf(format string, args ...any) { fmt.Fprintf(&t.b, format, args...) }

// x maps a time onto the main chart; the zero time (still open) maps to
// the right edge. The explicit float64 conversion rounds before the add,
// so no platform fuses it and coordinates are the same everywhere.
func (t *timeline) x(at time.Time) float64 {
	if at.IsZero() {
		return tlPlotRight
	}
	frac := float64(at.Sub(t.start)) / float64(t.span)
	return tlPlotLeft + float64(frac*(tlPlotRight-tlPlotLeft))
}

// axis draws the time grid with labels above and below the lanes.
func (t *timeline) axis(top, bottom float64) {
	unit, name := time.Microsecond, "µs"
	switch {
	case t.span >= 2*time.Second:
		unit, name = time.Second, "s"
	case t.span >= 2*time.Millisecond:
		unit, name = time.Millisecond, "ms"
	}
	t.printf(`<g id="axis" fill="%s" font-size="10.5">`+"\n", colMuted)
	t.printf(`<text x="%s" y="%s" text-anchor="end">%s since start</text>`+"\n", num(tlPlotLeft-12), num(top-8), name)
	step := niceStep(t.span, 10)
	for d := time.Duration(0); d <= t.span; d += step {
		x := num(t.x(t.start.Add(d)))
		label := strconv.FormatFloat(float64(d)/float64(unit), 'f', -1, 64)
		t.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e3e6ea"/>`, x, num(top-3), x, num(bottom+3))
		t.printf(`<text x="%s" y="%s" text-anchor="middle">%s</text>`, x, num(top-8), label)
		t.printf(`<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", x, num(bottom+15), label)
	}
	t.printf("</g>\n")
}

// niceStep is the 1-2-5 step that cuts span into at most about n parts.
// Integer arithmetic keeps ticks identical on every platform.
func niceStep(span time.Duration, n int) time.Duration {
	raw := span / time.Duration(n)
	for mag := time.Duration(1); ; mag *= 10 {
		for _, m := range []time.Duration{1, 2, 5} {
			if m*mag >= raw {
				return m * mag
			}
		}
	}
}

// legend draws one entry per mark, wrapping when the line is full, and
// returns the baseline of its last line.
func (t *timeline) legend(x0, y float64) float64 {
	bar := func(c string) string {
		return fmt.Sprintf(`<rect x="0" y="-5" width="22" height="10" rx="1.5" fill="%s"/>`, c)
	}
	stub := `<line x1="0" y1="0" x2="12" y2="0" stroke="` + colIdle + `" stroke-width="1.5"/>`
	items := [][2]string{ // glyph drawn at (0,0) = its centre-left, 22 px wide; text
		{bar(colOK), "answered"},
		{bar(colErr), "backend 4xx/5xx"},
		{`<line x1="0" y1="0" x2="22" y2="0" stroke="` + colIdle + `" stroke-width="1.5"/>`, "open, idle"},
		{bar(colFail) + triangle(17, -6, colFail, "#fff"), "failed: the client got 502…"},
		{bar(colHidden) + triangle(17, -6, colHidden, colHidEdge), "failed, hidden by a retry"},
		{stub + cross(14, 0, colBackend), "backend closed (FIN/RST/linger/trap)"},
		{stub + gatewayTick(13, 0, colGateway), "gateway closed"},
	}
	t.printf(`<g id="legend" fill="%s">`+"\n", colText)
	x := x0
	for _, it := range items {
		w := 48 + textWidth(it[1], 11)
		if x+w > tlWidth-20 {
			x, y = x0, y+16
		}
		t.printf(`<g transform="translate(%s,%s)">%s<text x="28" y="4">%s</text></g>`+"\n", num(x), num(y), it[0], esc(it[1]))
		x += w
	}
	t.printf("</g>\n")
	return y
}

// row is one line of the chart: one connection, or the rest folded into
// one aggregate line drawn overlaid.
type row struct {
	lanes []*explain.Lane
	fold  bool
}

// pickRows chooses what to draw. Up to tlMaxRows connections each get a
// row. Beyond that a row per connection would be unreadable (and hundreds
// of rows of nothing happening say little), so tlMaxRows-1 connections get
// a row each — the one the inset zooms on, then those with a failure
// (visible or retried) in opening order, then, if rows are left, a sample
// of the others spread evenly over the run — and the rest are folded into
// a last row, "+N overlaid": it still shows when the load ran and where its
// failures fell, and the height stays bounded. Rows keep the connections'
// opening order.
func pickRows(lanes []explain.Lane, zoom *explain.Lane) []row {
	var rows []row
	if len(lanes) <= tlMaxRows {
		for i := range lanes {
			rows = append(rows, row{lanes: []*explain.Lane{&lanes[i]}})
		}
		return rows
	}
	keep := make([]bool, len(lanes))
	slots := tlMaxRows - 1
	take := func(i int) {
		if slots > 0 && !keep[i] {
			keep[i] = true
			slots--
		}
	}
	var quiet []int
	for i := range lanes {
		if &lanes[i] == zoom {
			take(i)
		}
	}
	for i := range lanes {
		if len(lanes[i].Failures) > 0 {
			take(i)
		} else if !keep[i] {
			quiet = append(quiet, i)
		}
	}
	for k := range slots { // slots < len(quiet) here, so the fold is never empty
		keep[quiet[k*len(quiet)/slots]] = true
	}
	fold := row{fold: true}
	for i := range lanes {
		if keep[i] {
			rows = append(rows, row{lanes: []*explain.Lane{&lanes[i]}})
		} else {
			fold.lanes = append(fold.lanes, &lanes[i])
		}
	}
	return append(rows, fold)
}

// interval is a horizontal stretch in pixels.
type interval struct{ x0, x1 float64 }

// merge widens stretches to minW, sorts them and joins those less than
// half a pixel apart, so the SVG's size depends on the chart's width, not
// on the number of requests.
func merge(iv []interval, minW float64) []interval {
	for i := range iv {
		iv[i].x1 = max(iv[i].x1, iv[i].x0+minW)
	}
	sort.Slice(iv, func(i, j int) bool { return iv[i].x0 < iv[j].x0 || iv[i].x0 == iv[j].x0 && iv[i].x1 < iv[j].x1 })
	var out []interval
	for _, v := range iv {
		if n := len(out); n > 0 && v.x0 <= out[n-1].x1+0.5 {
			out[n-1].x1 = max(out[n-1].x1, v.x1)
			continue
		}
		out = append(out, v)
	}
	return out
}

// Bar classes, drawn in this order (failures on top).
const (
	barOK = iota
	barErr
	barHidden
	barFail
	nBars
)

var barColours = [nBars]string{colOK, colErr, colHidden, colFail}

// row draws row r with its upper edge at top; i is its index.
func (t *timeline) row(top float64, i int, r row, race *explain.Explanation, zoom *explain.Lane) {
	cy := top + tlRow/2
	single := !r.fold
	label := num(tlPlotLeft - 12)
	if single {
		l := r.lanes[0]
		fill := colText
		if l == zoom {
			fill = colZoom
		}
		t.printf(`<g class="lane" data-conn="%d">`, l.GatewayConn)
		t.stripe(i, top)
		t.printf(`<text x="%s" y="%s" text-anchor="end" fill="%s"><tspan font-weight="bold">conn %d</tspan><tspan fill="%s" font-size="10"> %s</tspan></text>`,
			label, num(cy+4), fill, l.GatewayConn, colMuted, esc(port(l.Local)))
	} else {
		failing := 0
		for _, l := range r.lanes {
			failing += min(len(l.Failures), 1)
		}
		t.printf(`<g class="lane-fold" data-lanes="%d"><title>%d more connections (%d with failures), drawn overlaid</title>`, len(r.lanes), len(r.lanes), failing)
		t.stripe(i, top)
		t.printf(`<text x="%s" y="%s" text-anchor="end" font-weight="bold" fill="%s">+%d overlaid</text>`, label, num(cy+4), colText, len(r.lanes))
	}

	// Open periods as a line, exchanges as bars by outcome.
	var open []interval
	var bars [nBars][]interval
	var marks []explain.Mark
	right := 0.0 // where the annotation may start
	for _, l := range r.lanes {
		open = append(open, interval{t.x(l.Opened), t.x(l.Closed)})
		right = max(right, t.x(l.Closed))
		for _, s := range l.Exchanges {
			c := barOK
			switch {
			case s.Status == 0:
				c = barFail
				if m := markAt(l, s.End); m != nil && m.Retried {
					c = barHidden
				}
			case s.Status >= 400:
				c = barErr
			}
			bars[c] = append(bars[c], interval{t.x(s.Start), t.x(s.End)})
			right = max(right, t.x(s.End)+2)
		}
		marks = append(marks, l.Failures...)
	}
	for _, v := range merge(open, 0) {
		t.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5"/>`, num(v.x0), num(cy), num(v.x1), num(cy), colIdle)
	}
	opacity := ""
	if !single {
		opacity = ` fill-opacity="0.55"`
	}
	for c := range nBars {
		for _, v := range merge(bars[c], 2) {
			t.printf(`<rect x="%s" y="%s" width="%s" height="10" fill="%s"%s/>`, num(v.x0), num(cy-5), num(v.x1-v.x0), barColours[c], opacity)
		}
	}

	var note []notePart // the annotation right of the row
	if single && r.lanes[0].Closed.IsZero() {
		note = append(note, notePart{colQuiet, "open at the end"})
	} else if single {
		note = append(note, t.closeMark(r.lanes[0], cy))
	}
	// Failures: hidden ones first so visible ones stay on top; in folded
	// rows one per pixel column.
	sort.SliceStable(marks, func(i, j int) bool { return marks[i].Retried && !marks[j].Retried })
	visible, hidden := map[int]int{}, 0
	type col struct {
		x       int
		retried bool
	}
	drawn := map[col]bool{}
	for _, m := range marks {
		if m.Retried {
			hidden++
		} else {
			visible[m.Status]++
		}
		x := t.x(m.At)
		right = max(right, x+5)
		k := col{int(x), m.Retried}
		if !single && drawn[k] {
			continue
		}
		drawn[k] = true
		fill, edge, what := colFail, "#fff", "the client got "+statusWord(m.Status)
		if m.Retried {
			fill, edge, what = colHidden, colHidEdge, "hidden by a retry"
		}
		t.printf(`<g>%s<title>%s at %s: %s</title></g>`, triangle(x, cy-6, fill, edge), esc(m.Cause), esc(rel(m.At, t.start)), esc(what))
	}
	if single && race != nil && zoom == r.lanes[0] {
		t.printf(`<circle cx="%s" cy="%s" r="11" fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="3 2"/>`,
			num(t.x(race.FailAt)), num(cy-1), colZoom)
	}

	// Annotation: failures the client saw, the close, hidden failures.
	var fails []string
	for _, st := range sortedKeys(visible) {
		s := statusWord(st)
		if n := visible[st]; n > 1 {
			s = fmt.Sprintf("%d × %s", n, s)
		}
		fails = append(fails, s)
	}
	if len(fails) > 0 {
		note = append([]notePart{{colFail, strings.Join(fails, ", ")}}, note...)
	}
	if hidden == 1 {
		note = append(note, notePart{colHidEdge, "retried"})
	} else if hidden > 1 {
		note = append(note, notePart{colHidEdge, fmt.Sprintf("%d retried", hidden)})
	}
	t.annotate(right+10, cy, note, len(fails) > 0)
	t.printf("</g>\n")
}

// annotate writes a row's annotation from x on (moved left if it would
// not fit), its first part bold if asked.
func (t *timeline) annotate(x, cy float64, note []notePart, bold bool) {
	if len(note) == 0 {
		return
	}
	var text []string
	chars := 3 * (len(note) - 1)
	for i, p := range note {
		weight := ""
		if i == 0 && bold {
			weight = ` font-weight="bold"`
		}
		text = append(text, fmt.Sprintf(`<tspan fill="%s"%s>%s</tspan>`, p.fill, weight, esc(p.text)))
		chars += len([]rune(p.text))
	}
	if w := float64(chars) * 10.5 * 0.55; x+w > tlWidth-8 {
		x = tlWidth - 8 - w // keep it inside; the white halo keeps it legible
	}
	t.printf(`<text x="%s" y="%s" font-size="10.5" stroke="#fff" stroke-width="3" paint-order="stroke" stroke-linejoin="round">%s</text>`,
		num(x), num(cy+4), strings.Join(text, `<tspan fill="#999"> · </tspan>`))
}

// notePart is a piece of a row's annotation in its colour.
type notePart struct{ fill, text string }

// stripe shades every other row.
func (t *timeline) stripe(i int, top float64) {
	if i%2 == 1 {
		t.printf(`<rect x="20" y="%s" width="%d" height="%s" fill="#f5f6f8"/>`, num(top), tlWidth-40, num(tlRow))
	}
}

// closeMark draws how a connection closed and returns its annotation.
func (t *timeline) closeMark(l *explain.Lane, cy float64) notePart {
	x := t.x(l.Closed)
	what := closeLabel(l)
	// Red: the backend dropped a pooled connection unannounced (its
	// keep-alive, the race trap, a fault): the closes that race. Grey: the
	// ones that cannot (Connection: close sent, shutdown).
	mark, c := gatewayTick(x, cy, colQuiet), colQuiet
	switch {
	case l.ClosedBy == string(proxy.ByBackend):
		switch backend.CloseReason(l.CloseReason) {
		case backend.CloseIdle, backend.CloseTrap, backend.CloseFault, "":
			mark, c = cross(x, cy, colBackend), colBackend
		default:
			mark = cross(x, cy, colQuiet)
		}
	case l.ClosedBy == string(proxy.ByGateway) && l.CloseReason != proxy.ReasonShutdown:
		mark, c = gatewayTick(x, cy, colGateway), colGateway
	}
	t.printf(`<g>%s<title>closed at %s: %s</title></g>`, mark, esc(rel(l.Closed, t.start)), esc(what))
	return notePart{c, what}
}

// closeLabel says shortly who closed a connection and how: "backend FIN",
// "backend RST (fault)", "gateway idle-timeout".
func closeLabel(l *explain.Lane) string {
	who := l.ClosedBy
	if who == "" {
		who = "closed"
	}
	if l.ClosedBy == string(proxy.ByGateway) || l.CloseStyle == "" || l.CloseStyle == "none" {
		return strings.TrimSpace(who + " " + l.CloseReason)
	}
	s := who + " " + l.CloseStyle
	if st := backend.CloseStyle(l.CloseStyle); st == backend.CloseFIN || st == backend.CloseRST {
		s = who + " " + strings.ToUpper(l.CloseStyle)
	}
	if r := backend.CloseReason(l.CloseReason); r != backend.CloseIdle && r != backend.CloseTrap && r != "" {
		s += " (" + l.CloseReason + ")"
	}
	return s
}

// summary is the line under the title: connections, failures, causes.
func summary(a *explain.Analysis) string {
	parts := []string{plural(len(a.Lanes)+a.LanesOmitted, "connection")}
	status, clientErr, hidden := map[int]int{}, 0, 0
	for _, x := range a.Explanations {
		switch {
		case x.Retried:
			hidden++
		case x.Status != 0:
			status[x.Status]++
		default:
			clientErr++
		}
	}
	for _, st := range sortedKeys(status) {
		parts = append(parts, fmt.Sprintf("%d × %d", status[st], st))
	}
	if clientErr > 0 {
		parts = append(parts, plural(clientErr, "client error"))
	}
	if hidden > 0 {
		parts = append(parts, fmt.Sprintf("%d hidden by retry", hidden))
	}
	if len(a.Explanations) == 0 {
		parts = append(parts, "no failures")
	}
	var causes []string
	for _, c := range sortedKeys(a.Causes) {
		rest := a.Causes[c]
		for _, k := range sortedKeys(a.Subkinds) {
			if strings.HasPrefix(k, c+"/") {
				causes = append(causes, fmt.Sprintf("%s %d", k, a.Subkinds[k]))
				rest -= a.Subkinds[k]
			}
		}
		if rest > 0 {
			causes = append(causes, fmt.Sprintf("%s %d", c, rest))
		}
	}
	s := strings.Join(parts, " · ")
	if len(causes) > 0 {
		s += " — causes: " + strings.Join(causes, ", ")
	}
	return s
}

// settings is the second line: what the actors said of their timeouts,
// with real-world values when the run was time-scaled.
func settings(a *explain.Analysis, span time.Duration) string {
	scale := a.Gateway.TimeScale
	scaled := func(d time.Duration) string {
		if scale <= 0 || scale == 1 {
			return tlDur(d)
		}
		return fmt.Sprintf("%s (%s real)", tlDur(d), tlDur(time.Duration(float64(d)/scale).Round(time.Millisecond)))
	}
	var parts []string
	if a.Backend.Known && a.Backend.KeepAlive > 0 {
		parts = append(parts, "backend keep-alive "+scaled(a.Backend.KeepAlive))
	}
	if a.Gateway.Known {
		idle := "no limit"
		if a.Gateway.IdleTimeout > 0 {
			idle = scaled(a.Gateway.IdleTimeout)
		}
		gw := "gateway"
		if a.Gateway.Name != "" {
			gw += " " + a.Gateway.Name
		}
		parts = append(parts, gw+" idle timeout "+idle)
	}
	if scale > 0 && scale != 1 {
		parts = append(parts, "time scale "+strconv.FormatFloat(scale, 'g', -1, 64))
	}
	return strings.Join(append(parts, "run "+tlDur(span)), " · ")
}

// markAt is the failure a lane recorded at t, if any.
func markAt(l *explain.Lane, t time.Time) *explain.Mark {
	for i := range l.Failures {
		if l.Failures[i].At.Equal(t) {
			return &l.Failures[i]
		}
	}
	return nil
}

// triangle points down at (x, y+4.5).
func triangle(x, y float64, fill, edge string) string {
	return fmt.Sprintf(`<path d="M%s %sh10l-5 9z" fill="%s" stroke="%s" stroke-width="0.8"/>`, num(x-5), num(y-4.5), fill, edge)
}

func cross(x, y float64, c string) string {
	return fmt.Sprintf(`<path d="M%s %sl9 9m0 -9l-9 9" stroke="%s" stroke-width="2.2" stroke-linecap="round"/>`, num(x-4.5), num(y-4.5), c)
}

func gatewayTick(x, y float64, c string) string {
	return fmt.Sprintf(`<rect x="%s" y="%s" width="3" height="14" fill="%s"/>`, num(x-1.5), num(y-7), c)
}

func statusWord(st int) string {
	if st == 0 {
		return "an error"
	}
	return strconv.Itoa(st)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func sortedKeys[K int | string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// port is the :port of an ip:port.
func port(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i:]
	}
	return addr
}

// textWidth estimates a text's width in px (DejaVu Sans averages about
// half an em on such labels).
func textWidth(s string, size float64) float64 {
	return float64(len([]rune(s))) * size * 0.52
}

// tlDur prints a duration with units that suit it.
func tlDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + tlDur(-d)
	case d >= time.Second:
		return fmt.Sprintf("%.4g s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.4g ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%d µs", (d+500)/time.Microsecond)
}

// rel is t relative to the chart's start.
func rel(t, start time.Time) string { return tlDur(t.Sub(start)) }

// num formats a coordinate with one decimal: fixed, so output is stable.
func num(f float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(f, 'f', 1, 64), ".0")
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

// esc escapes text for XML content and attribute values.
func esc(s string) string { return xmlEscaper.Replace(s) }
