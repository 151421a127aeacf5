package main

// The demo stack (docker-compose.yml, deploy/) cannot drift from the CLI:
// no docker engine runs in CI, so these tests read the files and check them
// against gwsim itself.
//
//   - Every gwsim service's command and healthcheck parses with gwsim's own
//     flag sets: run(args + "--help") must print the usage. pflag parses the
//     arguments in order and returns ErrHelp only when it reaches --help, so
//     an unknown (renamed) flag or a bad value before it still fails with
//     exit 2 (TestComposeHelpSuffixStillParses pins that behaviour).
//   - The values are then checked by running the command with a context
//     that is already cancelled and its listen addresses moved to
//     127.0.0.1:0: the command validates everything (preset, profile,
//     pattern, time scale...) and returns at once; exit 2 is a usage error.
//   - Names and ports agree: the gateway's --backends and the load's
//     --target name services and their --listen ports; healthchecks and
//     Prometheus targets hit the admin or metrics port; the admin API is
//     never published beyond 127.0.0.1; service_healthy dependencies have a
//     healthcheck; bind-mounted files exist.
//   - Every PromQL query of the Grafana dashboard names only metrics that
//     gwsim's components really register.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/load"
)

// exportedMetrics returns the names of every series gwsim's gateway, backend
// and load driver export (with _bucket, _sum and _count for histograms),
// plus the Go and process collectors and Prometheus's own per-target series.
//
// Vectors with no child yet are missing from Gather, so names come from the
// collectors' descriptors, recorded as they register; Gather adds the types
// of what it does show, so only real histograms get the suffixes.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	reg := newRegistry() // the one the commands build, with Go and process collectors
	rec := &describingRegisterer{Registerer: reg, names: map[string]bool{}}
	profile, err := proxy.LookupProfile("appgw-v2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proxy.New(proxy.Config{Profile: profile, Backends: []string{"127.0.0.1:1"}}, nil, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.New(backend.Config{KeepAliveTimeout: 5 * time.Second}, nil, rec); err != nil {
		t.Fatal(err)
	}
	load.NewMetrics(rec)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true,
		"scrape_samples_post_metric_relabeling": true, "scrape_series_added": true}
	for n := range rec.names {
		names[n] = true
	}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		switch mf.GetType().String() {
		case "HISTOGRAM", "GAUGE_HISTOGRAM":
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		case "SUMMARY":
			names[n+"_sum"], names[n+"_count"] = true, true
		}
	}
	return names
}

// describingRegisterer records the metric names of every collector
// registered through it.
type describingRegisterer struct {
	prometheus.Registerer
	names map[string]bool
}

var fqNameRE = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describingRegisterer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := fqNameRE.FindStringSubmatch(desc.String()); m != nil {
			d.names[m[1]] = true
		}
	}
	return d.Registerer.Register(c)
}

func (d *describingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := d.Register(c); err != nil {
			panic(err)
		}
	}
}

// promqlNonMetrics are PromQL words that are not metric names when not
// followed by "(": aggregations written "sum by (x) (...)", binary and
// modifier keywords.
var promqlNonMetrics = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true,
	"limit_ratio": true, "by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
	"group_right": true, "and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true, "start": true, "end": true,
}

