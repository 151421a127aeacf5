package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/explain"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// t0 anchors every synthetic analysis, so golden files are stable.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

const ms, us = time.Millisecond, time.Microsecond

func configs(a *explain.Analysis) {
	a.Gateway = explain.GatewaySettings{Known: true, Name: "appgw-v2", IdleTimeout: 600 * ms, ClientKeepAlive: 750 * ms, TimeScale: 0.01}
	a.Backend = explain.BackendSettings{Known: true, KeepAlive: 50 * ms}
}

// raceAnalysis: five connections; on conn 1 the backend's FIN leaves 300 µs
// before the gateway writes (a visible 502); on conn 3 a lingering close
// races a write the retry policy hides; conn 4 gets a 500 from the backend
// and stays open; conn 2 is closed by the gateway's idle timeout.
func raceAnalysis() *explain.Analysis {
	a := &explain.Analysis{Start: at(0), End: at(120 * ms),
		Causes:   map[string]int64{proxy.CauseKeepaliveRace: 1},
		Subkinds: map[string]int64{"keepalive-race/fin": 1}}
	configs(a)
	ok := func(from, to time.Duration) explain.Span {
		return explain.Span{Start: at(from), End: at(to), Status: 200, Method: "GET"}
	}
	a.Lanes = []explain.Lane{
		{GatewayConn: 1, BackendConn: 1, Local: "127.0.0.1:40001", Remote: "127.0.0.1:8080",
			Opened: at(0), Closed: at(70 * ms), ClosedBy: "backend", CloseStyle: "fin", CloseReason: "idle",
			Exchanges: []explain.Span{ok(200*us, 2*ms), ok(18*ms, 20*ms),
				{Start: at(70*ms + 300*us), End: at(71*ms + 400*us), Method: "GET"}},
			Failures: []explain.Mark{{At: at(71*ms + 400*us), Status: 502, Cause: proxy.CauseKeepaliveRace}}},
		{GatewayConn: 2, BackendConn: 2, Local: "127.0.0.1:40002", Remote: "127.0.0.1:8080",
			Opened: at(5 * ms), Closed: at(90 * ms), ClosedBy: "gateway", CloseReason: proxy.ReasonIdleTimeout,
			Exchanges: []explain.Span{ok(5*ms, 7*ms), ok(30*ms, 33*ms), ok(44*ms, 46*ms)}},
		{GatewayConn: 3, BackendConn: 3, Local: "127.0.0.1:40003", Remote: "127.0.0.1:8080",
			Opened: at(30 * ms), Closed: at(95 * ms), ClosedBy: "backend", CloseStyle: "linger", CloseReason: "idle",
			Exchanges: []explain.Span{ok(30*ms, 32*ms), {Start: at(95*ms + 80*us), End: at(96 * ms), Method: "GET"}},
			Failures:  []explain.Mark{{At: at(96 * ms), Cause: proxy.CauseKeepaliveRace, Retried: true}}},
		{GatewayConn: 4, BackendConn: 4, Local: "127.0.0.1:40004", Remote: "127.0.0.1:8080",
			Opened:    at(40 * ms),
			Exchanges: []explain.Span{ok(40*ms, 42*ms), {Start: at(60 * ms), End: at(63 * ms), Status: 500, Method: "POST"}}},
		{GatewayConn: 5, BackendConn: 5, Local: "127.0.0.1:40005", Remote: "127.0.0.1:8080",
			Opened: at(96 * ms), Closed: at(120 * ms), ClosedBy: "gateway", CloseReason: proxy.ReasonShutdown,
			Exchanges: []explain.Span{ok(96*ms+100*us, 98*ms)}},
	}
	a.Explanations = []explain.Explanation{
		{Cause: proxy.CauseKeepaliveRace, Subkind: "fin", Status: 502, Method: "GET", At: at(71*ms + 500*us),
			GatewayConn: 1, BackendConn: 1, Local: "127.0.0.1:40001", Remote: "127.0.0.1:8080",
			ClosedFirst: "backend", CloseStyle: "fin", CloseAt: at(70 * ms), WriteAt: at(70*ms + 300*us),
			FailAt: at(71*ms + 400*us), Delta: 300 * us, HasDelta: true, Err: "EOF"},
		{Cause: proxy.CauseKeepaliveRace, Subkind: "linger", Method: "GET", At: at(96 * ms), Retried: true,
			GatewayConn: 3, BackendConn: 3, Local: "127.0.0.1:40003", Remote: "127.0.0.1:8080",
			ClosedFirst: "backend", CloseStyle: "linger", CloseAt: at(95 * ms), WriteAt: at(95*ms + 80*us),
			FailAt: at(96 * ms), Delta: 80 * us, HasDelta: true, Err: "read: connection reset by peer"},
	}
	return a
}

