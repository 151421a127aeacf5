package backend

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Source says where one preset value comes from. Assumption marks a value
// gwsim chose where the documents we found say nothing, so users can check
// and override it.
type Source struct {
	Field      string // the scenario schema's key: keepalive_timeout, close, ...
	Text       string
	Assumption bool
}

type preset struct {
	cfg     Config
	sources []Source
}

func doc(field, text string) Source    { return Source{Field: field, Text: text} }
func assume(field, text string) Source { return Source{Field: field, Text: text, Assumption: true} }

// presets holds real servers' defaults. Every value carries its source in a
// comment and, for `gwsim presets`, as data (/work/shared/FACTS.md,
// "Backend servers' defaults"); "assumption:" marks what no document says.
// No server here closes idle connections with RST by default, so close is
// fin unless noted (assumption where not measured).
var presets = map[string]preset{
	"apache": {
		// Apache httpd 2.4 defaults (core docs).
		Config{
			KeepAliveTimeout:     5 * time.Second, // KeepAliveTimeout default 5 s
			MaxKeepAliveRequests: 100,             // MaxKeepAliveRequests default 100
			Close:                CloseLinger,     // ap_lingering_close: FIN, then drain
			LingerTimeout:        2 * time.Second, // SECONDS_TO_LINGER = 2 (server/connection.c)
		},
		[]Source{
			doc("keepalive_timeout", "Apache httpd 2.4 core docs: KeepAliveTimeout 5 s; measured here (2.4.71, event MPM): closes 100.3-100.5 ms after the response for 100ms"),
			doc("max_keepalive_requests", "Apache httpd 2.4 core docs: MaxKeepAliveRequests 100"),
			doc("close", "ap_lingering_close: FIN, then drain (SECONDS_TO_LINGER 2 s, server/connection.c)"),
		},
	},
	"nginx": {
		// nginx ngx_http_core_module docs. nginx does a lingering close only
		// in some cases (lingering_close auto: when more client data is
		// expected); an idle keep-alive close is a plain close, hence fin.
		Config{
			KeepAliveTimeout:     75 * time.Second, // keepalive_timeout 75s
			MaxKeepAliveRequests: 1000,             // keepalive_requests 1000 since 1.19.10 (100 before)
			Close:                CloseFIN,
		},
		[]Source{
			doc("keepalive_timeout", "nginx docs: keepalive_timeout 75s"),
			doc("max_keepalive_requests", "nginx docs: keepalive_requests 1000 since 1.19.10 (100 before)"),
			doc("close", "nginx: an idle keep-alive close is a plain close (lingering_close only when more client data is expected)"),
		},
	},
	"node": {
		// Node.js <= 25: server.keepAliveTimeout 5000 ms, maxRequestsPerSocket
		// 0 (unlimited). Measured here on Node 20.20: advertises
		// `Keep-Alive: timeout=5` but closes the idle socket at about 6.0 s
		// (keepAliveTimeout + 1 s), with FIN (some older versions used RST).
		Config{
			KeepAliveTimeout:    6 * time.Second, // measured close at ~6.0 s (Node 20.20)
			AdvertisedKeepAlive: 5 * time.Second, // advertised keepAliveTimeout 5 s
			Close:               CloseFIN,        // measured on Node 20.20
		},
		[]Source{
			doc("keepalive_timeout", "Node.js <= 25: server.keepAliveTimeout 5 s; measured here on Node 20.20: the idle socket closes at about 6.0 s"),
			doc("advertised_keepalive", "Node.js <= 25 advertises Keep-Alive: timeout=5"),
			doc("max_keepalive_requests", "maxRequestsPerSocket 0: unlimited"),
			doc("close", "measured on Node 20.20: FIN (some older versions used RST)"),
		},
	},
	"node26": {
		// Node.js >= 26: keepAliveTimeout default raised to 65 s because of
		// this race; unlimited requests.
		Config{
			KeepAliveTimeout: 65 * time.Second, // keepAliveTimeout 65 s (advertised and closed as is: assumption)
			Close:            CloseFIN,         // assumption: as Node <= 25
		},
		[]Source{
			doc("keepalive_timeout", "Node.js >= 26: keepAliveTimeout default 65 s, raised because of this race; assumption: closes at 65 s (Node <= 25 closed about 1 s after its advertised value)"),
			doc("max_keepalive_requests", "unlimited"),
			assume("close", "FIN, as Node <= 25"),
		},
	},
	"gunicorn": {
		// Gunicorn: keepalive 2 s, honoured by the async and gthread workers;
		// the default sync worker has no keep-alive (use keepalive_off).
		Config{
			KeepAliveTimeout: 2 * time.Second, // --keep-alive 2
			Close:            CloseFIN,        // assumption: not measured
		},
		[]Source{
			doc("keepalive_timeout", "Gunicorn docs: keepalive 2 s (async and gthread workers; the default sync worker does no keep-alive: set keepalive_off)"),
			doc("max_keepalive_requests", "no per-connection limit"),
			assume("close", "FIN, not measured"),
		},
	},
	"uvicorn": {
		Config{
			KeepAliveTimeout: 5 * time.Second, // --timeout-keep-alive 5
			Close:            CloseFIN,        // assumption: not measured
		},
		[]Source{
			doc("keepalive_timeout", "Uvicorn docs: timeout_keep_alive 5 s"),
			doc("max_keepalive_requests", "no per-connection limit"),
			assume("close", "FIN, not measured"),
		},
	},
	"puma": {
		Config{
			KeepAliveTimeout: 20 * time.Second, // persistent_timeout 20 s
			Close:            CloseFIN,         // assumption: not measured
		},
		[]Source{
			doc("keepalive_timeout", "Puma: persistent_timeout 20 s"),
			doc("max_keepalive_requests", "no per-connection limit"),
			assume("close", "FIN, not measured"),
		},
	},
	"tomcat": {
		Config{
			KeepAliveTimeout:     60 * time.Second, // keepAliveTimeout = connectionTimeout, 60 s built in (the shipped server.xml sets 20 s)
			MaxKeepAliveRequests: 100,              // maxKeepAliveRequests 100
			Close:                CloseFIN,         // assumption: not measured
		},
		[]Source{
			doc("keepalive_timeout", "Tomcat HTTP connector: keepAliveTimeout defaults to connectionTimeout, 60 s built in (embedded Tomcat); the shipped server.xml sets 20 s: override it"),
			doc("max_keepalive_requests", "Tomcat HTTP connector: maxKeepAliveRequests 100"),
			assume("close", "FIN, not measured"),
		},
	},
	"iis": {
		Config{
			KeepAliveTimeout: 120 * time.Second, // connectionTimeout 120 s
			Close:            CloseFIN,          // assumption: not measured
		},
		[]Source{
			doc("keepalive_timeout", "IIS: connectionTimeout 120 s"),
			doc("max_keepalive_requests", "no per-connection limit"),
			assume("close", "FIN, not measured"),
		},
	},
	"kestrel": {
		Config{
			KeepAliveTimeout: 130 * time.Second, // KestrelServerLimits.KeepAliveTimeout 130 s
			Close:            CloseFIN,          // assumption: not measured
		},
		[]Source{
			doc("keepalive_timeout", "Kestrel: KeepAliveTimeout 130 s"),
			doc("max_keepalive_requests", "no per-connection limit"),
			assume("close", "FIN, not measured"),
		},
	},
	"go": {
		// Go net/http Server with IdleTimeout and ReadTimeout unset: "If
		// IdleTimeout is zero, the value of ReadTimeout is used. If both are
		// zero, there is no timeout." Requests per connection unlimited.
		Config{
			IdleForever: true,
			Close:       CloseFIN, // net.Conn.Close
		},
		[]Source{
			doc("keepalive_timeout", "Go net/http: IdleTimeout, else ReadTimeout, else none: no limit"),
			doc("max_keepalive_requests", "unlimited"),
			doc("close", "net.Conn.Close: FIN"),
		},
	},
	"jetty": {
		Config{
			KeepAliveTimeout: 30 * time.Second, // connector idleTimeout 30 s
			Close:            CloseFIN,         // assumption: not measured
		},
		[]Source{
			doc("keepalive_timeout", "Jetty: connector idleTimeout 30 s"),
			doc("max_keepalive_requests", "no per-connection limit"),
			assume("close", "FIN, not measured"),
		},
	},
}

// Preset returns the Config of a real server's defaults by name (see
// PresetNames). Every value names its source (PresetSources); an
// assumption is marked as one.
func Preset(name string) (Config, error) {
	p, ok := presets[name]
	if !ok {
		return Config{}, fmt.Errorf("unknown backend preset %q (want %s)", name, strings.Join(PresetNames(), ", "))
	}
	return p.cfg, nil
}

// PresetSources returns where preset name's values come from; nil for an
// unknown name.
func PresetSources(name string) []Source { return presets[name].sources }

// PresetNames returns the names Preset accepts, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