// promqlMetrics returns the metric names an expression selects. It is a
// tokenizer, not a parser: it skips strings, label matchers {...}, ranges
// [...], Grafana variables ($x, ${x}), numbers, functions (a word before
// "("), grouping label lists (by/without/on/ignoring/group_left/group_right
// (...)) and keywords; every word left is a metric name.
func promqlMetrics(expr string) ([]string, error) {
	type token struct{ word, punct string }
	var toks []token
	skipUntil := func(i int, closer byte) (int, error) {
		for j := i + 1; j < len(expr); j++ {
			switch c := expr[j]; {
			case c == closer:
				return j + 1, nil
			case c == '"' || c == '\'' || c == '`':
				k := strings.IndexByte(expr[j+1:], c)
				if k < 0 {
					return 0, fmt.Errorf("unterminated string in %q", expr)
				}
				j += k + 1
			}
		}
		return 0, fmt.Errorf("unclosed %q in %q", expr[i], expr)
	}
	isWord := func(c byte, first bool) bool {
		return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') || (!first && c >= '0' && c <= '9')
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '{':
			j, err := skipUntil(i, '}')
			if err != nil {
				return nil, err
			}
			i = j
		case c == '[':
			j, err := skipUntil(i, ']')
			if err != nil {
				return nil, err
			}
			i = j
		case c == '"' || c == '\'' || c == '`':
			k := strings.IndexByte(expr[i+1:], c)
			if k < 0 {
				return nil, fmt.Errorf("unterminated string in %q", expr)
			}
			i += k + 2
		case c == '$':
			i++
			if i < len(expr) && expr[i] == '{' {
				j, err := skipUntil(i, '}')
				if err != nil {
					return nil, err
				}
				i = j
			}
			for i < len(expr) && isWord(expr[i], false) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isWord(expr[i], false) || expr[i] == '.' ||
				((expr[i] == '+' || expr[i] == '-') && (expr[i-1] == 'e' || expr[i-1] == 'E'))) {
				i++
			}
		case isWord(c, true):
			j := i
			for j < len(expr) && isWord(expr[j], false) {
				j++
			}
			toks = append(toks, token{word: expr[i:j]})
			i = j
		default:
			toks = append(toks, token{punct: string(c)})
			i++
		}
	}
	var names []string
	for i := 0; i < len(toks); i++ {
		w := toks[i].word
		if w == "" {
			continue
		}
		next := ""
		if i+1 < len(toks) {
			next = toks[i+1].punct
		}
		switch w {
		case "by", "without", "on", "ignoring", "group_left", "group_right":
			if next == "(" { // a label list, not metrics
				for i += 2; i < len(toks) && toks[i].punct != ")"; i++ {
				}
			}
			continue
		}
		if next == "(" || promqlNonMetrics[w] {
			continue
		}
		names = append(names, w)
	}
	return names, nil
}

func TestPromqlMetrics(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`sum by (cause) (rate(gwsim_proxy_responses_total{code="502",cause=~"a|b"}[$__rate_interval]))`, []string{"gwsim_proxy_responses_total"}},
		{`histogram_quantile(0.99, sum(rate(x_bucket[5m])) by (le))`, []string{"x_bucket"}},
		{`a / on(instance) group_left(le) b > bool 1e-3`, []string{"a", "b"}},
		{`gwsim_backend_keepalive_timeout_seconds / ${time_scale} or vector(0)`, []string{"gwsim_backend_keepalive_timeout_seconds"}},
		{`changes(c[15s] offset 1m) > 0 unless d`, []string{"c", "d"}},
		{`label_replace(e, "x", '"$1"', "y", "(.*)")`, []string{"e"}},
	} {
		got, err := promqlMetrics(tc.expr)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, %v; want %q", tc.expr, got, err, tc.want)
		}
	}
}

// dashboardExprs returns every "expr" in the dashboard JSON (panel targets
// and annotations), keyed by where it is.
func dashboardExprs(v any, where string, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		here := where
		if title, ok := v["title"].(string); ok && title != "" {
			here = where + "/" + title
		} else if name, ok := v["name"].(string); ok && name != "" {
			here = where + "/" + name
		}
		if e, ok := v["expr"].(string); ok {
			if ref, ok := v["refId"].(string); ok {
				here += "/" + ref
			}
			out[here] = e
		}
		for k, c := range v {
			if k != "expr" {
				dashboardExprs(c, here, out)
			}
		}
	case []any:
		for _, c := range v {
			dashboardExprs(c, where, out)
		}
	}
}

func TestDashboardQueriesUseExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy/grafana/dashboards/gwsim.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("gwsim.json: %v", err)
	}
	exprs := map[string]string{}
	dashboardExprs(dash, "", exprs)
	if len(exprs) < 10 {
		t.Fatalf("only %d queries found in the dashboard", len(exprs))
	}
	exported := exportedMetrics(t)
	// The set itself: vectors with no child yet are in (from their
	// descriptors), histogram suffixes only for histograms, typos out.
	for n, want := range map[string]bool{"gwsim_proxy_responses_total": true, "gwsim_proxy_retries_total": true,
		"gwsim_proxy_upstream_idle_before_reuse_seconds_bucket": true, "gwsim_load_request_duration_seconds_count": true,
		"go_goroutines": true, "gwsim_proxy_responses_total_bucket": false, "gwsim_proxy_respones_total": false} {
		if exported[n] != want {
			t.Errorf("exported[%s] = %v, want %v", n, exported[n], want)
		}
	}
	used := map[string]bool{}
	for where, expr := range exprs {
		names, err := promqlMetrics(expr)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s: %q names no metric", where, expr)
		}
		for _, n := range names {
			used[n] = true
			if !exported[n] {
				t.Errorf("%s: %q: gwsim exports no metric %q", where, expr, n)
			}
		}
	}
	// The panels the demo is about.
	for _, n := range []string{"gwsim_proxy_responses_total", "gwsim_proxy_upstream_idle_before_reuse_seconds_bucket",
		"gwsim_proxy_upstream_closes_total", "gwsim_backend_keepalive_timeout_seconds", "gwsim_backend_requests_total",
		"gwsim_backend_config_changes_total", "gwsim_proxy_config_changes_total"} {
		if !used[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
	if t.Failed() {
		var all []string
		for n := range exported {
			if strings.HasPrefix(n, "gwsim_") {
				all = append(all, n)
			}
		}
		sort.Strings(all)
		t.Logf("gwsim exports: %s", strings.Join(all, " "))
	}
}

// TestDeployFilesParse: every file under deploy/ is valid YAML or JSON, the
// dashboard and datasource agree on the datasource uid, the dashboard's
// time_scale constant is the compose file's --time-scale, and Grafana's
// dashboard provider reads the directory the compose file mounts.
func TestDeployFilesParse(t *testing.T) {
	root := filepath.Join(repoRoot, "deploy")
	docs := map[string]any{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var v any
		switch filepath.Ext(path) {
		case ".json":
			err = json.Unmarshal(b, &v)
		case ".yml", ".yaml":
			err = yaml.Unmarshal(b, &v)
		default:
			t.Errorf("%s: unexpected file type (want .yml or .json)", rel)
			return nil
		}
		if err != nil {
			t.Errorf("%s: %v", rel, err)
		}
		if v == nil {
			t.Errorf("%s: empty", rel)
		}
		docs[filepath.ToSlash(rel)] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) < 4 {
		t.Fatalf("only %d files under deploy/", len(docs))
	}

	var ds struct {
		Datasources []struct {
			UID, URL string
		} `yaml:"datasources"`
	}
	var prov struct {
		Providers []struct {
			Options struct{ Path string } `yaml:"options"`
		} `yaml:"providers"`
	}
	var dash struct {
		UID        string `json:"uid"`
		Templating struct {
			List []struct{ Type, Name, Query string } `json:"list"`
		} `json:"templating"`
	}
	decodeInto := func(rel string, v any) {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err == nil {
			if strings.HasSuffix(rel, ".json") {
				err = json.Unmarshal(b, v)
			} else {
				err = yaml.Unmarshal(b, v)
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
	}
	decodeInto("grafana/provisioning/datasources/prometheus.yml", &ds)
	decodeInto("grafana/provisioning/dashboards/gwsim.yml", &prov)
	decodeInto("grafana/dashboards/gwsim.json", &dash)
	if len(ds.Datasources) != 1 || ds.Datasources[0].UID == "" {
		t.Fatalf("datasources: %+v", ds.Datasources)
	}
	uid := ds.Datasources[0].UID
	var refs []string
	collectDatasourceUIDs(docs["grafana/dashboards/gwsim.json"], &refs)
	for _, r := range refs {
		if r != uid && r != "-- Grafana --" {
			t.Errorf("dashboard refers to datasource uid %q; the provisioned one is %q", r, uid)
		}
	}

	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatal(err)
	}
	if u, err := url.Parse(ds.Datasources[0].URL); err != nil || cf.Services[u.Hostname()].Image == "" {
		t.Errorf("datasource URL %q: no service %q in docker-compose.yml", ds.Datasources[0].URL, u.Hostname())
	}
	var mounted []string
	for _, v := range cf.Services["grafana"].Volumes {
		if s, ok := v.(string); ok && strings.HasPrefix(s, "./deploy/grafana/dashboards:") {
			mounted = append(mounted, strings.Split(s, ":")[1])
		}
	}
	if len(prov.Providers) != 1 || !slices.Contains(mounted, prov.Providers[0].Options.Path) {
		t.Errorf("dashboard provider reads %+v; docker-compose.yml mounts deploy/grafana/dashboards at %q", prov.Providers, mounted)
	}
	var scale string
	for _, v := range dash.Templating.List {
		if v.Name == "time_scale" && v.Type == "constant" {
			scale = v.Query
		}
	}
	for name, s := range cf.Services {
		args, _ := stringList(s.Command)
		if v, ok := flagValue(args, "time-scale"); ok && s.isGwsim() && v != scale {
			t.Errorf("service %q runs at --time-scale %s but the dashboard's time_scale constant is %q", name, v, scale)
		}
	}
}

func collectDatasourceUIDs(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		if ds, ok := v["datasource"].(map[string]any); ok {
			if uid, ok := ds["uid"].(string); ok {
				*out = append(*out, uid)
			}
		}
		for _, c := range v {
			collectDatasourceUIDs(c, out)
		}
	case []any:
		for _, c := range v {
			collectDatasourceUIDs(c, out)
		}
	}
}
