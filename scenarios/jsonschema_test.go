package scenarios

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/explain"
)

// schemaFile is the JSON Schema of scenario files, for editors.
const schemaFile = "../docs/scenario.schema.json"

// jsonSchema is the part of JSON Schema (draft 2020-12) that
// docs/scenario.schema.json uses; checkNode validates a YAML node against
// it, structurally: keys, types, enums, patterns and bounds.
type jsonSchema struct {
	Ref                  string                 `json:"$ref"`
	Type                 string                 `json:"type"`
	Properties           map[string]*jsonSchema `json:"properties"`
	PatternProperties    map[string]*jsonSchema `json:"patternProperties"`
	AdditionalProperties json.RawMessage        `json:"additionalProperties"`
	PropertyNames        *jsonSchema            `json:"propertyNames"`
	Required             []string               `json:"required"`
	Items                *jsonSchema            `json:"items"`
	Enum                 []any                  `json:"enum"`
	Const                any                    `json:"const"`
	Pattern              string                 `json:"pattern"`
	Minimum              *float64               `json:"minimum"`
	Maximum              *float64               `json:"maximum"`
	ExclusiveMinimum     *float64               `json:"exclusiveMinimum"`
	MinLength            int                    `json:"minLength"`
	AnyOf                []*jsonSchema          `json:"anyOf"`
	Defs                 map[string]*jsonSchema `json:"$defs"`
	Schema               string                 `json:"$schema"`
}

func loadJSONSchema(t *testing.T) *jsonSchema {
	t.Helper()
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var s jsonSchema
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	if s.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatalf("%s: $schema %q", schemaFile, s.Schema)
	}
	return &s
}

// resolve follows a "#/$defs/x" reference.
func (root *jsonSchema) resolve(s *jsonSchema) *jsonSchema {
	for s != nil && s.Ref != "" {
		s = root.Defs[strings.TrimPrefix(s.Ref, "#/$defs/")]
	}
	return s
}

// scalar is a YAML scalar as JSON would have it: string, int64, float64,
// bool or nil.
func scalar(n *yaml.Node) any {
	switch n.Tag {
	case "!!int":
		if v, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return v
		}
	case "!!float":
		var f float64
		if n.Decode(&f) == nil {
			return f
		}
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return b
		}
	case "!!null":
		return nil
	}
	return n.Value
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func equalJSON(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	return a == b
}

// checkNode validates n against s; it returns the first problem, naming
// the path.
func (root *jsonSchema) checkNode(n *yaml.Node, s *jsonSchema, path string) error {
	s = root.resolve(s)
	if s == nil {
		return fmt.Errorf("%s: no schema", path)
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if len(s.AnyOf) > 0 {
		var errs []string
		for _, alt := range s.AnyOf {
			err := root.checkNode(n, alt, path)
			if err == nil {
				return nil
			}
			errs = append(errs, err.Error())
		}
		return fmt.Errorf("none of anyOf: %s", strings.Join(errs, " | "))
	}
	switch s.Type {
	case "object":
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: want an object", path)
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, v := n.Content[i].Value, n.Content[i+1]
			seen[key] = true
			child := strings.TrimPrefix(path+"."+key, ".")
			if s.PropertyNames != nil {
				if err := root.checkNode(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, s.PropertyNames, child+" (key)"); err != nil {
					return err
				}
			}
			sub, ok := s.Properties[key]
			for p, ps := range s.PatternProperties {
				if !ok && regexp.MustCompile(p).MatchString(key) {
					sub, ok = ps, true
				}
			}
			if !ok {
				switch ap := string(s.AdditionalProperties); ap {
				case "false":
					return fmt.Errorf("%s: not in the schema", child)
				case "", "true":
					continue
				default:
					sub = &jsonSchema{}
					if err := json.Unmarshal(s.AdditionalProperties, sub); err != nil {
						return err
					}
				}
			}
			if err := root.checkNode(v, sub, child); err != nil {
				return err
			}
		}
		for _, r := range s.Required {
			if !seen[r] {
				return fmt.Errorf("%s: %s is required", path, r)
			}
		}
		return nil
	case "array":
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("%s: want an array", path)
		}
		for i, c := range n.Content {
			if err := root.checkNode(c, s.Items, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s: want a scalar", path)
	}
	v := scalar(n)
	switch s.Type {
	case "string":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: want a string, got %v", path, v)
		}
	case "integer":
		if _, ok := v.(int64); !ok {
			return fmt.Errorf("%s: want an integer, got %v", path, v)
		}
	case "number":
		if _, ok := number(v); !ok {
			return fmt.Errorf("%s: want a number, got %v", path, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want a boolean, got %v", path, v)
		}
	}
	if s.Enum != nil && !slices.ContainsFunc(s.Enum, func(e any) bool { return equalJSON(e, v) }) {
		return fmt.Errorf("%s: %v is not one of %v", path, v, s.Enum)
	}
	if s.Const != nil && !equalJSON(s.Const, v) {
		return fmt.Errorf("%s: want %v, got %v", path, s.Const, v)
	}
	if str, ok := v.(string); ok {
		if s.Pattern != "" && !regexp.MustCompile(s.Pattern).MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s", path, str, s.Pattern)
		}
		if len(str) < s.MinLength {
			return fmt.Errorf("%s: shorter than %d", path, s.MinLength)
		}
	}
	if f, ok := number(v); ok {
		if (s.Minimum != nil && f < *s.Minimum) || (s.Maximum != nil && f > *s.Maximum) || (s.ExclusiveMinimum != nil && f <= *s.ExclusiveMinimum) || math.IsNaN(f) {
			return fmt.Errorf("%s: %v is out of bounds", path, f)
		}
	}
	return nil
}

