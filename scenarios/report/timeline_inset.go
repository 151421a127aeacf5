package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/explain"
)

// zoomTarget is the keep-alive race to zoom on: the first (visible
// failures come first, as the text explanation tells them) whose request
// went out after the backend's close, the classic picture; else the first
// whose close time is known at all. It returns its connection's lane too.
func zoomTarget(a *explain.Analysis) (*explain.Explanation, *explain.Lane) {
	for _, afterClose := range []bool{true, false} {
		for i := range a.Explanations {
			x := &a.Explanations[i]
			if x.Cause != proxy.CauseKeepaliveRace || !x.HasDelta || x.CloseAt.IsZero() || x.WriteAt.IsZero() {
				continue
			}
			if afterClose && x.Delta < 0 {
				continue
			}
			for j := range a.Lanes {
				if l := &a.Lanes[j]; l.GatewayConn == x.GatewayConn && (x.Local == "" || l.Local == x.Local) {
					return x, l
				}
			}
			return x, nil
		}
	}
	return nil, nil
}

// inset draws the zoom on one race on a µs axis with 0 at the backend's
// close: the backend's side above, the gateway's below, Δ between.
func (t *timeline) inset(top float64, x *explain.Explanation) {
	fail := x.FailAt
	if fail.Before(x.WriteAt) {
		fail = x.WriteAt
	}
	lo, hi := x.CloseAt, fail
	if x.WriteAt.Before(lo) {
		lo = x.WriteAt
	}
	if hi.Before(x.CloseAt) {
		hi = x.CloseAt
	}
	width := max(hi.Sub(lo), 100*time.Microsecond)
	from, to := lo.Add(-width/4), lo.Add(width+width/4)
	left, right := tlPlotLeft, tlPlotRight
	ix := func(at time.Time) float64 {
		frac := float64(at.Sub(from)) / float64(to.Sub(from))
		return left + float64(frac*(right-left))
	}
	yB, yG := top+86, top+136 // the backend's and the gateway's rows
	axisY := top + tlInsetH - 8

	t.printf(`<g id="race-inset">` + "\n")
	t.printf(`<rect x="20" y="%s" width="%d" height="%s" rx="6" fill="#fbf9fd" stroke="%s" stroke-width="1.2"/>`+"\n",
		num(top), tlWidth-40, num(tlInsetH), colZoom)
	conn := fmt.Sprintf("connection %d", x.GatewayConn)
	if x.Local != "" {
		conn += fmt.Sprintf(" (%s → %s)", x.Local, x.Remote)
	}
	when := x.At
	if when.IsZero() {
		when = fail
	}
	head := fmt.Sprintf("Zoom: a keep-alive race, on %s at %s", conn, rel(when, t.start))
	if x.Retried {
		head += " (hidden by a retry)"
	} else if x.Status != 0 {
		head += fmt.Sprintf(" → %d", x.Status)
	}
	noun, event := closeWords(x.Subkind)
	story := fmt.Sprintf("request written %s after the backend's %s: the gateway reused a connection that was already closing", tlDur(x.Delta), noun)
	if x.Delta < 0 {
		story = fmt.Sprintf("request written %s before the backend's %s: they crossed on the wire", tlDur(-x.Delta), noun)
	}
	t.printf(`<text x="36" y="%s" font-size="13" font-weight="bold" fill="%s">%s</text>`+"\n", num(top+22), colZoom, esc(head))
	t.printf(`<text x="36" y="%s" font-size="12" fill="%s">%s</text>`+"\n", num(top+40), colText, esc(story))

	// Axis: µs from the backend's close.
	t.printf(`<g fill="%s" font-size="10.5">`, colMuted)
	t.printf(`<text x="%s" y="%s" text-anchor="end">µs from backend close</text>`, num(left-12), num(axisY))
	step := niceStep(to.Sub(from), 10)
	first := from.Sub(x.CloseAt) / step * step
	if first < from.Sub(x.CloseAt) {
		first += step
	}
	for d := first; !x.CloseAt.Add(d).After(to); d += step {
		px := num(ix(x.CloseAt.Add(d)))
		label := strconv.FormatFloat(float64(d)/1e3, 'f', -1, 64)
		if d > 0 {
			label = "+" + label
		}
		t.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e6e0ec"/>`, px, num(top+58), px, num(axisY-11))
		t.printf(`<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", px, num(axisY), label)
	}
	t.printf("</g>\n")

	backend, gateway := "backend", "gateway"
	if x.BackendConn != 0 {
		backend = fmt.Sprintf("backend conn %d", x.BackendConn)
	}
	if x.GatewayConn != 0 {
		gateway = fmt.Sprintf("gateway conn %d", x.GatewayConn)
	}
	t.printf(`<text x="%s" y="%s" text-anchor="end" font-weight="bold" fill="%s">%s</text>`, num(left-12), num(yB+4), colText, esc(backend))
	t.printf(`<text x="%s" y="%s" text-anchor="end" font-weight="bold" fill="%s">%s</text>`+"\n", num(left-12), num(yG+4), colText, esc(gateway))

	xc, xw, xf := ix(x.CloseAt), ix(x.WriteAt), ix(fail)
	// Backend: open until its close, closed (dashed) after.
	t.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>`, num(left), num(yB), num(xc), num(yB), colIdle)
	t.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.2" stroke-dasharray="4 3"/>`, num(xc), num(yB), num(right), num(yB), colIdle)
	t.printf(`%s<text x="%s" y="%s" text-anchor="middle" fill="%s">%s</text>`+"\n", cross(xc, yB, colBackend), num(xc), num(yB-12), colBackend, esc(event))
	// Gateway: idle until the write, the failed exchange, the error read.
	bar, got := colFail, "retried"
	if x.Retried {
		bar = colHidden
	} else if x.Status != 0 {
		got = strconv.Itoa(x.Status)
	}
	written := strings.TrimSpace(x.Method + " request written")
	t.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>`, num(left), num(yG), num(xw), num(yG), colIdle)
	t.printf(`<rect x="%s" y="%s" width="%s" height="12" fill="%s"/>`, num(xw), num(yG-6), num(max(xf-xw, 2)), bar)
	t.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>`, num(xw), num(yG-10), num(xw), num(yG+10), colText)
	t.printf(`<text x="%s" y="%s" text-anchor="middle" fill="%s">%s</text>`, num(xw), num(yG+22), colText, esc(written))
	t.printf(`%s<text x="%s" y="%s" fill="%s">read %s %s later → %s</text>`+"\n",
		triangle(xf, yG-8, colFail, "#fff"), num(xf+8), num(yG+22), colFail, errRead(x.Err), esc(tlDur(fail.Sub(x.WriteAt))), got)
	// Δ: guides down from both instants and a bracket between them.
	mid := (yB + yG) / 2
	a, b := min(xc, xw), max(xc, xw)
	for _, gx := range []float64{xc, xw} {
		t.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-dasharray="2 2"/>`, num(gx), num(yB), num(gx), num(yG), colZoom)
	}
	t.printf(`<path d="M%s %sv10m0 -5H%sm0 -5v10" fill="none" stroke="%s" stroke-width="1.5"/>`, num(a), num(mid-5), num(b), colZoom)
	delta := "Δ " + tlDur(x.Delta)
	if x.Delta > 0 {
		delta = "Δ +" + tlDur(x.Delta)
	}
	t.printf(`<text x="%s" y="%s" font-weight="bold" fill="%s" stroke="#fbf9fd" stroke-width="3" paint-order="stroke">%s</text>`+"\n",
		num(b+8), num(mid+4), colZoom, esc(delta))
	t.printf("</g>\n")
}

// closeWords names the backend's close in a sentence and as an event.
func closeWords(subkind string) (noun, event string) {
	switch backend.CloseStyle(subkind) {
	case backend.CloseFIN, backend.CloseRST:
		s := strings.ToUpper(subkind)
		return s, "backend sends " + s + " (keep-alive fired)"
	case backend.CloseLinger:
		return "lingering close (FIN)", "backend lingering close: FIN (keep-alive fired)"
	case backend.StyleTrap:
		return "keep-alive expiry (race trap armed)", "backend keep-alive expired: trap armed"
	}
	return "close", "backend closed"
}

// errRead is what the gateway read instead of a response.
func errRead(err string) string {
	switch {
	case strings.Contains(err, "reset"):
		return "RST"
	case strings.Contains(err, "EOF"):
		return "EOF"
	case err == "":
		return "EOF/RST"
	}
	return "an error"
}