// quietAnalysis: three connections, every request answered.
func quietAnalysis() *explain.Analysis {
	a := &explain.Analysis{Start: at(0), End: at(3 * time.Second), Causes: map[string]int64{}, Subkinds: map[string]int64{}}
	configs(a)
	for i := range 3 {
		open := time.Duration(i) * 400 * ms
		l := explain.Lane{GatewayConn: uint64(i + 1), BackendConn: uint64(i + 1),
			Local: fmt.Sprintf("127.0.0.1:%d", 41000+i), Remote: "127.0.0.1:8080",
			Opened: at(open), Closed: at(open + 2*time.Second), ClosedBy: "gateway", CloseReason: proxy.ReasonIdleTimeout}
		for j := range 8 {
			s := open + time.Duration(j)*150*ms
			l.Exchanges = append(l.Exchanges, explain.Span{Start: at(s), End: at(s + 20*ms), Status: 200, Method: "GET"})
		}
		a.Lanes = append(a.Lanes, l)
	}
	return a
}

// manyAnalysis: n connections of 20 exchanges each, opened 10 ms apart;
// every failEvery-th one ends in a keep-alive race (every third of those
// hidden by a retry), the others are closed by the backend's FIN.
func manyAnalysis(n, failEvery int) *explain.Analysis {
	a := &explain.Analysis{Start: at(0), Causes: map[string]int64{}, Subkinds: map[string]int64{}}
	configs(a)
	for i := range n {
		open := time.Duration(i) * 10 * ms
		l := explain.Lane{GatewayConn: uint64(i + 1), BackendConn: uint64(i + 1),
			Local: fmt.Sprintf("10.0.0.1:%d", 30000+i), Remote: "10.0.0.2:8080", Opened: at(open)}
		end := open
		for j := range 20 {
			s := open + time.Duration(j)*7*ms
			end = s + 2*ms
			l.Exchanges = append(l.Exchanges, explain.Span{Start: at(s), End: at(end), Status: 200, Method: "GET"})
		}
		closeAt := end + 50*ms
		l.Closed, l.ClosedBy, l.CloseStyle, l.CloseReason = at(closeAt), "backend", "fin", "idle"
		if i%failEvery == failEvery-1 {
			write := closeAt + time.Duration(100+i)*us
			fail := write + 900*us
			retried := (i/failEvery)%3 == 2
			status := 502
			if retried {
				status = 0
			}
			l.Exchanges = append(l.Exchanges, explain.Span{Start: at(write), End: at(fail), Method: "GET"})
			l.Failures = append(l.Failures, explain.Mark{At: at(fail), Status: status, Cause: proxy.CauseKeepaliveRace, Retried: retried})
			a.Explanations = append(a.Explanations, explain.Explanation{Cause: proxy.CauseKeepaliveRace, Subkind: "fin",
				Status: status, Retried: retried, At: at(fail), GatewayConn: l.GatewayConn, BackendConn: l.BackendConn,
				Local: l.Local, Remote: l.Remote, CloseAt: at(closeAt), WriteAt: at(write), FailAt: at(fail),
				Delta: write - closeAt, HasDelta: true, Err: "EOF"})
			if !retried {
				a.Causes[proxy.CauseKeepaliveRace]++
				a.Subkinds["keepalive-race/fin"]++
			}
			closeAt = fail
		}
		if t := at(closeAt); t.After(a.End) {
			a.End = t
		}
		a.Lanes = append(a.Lanes, l)
	}
	// Visible failures first, as Analyze orders them.
	var vis, hid []explain.Explanation
	for _, x := range a.Explanations {
		if x.Retried {
			hid = append(hid, x)
		} else {
			vis = append(vis, x)
		}
	}
	a.Explanations = append(vis, hid...)
	return a
}

