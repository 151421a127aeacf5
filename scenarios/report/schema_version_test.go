package report

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios"
	"github.com/gwsim/gwsim/scenarios/explain"
)

// nullValue finds a key whose value is null where a list or an object
// belongs: every JSON document writes [] and {} for empty ones.
var nullValue = regexp.MustCompile(`"([a-z0-9_]+)": null`)

// nullable are the keys whose null means something (documented beside
// them): no limit, outside the model, none seen.
var nullable = map[string]bool{"backend_keepalive_seconds_real": true, "gateway_idle_seconds_real": true,
	"first_502_seconds_scaled": true, "predicted_rate": true, "delta_seconds": true}

// TestSchemaVersion: every JSON document starts with "schema_version": 1,
// and holds no null list or map, even when empty.
func TestSchemaVersion(t *testing.T) {
	s, err := scenarios.Lookup("appgw-v2-apache-default")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := proxy.LookupProfile("appgw-v2")
	bare := &scenarios.Result{Scenario: s, Pass: true, Outcome: scenarios.OutcomePass, Profile: p.Scaled(0.01), TimeScale: 0.01,
		Requests: 3, Status: map[int]int64{200: 3}, Wall: time.Second, First502: -1}
	docs := map[string]func(*bytes.Buffer) error{
		"run":              func(b *bytes.Buffer) error { return JSON(b, []*scenarios.Result{bare}) },
		"run, none":        func(b *bytes.Buffer) error { return JSON(b, nil) },
		"explain":          func(b *bytes.Buffer) error { return ExplainJSON(b, []string{"x"}, []*explain.Analysis{{}}) },
		"explain, none":    func(b *bytes.Buffer) error { return ExplainJSON(b, nil, nil) },
		"matrix, no cells": func(b *bytes.Buffer) error { return MatrixJSON(b, nil, nil) },
	}
	for name, write := range docs {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := write(&b); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if !strings.HasPrefix(out, "{\n  \"schema_version\": 1,\n") {
				t.Errorf("schema_version is not the first key:\n%s", out)
			}
			var v map[string]any
			if err := json.Unmarshal(b.Bytes(), &v); err != nil {
				t.Fatal(err)
			}
			for _, m := range nullValue.FindAllStringSubmatch(out, -1) {
				if !nullable[m[1]] {
					t.Errorf("%q is null:\n%s", m[1], out)
				}
			}
		})
	}
}

// TestRunJSONKeysSayTheirWorld: where real-world and scaled seconds sit in
// one scenario object, each key says which it is.
func TestRunJSONKeysSayTheirWorld(t *testing.T) {
	s, err := scenarios.Lookup("appgw-v2-apache-default")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := proxy.LookupProfile("appgw-v2")
	r := &scenarios.Result{Scenario: s, Profile: p.Scaled(0.01), TimeScale: 0.01, Status: map[int]int64{502: 1},
		Requests: 1, Wall: time.Second, First502: 300 * time.Millisecond,
		Timing: scenarios.Timing{BackendClose: 51 * time.Millisecond, BackendKeepAlive: 50 * time.Millisecond}}
	r.Backend.KeepAliveTimeout = 50 * time.Millisecond
	var b bytes.Buffer
	if err := JSON(&b, []*scenarios.Result{r}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Scenarios []map[string]json.RawMessage `json:"scenarios"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	sc := doc.Scenarios[0]
	for key, want := range map[string]string{"backend_keepalive_seconds_real": "5", "gateway_idle_seconds_real": "60", "first_502_seconds_scaled": "0.3", "failures": "[]"} {
		if got := string(sc[key]); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	var timing map[string]any
	if err := json.Unmarshal(sc["timing"], &timing); err != nil {
		t.Fatal(err)
	}
	if timing["backend_close_seconds_scaled"] != 0.051 || timing["backend_keepalive_seconds_scaled"] != 0.05 || timing["backend_keepalive_seconds"] != nil {
		t.Errorf("timing %v", timing)
	}
	for _, old := range []string{"backend_keepalive_seconds", "gateway_idle_seconds", "first_502_seconds"} {
		if _, ok := sc[old]; ok {
			t.Errorf("the old key %s is still there", old)
		}
	}
}