// TestJSONSchemaValidatesScenarios: every built-in scenario and the CI
// examples validate against docs/scenario.schema.json, as a file every
// section of the schema sets does.
func TestJSONSchemaValidatesScenarios(t *testing.T) {
	root := loadJSONSchema(t)
	files, _ := filepath.Glob("builtin/*.yaml")
	ci, _ := filepath.Glob("testdata/ci-example/*.yaml")
	files = append(files, ci...)
	if len(files) < 10 {
		t.Fatalf("%d files", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var n yaml.Node
		if err := yaml.Unmarshal(data, &n); err != nil {
			t.Fatal(err)
		}
		if err := root.checkNode(&n, root, ""); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(allKeys), &n); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("all-keys.yaml", []byte(allKeys)); err != nil {
		t.Fatalf("gwsim refuses the all-keys file: %v", err)
	}
	if err := root.checkNode(&n, root, ""); err != nil {
		t.Errorf("all keys: %v", err)
	}
}

// allKeys sets nearly every key of the schema (real actors aside).
const allKeys = `name: all-keys
description: every key
why: because
time_scale: 0.01
gateway:
  preset: envoy
  backend_idle_timeout: 30s
  client_keepalive_timeout: 10s
  request_timeout: 5s
  client_request_timeout: 0
  retry: idempotent
  pool_order: fifo
  members: 2
  race_status: 599
  timeout_status: 598
  timeout_tries_other_member: true
  reuse: safe
  silent_close_on_later_request: true
backend:
  preset: node
  keepalive_timeout: 7s
  tick: 1s
  advertise: asked
  advertised_keepalive: 5s
  max_keepalive_requests: 9
  close: rst
  race_trap: true
  delay: 1ms
  status: 201
  response_size: 10
  faults: [{kind: reset, start: 1s, duration: 2s}]
link: {latency: 1ms, jitter: 0s}
client:
  idle_timeout: 20s
  latency: 2ms
  methods: {GET: 3, POST: 1}
load:
  pattern: closed
  connections: 3
  think: 1s
  requests: 30
  seed: 4
  body_size: 5
expect:
  502: 0
  5xx: "<=1"
  502_rate: "<0.1%"
  keepalive-race: 0
  causes: {backend-timeout: 0}
  only_causes: [keepalive-race, backend-timeout]
  client_errors: {reset: 0, eof: "<2"}
  status_by_method: {GET: {"502": 0}}
  retries: "<=3"
`

// TestJSONSchemaRefuses: the check is not vacuous: what gwsim refuses for
// its keys or types, the schema refuses too.
func TestJSONSchemaRefuses(t *testing.T) {
	root := loadJSONSchema(t)
	for _, doc := range []string{
		"description: no name\n",
		"name: x\nload: {requests: 1}\ngateway: {idle: 5s}\n",
		"name: x\ngateway: {preset: appgw-v9}\n",
		"name: x\nbackend: {keepalive_timeout: 5}\n",
		"name: x\nbackend: {keepalive_timeout: soon}\n",
		"name: x\ntime_scale: 2\n",
		"name: x\ntime_scale: fast\n",
		"name: x\nload: {pattern: burst}\n",
		"name: x\nload: {requests: many}\n",
		"name: x\nexpect: {502: \">zero\"}\n",
		"name: x\nexpect: {602: 0}\n",
		"name: x\nexpect: {causes: {gremlins: 0}}\n",
		"name: x\nexpect: {client_errors: {slow: 0}}\n",
		"name: x\nbackend: {faults: [{kind: hang}]}\n",
		"name: x\nbackend: {race_trap: yes please}\n",
		"name: x\nclient: {methods: {PUT: 1}}\n",
	} {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
			t.Fatal(err)
		}
		if err := root.checkNode(&n, root, ""); err == nil {
			t.Errorf("the schema accepts %q", doc)
		}
		if _, err := Parse("x.yaml", []byte(doc)); err == nil {
			t.Errorf("gwsim accepts %q", doc)
		}
	}
}