// svgDoc is what the tests read back from a timeline.
type svgDoc struct {
	width, height float64
	ids           map[string]bool
	lanes, folds  int
	title         string
	text          string // all character data
}

// parseSVG proves the output is well-formed XML and collects facts on it.
func parseSVG(t *testing.T, b []byte) svgDoc {
	t.Helper()
	d := svgDoc{ids: map[string]bool{}}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var text strings.Builder
	var stack []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			stack = append(stack, el.Name.Local)
			for _, at := range el.Attr {
				switch {
				case len(stack) == 1 && at.Name.Local == "width":
					d.width, _ = strconv.ParseFloat(at.Value, 64)
				case len(stack) == 1 && at.Name.Local == "height":
					d.height, _ = strconv.ParseFloat(at.Value, 64)
				case at.Name.Local == "id":
					d.ids[at.Value] = true
				case at.Name.Local == "class" && at.Value == "lane":
					d.lanes++
				case at.Name.Local == "class" && at.Value == "lane-fold":
					d.folds++
				}
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 2 && stack[1] == "title" {
				d.title = string(el)
			}
			text.Write(el)
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements: %v", stack)
	}
	if d.width <= 0 || d.height <= 0 {
		t.Fatalf("root svg has no size: %gx%g", d.width, d.height)
	}
	d.text = text.String()
	return d
}

func render(t *testing.T, title string, a *explain.Analysis) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Timeline(&b, title, a); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestTimelineGolden(t *testing.T) {
	tests := []struct {
		golden string
		title  string
		a      *explain.Analysis
		check  func(t *testing.T, d svgDoc, size int)
	}{
		{"race.svg", "appgw-v2 vs backend keep-alive 5 s", raceAnalysis(), func(t *testing.T, d svgDoc, _ int) {
			if !d.ids["race-inset"] {
				t.Error("no race-inset")
			}
			if d.lanes != 5 || d.folds != 0 {
				t.Errorf("lanes %d folds %d, want 5 and 0", d.lanes, d.folds)
			}
			for _, want := range []string{
				"5 connections · 1 × 502 · 1 hidden by retry — causes: keepalive-race/fin 1",
				"request written 300 µs after the backend's FIN",
				"Δ +300 µs", "backend FIN", "gateway idle-timeout", "backend linger", "retried",
				"backend keep-alive 50 ms (5 s real)", "gateway appgw-v2 idle timeout 600 ms (60 s real)",
			} {
				if !strings.Contains(d.text, want) {
					t.Errorf("text lacks %q", want)
				}
			}
		}},
		{"no-failures.svg", "appgw-v2 vs backend keep-alive 120 s", quietAnalysis(), func(t *testing.T, d svgDoc, _ int) {
			if d.ids["race-inset"] {
				t.Error("race-inset drawn without a race")
			}
			if !strings.Contains(d.text, "3 connections · no failures") {
				t.Errorf("summary missing in %q", d.text)
			}
		}},
		{"many-lanes.svg", "200 connections", manyAnalysis(200, 4), func(t *testing.T, d svgDoc, size int) {
			if !d.ids["race-inset"] {
				t.Error("no race-inset")
			}
			if d.lanes+d.folds > tlMaxRows {
				t.Errorf("%d lanes + %d folded rows drawn, want at most %d", d.lanes, d.folds, tlMaxRows)
			}
			if d.lanes != tlMaxRows-1 || d.folds != 1 {
				t.Errorf("%d lanes and %d folded rows, want %d and 1", d.lanes, d.folds, tlMaxRows-1)
			}
			if d.height > 1400 {
				t.Errorf("height %g px, want ≤ 1400", d.height)
			}
			if size > 150<<10 {
				t.Errorf("size %d bytes, want ≤ 150 KiB", size)
			}
			for _, want := range []string{"200 connections · 34 × 502 · 16 hidden by retry", "+161 overlaid", "8 × 502 · 3 retried", "161 more connections (11 with failures), drawn overlaid"} {
				if !strings.Contains(d.text, want) {
					t.Errorf("text lacks %q", want)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got := render(t, tt.title, tt.a)
			d := parseSVG(t, got)
			if d.title != tt.title {
				t.Errorf("title %q, want %q", d.title, tt.title)
			}
			tt.check(t, d, len(got))
			if again := render(t, tt.title, tt.a); !bytes.Equal(got, again) {
				t.Error("two renderings differ")
			}
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./scenarios/report -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file; inspect, then run go test ./scenarios/report -update", path)
			}
		})
	}
}

// TestTimelineManyLanes bounds the picture however many connections and
// requests a run had.
func TestTimelineManyLanes(t *testing.T) {
	tests := []struct {
		name       string
		lanes      int
		failEvery  int
		lanesDrawn int
		folds      int
	}{
		{"200 quiet but 5", 200, 40, tlMaxRows - 1, 1},
		{"200 half failing", 200, 2, tlMaxRows - 1, 1},
		{"2000 every 10th failing", 2000, 10, tlMaxRows - 1, 1},
		{"exactly the cap", tlMaxRows, 3, tlMaxRows, 0},
		{"one over the cap", tlMaxRows + 1, 1000, tlMaxRows - 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := manyAnalysis(tt.lanes, tt.failEvery)
			b := render(t, "many", a)
			d := parseSVG(t, b)
			if d.lanes != tt.lanesDrawn || d.folds != tt.folds {
				t.Errorf("drawn %d lanes and %d folded rows, want %d and %d", d.lanes, d.folds, tt.lanesDrawn, tt.folds)
			}
			if d.height > 1400 || len(b) > 200<<10 {
				t.Errorf("height %g px, %d bytes; want ≤ 1400 px, ≤ 200 KiB", d.height, len(b))
			}
		})
	}
}

