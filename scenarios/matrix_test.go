package scenarios

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestBuildMatrix(t *testing.T) {
	cells, err := BuildMatrix(MatrixOptions{AutoSweep: true, Axes: []Axis{
		{Field: "gateway.preset", Values: []string{"appgw-v2", "aws-clb", "appgw-v1"}},
		{Field: "backend.keepalive_timeout", Values: []string{"5s", "120s"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 6 || cells[2].Values[0] != "aws-clb" || cells[2].Values[1] != "5s" {
		t.Fatalf("cells %v", cells)
	}
	if c := cells[2]; c.RaceStatus != 504 || len(c.Runs) != 1 || c.Check.Verdict != Unsafe || c.Predicted == 0 {
		t.Errorf("aws-clb/5s: %+v", c)
	}
	if c := cells[1]; c.Check.Verdict != Safe || c.Predicted != 0 || len(c.Runs) != 2 {
		t.Errorf("appgw-v2/120s: %+v", c)
	}
	if c := cells[4]; len(c.Runs) != 1 || c.Check.Verdict != Unsafe { // V1: no idle timeout, one sweep
		t.Errorf("appgw-v1/5s: %+v", c)
	}
	for _, tc := range []struct {
		axes []Axis
		want string
	}{
		{[]Axis{{Field: "gateway.bogus", Values: []string{"1"}}}, "axis gateway.bogus: not a field"},
		{[]Axis{{Field: "backend.close", Values: []string{"fin", "slam"}}}, `matrix cell backend.close=slam: line 5: backend.close: unknown close style "slam"`},
		{[]Axis{{Field: "backend.keepalive_timeout", Values: []string{"soon"}}}, `backend.keepalive_timeout: bad duration "soon"`},
		{[]Axis{{Field: "gateway.preset", Values: nil}}, "no values"},
	} {
		if _, err := BuildMatrix(MatrixOptions{Axes: tc.axes}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.axes, err, tc.want)
		}
	}
}

func TestSetPath(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("name: x\nbackend: {preset: apache}\n"), &doc); err != nil {
		t.Fatal(err)
	}
	setPath(&doc, "backend.close", "rst")
	setPath(&doc, "link.latency", "1ms")
	setPath(&doc, "name", "y")
	out, _ := yaml.Marshal(&doc)
	s := mustParse(t, string(out)+"load: {requests: 1}\n")
	if s.Name != "y" || s.Backend.Close != "rst" || s.linkLatency().String() != "1ms" || s.Backend.Preset != "apache" {
		t.Fatalf("%s", out)
	}
}

// TestCheckAgreesWithMatrix: the static check's verdict agrees with the
// measured matrix on every cell: unsafe cells race, safe cells never do,
// marginal ones may. The races counted are the gateway's (retried ones
// included), so a retrying gateway counts too.
func TestCheckAgreesWithMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a matrix (~7 s)")
	}
	matrices := [][]Axis{
		{
			{Field: "gateway.preset", Values: []string{"appgw-v2", "aws-clb", "appgw-v1", "traefik"}},
			// 120 s: a safe cell with 60 ms of margin at time scale 0.001.
			// Under the race detector on a loaded machine a gateway
			// goroutine was seen descheduled for ~25 ms between the
			// backend's write and the gateway's idle start, which makes a
			// 15 ms margin race for real.
			{Field: "backend.keepalive_timeout", Values: []string{"5s", "55s", "60s", "61s", "120s"}},
		},
		{
			{Field: "gateway.preset", Values: []string{"appgw-v2", "nginx"}},
			{Field: "backend.preset", Values: []string{"go", "node"}},
		},
	}
	var all []*Cell
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, axes := range matrices {
		cells, err := BuildMatrix(MatrixOptions{Axes: axes, AutoSweep: true})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			RunMatrix(context.Background(), cells, MatrixOptions{})
			mu.Lock()
			all = append(all, cells...)
			mu.Unlock()
		})
	}
	wg.Wait()
	seen := map[Verdict]int{}
	for _, c := range all {
		if c.Err != nil {
			t.Fatalf("%v: %v", c.Values, c.Err)
		}
		seen[c.Check.Verdict]++
		t.Logf("%-22s %-9s %3d races in %3d requests (%d answered %d), model %.1f%%", strings.Join(c.Values, "/"), c.Check.Verdict, c.Races, c.Requests, c.Failed, c.RaceStatus, 100*c.Predicted)
		var disagree string
		switch c.Check.Verdict {
		case Unsafe:
			if c.Races == 0 {
				disagree = fmt.Sprintf("check says unsafe (%s) but no request met the race", c.Check.Rule)
			}
		case Safe:
			if c.Races != 0 {
				disagree = fmt.Sprintf("check says safe (%s) but %d requests met the race", c.Check.Rule, c.Races)
			}
		}
		switch why := undecidableCell(c); {
		case disagree == "":
		case why != "":
			// A cell's race or its absence turns on a few milliseconds:
			// with timers that late it proves nothing either way.
			t.Logf("%v: %s; not decided: %s", c.Values, disagree, why)
		default:
			t.Errorf("%v: %s", c.Values, disagree)
		}
	}
	if seen[Unsafe] == 0 || seen[Safe] == 0 || seen[Marginal] == 0 {
		t.Errorf("verdicts %v: want every kind", seen)
	}
}

// undecidableCell says why the machine's timing could have decided a cell's
// outcome ("" when it could not): a run whose worst lateness reached half
// its timing margin.
func undecidableCell(c *Cell) string {
	for _, r := range c.Results {
		if bad, why := r.Undecidable(r.Timing.Margin); bad {
			return why + " (" + r.Timing.MarginWhat + ")"
		}
	}
	return ""
}