// yamlKeys are the keys of a schema struct, from its yaml tags.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		if tag := strings.Split(f.Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	sort.Strings(keys)
	return keys
}

func schemaKeys(s *jsonSchema) []string {
	var keys []string
	for k := range s.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestJSONSchemaHasEveryKey: every key the Go schema accepts is in the
// JSON schema, and no other; the enums are the Go names.
func TestJSONSchemaHasEveryKey(t *testing.T) {
	root := loadJSONSchema(t)
	sections := []struct {
		path string
		typ  reflect.Type
		s    *jsonSchema
	}{
		{"the top level", reflect.TypeFor[Scenario](), root},
		{"gateway", reflect.TypeFor[Gateway](), root.resolve(root.Properties["gateway"])},
		{"backend", reflect.TypeFor[Backend](), root.resolve(root.Properties["backend"])},
		{"backend.faults", reflect.TypeFor[Fault](), root.resolve(root.resolve(root.resolve(root.Properties["backend"]).Properties["faults"]).Items)},
		{"link", reflect.TypeFor[Link](), root.resolve(root.Properties["link"])},
		{"client", reflect.TypeFor[Client](), root.resolve(root.Properties["client"])},
		{"load", reflect.TypeFor[Load](), root.resolve(root.Properties["load"])},
	}
	for _, sec := range sections {
		if sec.s == nil {
			t.Errorf("%s: not in %s", sec.path, schemaFile)
			continue
		}
		if got, want := schemaKeys(sec.s), yamlKeys(sec.typ); !slices.Equal(got, want) {
			t.Errorf("%s: %s has keys\n %v\nthe Go schema (scenarios/scenario.go)\n %v", sec.path, schemaFile, got, want)
		}
	}
	// expect is read key by key (Expect.UnmarshalYAML): its fixed keys,
	// every cause, and status and rate patterns.
	causes := append(slices.Clone(proxy.Causes), explain.Causes...)
	want := append([]string{"causes", "client_errors", "first_502_within", "only_causes", "retries", "status", "status_by_method"}, causes...)
	sort.Strings(want)
	expect := root.resolve(root.Properties["expect"])
	if got := schemaKeys(expect); !slices.Equal(got, want) {
		t.Errorf("expect: %s has keys\n %v\nwant\n %v", schemaFile, got, want)
	}
	for _, key := range []string{"502", "5xx", "502_rate", "2xx_rate"} {
		if err := root.checkNode(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: "!!int", Value: key}, {Kind: yaml.ScalarNode, Tag: "!!int", Value: "0"}}}, expect, "expect"); err != nil {
			t.Errorf("expect key %s: %v", key, err)
		}
		if !statusKey.MatchString(key) && !rateKey.MatchString(key) {
			t.Errorf("Go refuses expect key %s", key)
		}
	}
	enums := []struct {
		what string
		s    *jsonSchema
		want []string
	}{
		{"gateway.preset", root.resolve(root.Properties["gateway"]).Properties["preset"], proxy.ProfileNames()},
		{"gateway.profile", root.resolve(root.Properties["gateway"]).Properties["profile"], proxy.ProfileNames()},
		{"backend.preset", root.resolve(root.Properties["backend"]).Properties["preset"], backend.PresetNames()},
		{"expect.only_causes", expect.Properties["only_causes"].Items, causes},
		{"expect.causes", expect.Properties["causes"].PropertyNames, causes},
	}
	for _, e := range enums {
		var got []string
		for _, v := range e.s.Enum {
			got = append(got, fmt.Sprint(v))
		}
		if !slices.Equal(got, e.want) {
			t.Errorf("%s: %s lists\n %v\nGo accepts\n %v", e.what, schemaFile, got, e.want)
		}
	}
}