func TestTimelineEscapesAndEdges(t *testing.T) {
	a := raceAnalysis()
	a.Lanes[0].Local = `<evil & "quoted" 'addr'>:1`
	a.Explanations[0].Local = a.Lanes[0].Local
	a.Lanes[1].CloseReason = "a<b>&c"
	tests := []struct {
		name, title string
		a           *explain.Analysis
	}{
		{"markup in title and fields", `<script>alert("x")</script> & 'more'`, a},
		{"nil analysis", "nil", nil},
		{"empty analysis", "empty", &explain.Analysis{}},
		{"lane without times", "odd", &explain.Analysis{Lanes: []explain.Lane{{GatewayConn: 1}}}},
		{"race without lane", "race", &explain.Analysis{Start: at(0), End: at(ms), Explanations: []explain.Explanation{{
			Cause: proxy.CauseKeepaliveRace, Status: 502, GatewayConn: 9, CloseAt: at(100 * us), WriteAt: at(50 * us), FailAt: at(900 * us),
			Delta: -50 * us, HasDelta: true}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := parseSVG(t, render(t, tt.title, tt.a))
			if d.title != tt.title {
				t.Errorf("title %q, want %q", d.title, tt.title)
			}
		})
	}
	d := parseSVG(t, render(t, "x", tests[4].a))
	if !strings.Contains(d.text, "request written 50 µs before the backend's close") {
		t.Errorf("negative Δ not told: %q", d.text)
	}
}

func TestNiceStep(t *testing.T) {
	tests := []struct {
		span time.Duration
		n    int
		want time.Duration
	}{
		{0, 10, 1},
		{time.Second, 10, 100 * ms},
		{2704 * ms, 10, 500 * ms},
		{120 * ms, 10, 20 * ms},
		{1500 * us, 10, 200 * us},
		{7, 10, 1},
	}
	for _, tt := range tests {
		if got := niceStep(tt.span, tt.n); got != tt.want {
			t.Errorf("niceStep(%v, %d) = %v, want %v", tt.span, tt.n, got, tt.want)
		}
	}
}

func TestMerge(t *testing.T) {
	got := merge([]interval{{10, 10.1}, {30, 40}, {0, 5}, {5.3, 6}, {39, 50}}, 2)
	want := []interval{{0, 7.3}, {10, 12}, {30, 50}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("merge = %v, want %v", got, want)
	}
}
