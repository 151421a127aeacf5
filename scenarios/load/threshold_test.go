package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestThresholds(t *testing.T) {
	r := &Result{
		Requests: 200, Succeeded: 190, Elapsed: 4 * time.Second,
		Status:       map[int]int{200: 190, 502: 6, 504: 2},
		ClientErrors: map[string]int{KindReset: 2},
		LatencyMin:   time.Millisecond, LatencyMean: 20 * time.Millisecond, LatencyP50: 10 * time.Millisecond,
		LatencyP90: 100 * time.Millisecond, LatencyP95: 600 * time.Millisecond, LatencyP99: time.Second, LatencyMax: 2 * time.Second,
	}
	for _, tc := range []struct {
		expr    string
		value   float64
		unit    string
		crossed bool
	}{
		{"502>0", 6, "count", true},
		{" 502 > 6 ", 6, "count", false},
		{"502>=6", 6, "count", true},
		{"5xx==8", 8, "count", true},
		{"5xx>=4%", 4, "percent", true},
		{"5XX<4.5%", 4, "percent", true},
		{"4xx!=0", 0, "count", false},
		{"errors>0", 2, "count", true},
		{"reset>1%", 1, "percent", false},
		{"refused>0", 0, "count", false},
		{"success<0.99", 0.95, "ratio", true},
		{"success<95%", 95, "percent", false},
		{"requests<100", 200, "count", false},
		{"rps<60", 50, "per_second", true},
		{"p95>500ms", 600, "ms", true},
		{"p99<=1s", 1000, "ms", true},
		{"max>2s", 2000, "ms", false},
		{"mean>10ms", 20, "ms", true},
		{"min<1ms", 1, "ms", false},
		{"p50>5ms", 10, "ms", true},
		{"p90>1s", 100, "ms", false},
	} {
		th, err := ParseThreshold(tc.expr)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		got := th.Eval(r)
		if got.Value != tc.value || got.Unit != tc.unit || got.Crossed != tc.crossed || got.Expr != strings.TrimSpace(tc.expr) {
			t.Errorf("%q: %+v, want value %v %s crossed %v", tc.expr, got, tc.value, tc.unit, tc.crossed)
		}
	}
	ts, err := ParseThresholds("502>0, success<0.99,,p95>1s")
	if err != nil || len(ts) != 3 {
		t.Fatalf("%d thresholds, %v", len(ts), err)
	}
	if !r.CheckThresholds(ts) || len(r.FailOn) != 3 || r.FailOn[2].Crossed {
		t.Errorf("FailOn %+v", r.FailOn)
	}
	if (&Result{}).CheckThresholds(nil) {
		t.Error("no threshold crossed")
	}
}

func TestThresholdErrors(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"", `"": want METRIC OP VALUE`},
		{"502", `"502": want METRIC OP VALUE`},
		{"502=>0", `"502=>0": want METRIC OP VALUE`},
		{"502>", `"502>": want METRIC OP VALUE`},
		{"latency>5ms", `"latency>5ms": unknown metric "latency" (want a status like 502 or 5xx, errors, reset, eof`},
		{"602>0", `unknown metric "602"`},
		{"502>x", `"502>x": 502 wants a count like 0 or a share like 1%, got "x"`},
		{"502>1.5", `502 wants a count`},
		{"502>-1", `502 wants a count`},
		{"502>150%", `502 wants a count like 0 or a share like 1%, got "150%"`},
		{"success<99", `"success<99": success wants a ratio from 0 to 1 (0.99) or a percentage (99%), got "99"`},
		{"p95>500", `"p95>500": p95 wants a duration like 500ms or 1.5s, got "500"`},
		{"p95>-5ms", `p95 wants a duration`},
		{"rps<NaN", `rps wants a number`},
		{"requests<1e400", `requests wants a count`},
	} {
		_, err := ParseThreshold(tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want one line containing %q", tc.expr, err, tc.want)
		}
	}
	if _, err := ParseThresholds("502>0,p95>soon"); err == nil || !strings.Contains(err.Error(), `"p95>soon"`) {
		t.Errorf("list: %v", err)
	}
}

// refusedRT refuses every connection from a new local port, as a dead
// target does.
type refusedRT struct{ n atomic.Int64 }

func (f *refusedRT) RoundTrip(*http.Request) (*http.Response, error) {
	port := 40000 + f.n.Add(1)
	return nil, fmt.Errorf("pool: dial: %w", &net.OpError{Op: "dial", Net: "tcp",
		Source: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port)},
		Addr:   &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
}

// TestErrorSet: client errors are counted by kind and message, each
// connection's local port left out, so that one cause is one line.
func TestErrorSet(t *testing.T) {
	res, err := Run(context.Background(), Config{Target: "http://gwsim.invalid/", Requests: 20}, &refusedRT{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ErrorSet) != 1 || res.ErrorSet[0].Count != 20 || res.ErrorSet[0].Kind != KindRefused ||
		!strings.Contains(res.ErrorSet[0].Message, "127.0.0.1:*->127.0.0.1:1") {
		t.Fatalf("error set %+v", res.ErrorSet)
	}
	if res.SuccessRatio() != 0 || res.Succeeded != 0 {
		t.Errorf("success %v", res.SuccessRatio())
	}
	if m := errorMessage(errors.New("read tcp [::1]:5555->[::1]:80: reset")); m != "read tcp [::1]:*->[::1]:80: reset" {
		t.Errorf("IPv6: %q", m)
	}
}

// TestErrorSetCap: past 100 distinct messages, the rest are counted under
// OtherMessages.
func TestErrorSetCap(t *testing.T) {
	c := newCollector(time.Now(), nil)
	for i := range 150 {
		c.clientError(KindOther, "", "GET", time.Now(), fmt.Errorf("error %d", i))
	}
	c.clientError(KindOther, "", "GET", time.Now(), errors.New("error 3"))
	r := c.result(time.Second)
	if len(r.ErrorSet) != 101 || r.ErrorSet[0].Message != OtherMessages || r.ErrorSet[0].Count != 50 || r.ErrorSet[1].Count != 2 {
		t.Fatalf("%d lines, first %+v %+v", len(r.ErrorSet), r.ErrorSet[0], r.ErrorSet[1])
	}
}

// TestProgress: Config.Progress is called while the run lasts, with the
// requests finished so far, and never after Run returns.
func TestProgress(t *testing.T) {
	var calls atomic.Int64
	var returned atomic.Bool
	var last atomic.Int64
	cfg := Config{Target: "http://gwsim.invalid/", Requests: 1000, Think: time.Millisecond, Progress: func(p Progress) {
		if returned.Load() {
			t.Error("Progress after Run returned")
		}
		if p.Planned != 1000 || int64(p.Requests) < last.Load() {
			t.Errorf("progress %+v", p)
		}
		last.Store(int64(p.Requests))
		calls.Add(1)
	}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for calls.Load() < 2 {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	if _, err := Run(ctx, cfg, &fakeRT{}, nil); err != nil {
		t.Fatal(err)
	}
	returned.Store(true)
	if calls.Load() < 2 {
		t.Errorf("%d progress calls", calls.Load())
	}
}
