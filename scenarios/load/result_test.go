package load

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestResultJSON(t *testing.T) {
	full := &Result{
		Requests:     7,
		Status:       map[int]int{200: 4, 502: 1},
		ClientErrors: map[string]int{KindEOF: 2},
		Succeeded:    4,
		ErrorSet:     []ErrorCount{{Kind: KindEOF, Message: "EOF", Count: 2}},
		Late:         3,
		LatencyMin:   time.Millisecond,
		LatencyMean:  40 * time.Millisecond,
		LatencyP50:   1500 * time.Microsecond,
		LatencyP95:   5 * time.Millisecond,
		LatencyP90:   2 * time.Millisecond,
		LatencyP99:   10 * time.Millisecond,
		LatencyMax:   250 * time.Millisecond,
		First502:     1500 * time.Millisecond,
		Elapsed:      3 * time.Second,
		Errors:       []RequestError{{At: time.Second, Kind: KindEOF, Method: "GET", Err: "EOF"}},
		Gaps502:      []time.Duration{5 * time.Second},
	}
	th, err := ParseThresholds("502>0")
	if err != nil {
		t.Fatal(err)
	}
	full.CheckThresholds(th)
	empty := &Result{First502: -1}
	tests := []struct {
		name string
		res  *Result
		want string
	}{
		{"full", full, `{"schema_version":1,"requests":7,"requests_per_second":2.3333333333333335,"success_ratio":0.5714285714285714,` +
			`"status":{"200":4,"502":1},"client_errors":{"eof":2},"errors":[{"kind":"eof","message":"EOF","count":2}],"started_late":3,` +
			`"latency":{"min_ms":1,"mean_ms":40,"p50_ms":1.5,"p90_ms":2,"p95_ms":5,"p99_ms":10,"max_ms":250},"first_502_seconds":1.5,"elapsed_seconds":3,` +
			`"fail_on":[{"expression":"502\u003e0","value":1,"unit":"count","crossed":true}]}`},
		{"no 502, nil maps", empty, `{"schema_version":1,"requests":0,"requests_per_second":0,"success_ratio":0,"status":{},"client_errors":{},"errors":[],"started_late":0,` +
			`"latency":{"min_ms":0,"mean_ms":0,"p50_ms":0,"p90_ms":0,"p95_ms":0,"p99_ms":0,"max_ms":0},"first_502_seconds":null,"elapsed_seconds":0,"fail_on":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.res)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("JSON\n got %s\nwant %s", got, tt.want)
			}
		})
	}

	// A real run's Result has the same shape.
	res, err := Run(context.Background(), Config{Target: "http://gwsim.invalid/", Requests: 8}, &fakeRT{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"client_errors", "elapsed_seconds", "errors", "fail_on", "first_502_seconds", "latency", "requests", "requests_per_second",
		"schema_version", "started_late", "status", "success_ratio"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	if string(m["first_502_seconds"]) != "null" || !strings.Contains(string(m["status"]), `"200":2`) {
		t.Errorf("JSON %s", b)
	}
}

func TestMetrics(t *testing.T) {
	if NewMetrics(nil) != nil {
		t.Error("NewMetrics(nil) != nil")
	}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	cfg := Config{Target: "http://gwsim.invalid/", Requests: 12}
	if _, err := Run(context.Background(), cfg, &fakeRT{}, m); err != nil {
		t.Fatal(err)
	}
	// A second NewMetrics on the same registry reuses the collectors.
	m2 := NewMetrics(reg)
	if _, err := Run(context.Background(), cfg, &fakeRT{}, m2); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{`requests_total{code="200"}`, m.requests.WithLabelValues("200"), 6},
		{`client_errors_total{kind="eof"}`, m.errors.WithLabelValues(KindEOF), 12},
		{`client_errors_total{kind="reset"}`, m.errors.WithLabelValues(KindReset), 6},
		{`client_errors_total{kind="timeout"}`, m.errors.WithLabelValues(KindTimeout), 0},
	}
	for _, tt := range tests {
		if got := testutil.ToFloat64(tt.c); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
		if mf.GetName() == "gwsim_load_request_duration_seconds" {
			if n := mf.GetMetric()[0].GetHistogram().GetSampleCount(); n != 6 {
				t.Errorf("histogram count = %d, want 6", n)
			}
		}
	}
	want := []string{"gwsim_load_client_errors_total", "gwsim_load_request_duration_seconds", "gwsim_load_requests_total"}
	if !slices.Equal(names, want) {
		t.Errorf("metric families %v, want %v", names, want)
	}
}
