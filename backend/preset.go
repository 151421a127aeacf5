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
	// verified says how the values were checked: against the real server
	// (its version and the test that measures it), or "documented only".
	verified string
}

func doc(field, text string) Source    { return Source{Field: field, Text: text} }
func assume(field, text string) Source { return Source{Field: field, Text: text, Assumption: true} }

// documentedOnly marks a preset whose server cannot run here: its values
// come from documents, not from measurement.
const documentedOnly = "documented only"

// presets holds real servers' defaults. Every value carries its source in a
// comment and, for `gwsim presets`, as data; docs/presets.md has them all,
// with the figures each real server gave on loopback (Debian 12 packages,
// TestRealServers in package scenarios); "assumption:" marks what no
// document or measurement says. Where the real server closes later than its
// setting, the preset's KeepAliveTimeout is the earliest close (Node's and
// Puma's offsets added); where it checks its time-outs on a periodic timer,
// Tick models it (Gunicorn gthread, Tomcat, lighttpd).
var presets = map[string]preset{
	"apache": {
		// Apache httpd 2.4 defaults (core docs), measured on 2.4.71 (event MPM).
		Config{
			Advertise:            AdvertiseAsked,  // Keep-Alive: timeout=5, max=100 only answering Connection: keep-alive (measured)
			KeepAliveTimeout:     5 * time.Second, // KeepAliveTimeout 5 s; measured 5.000-5.005 s
			MaxKeepAliveRequests: 101,             // MaxKeepAliveRequests 100 counts requests after the first: 101 answered, the 101st with Connection: close
			Close:                CloseLinger,     // ap_lingering_close: FIN, then drain
			LingerTimeout:        2 * time.Second, // SECONDS_TO_LINGER = 2; measured: a late request's connection reset 2.0 s after the FIN
		},
		[]Source{
			doc("keepalive_timeout", "Apache httpd 2.4 core docs: KeepAliveTimeout 5 s; measured on 2.4.71 (event MPM): default 5.000-5.005 s, 100ms 100.3-103 ms after the answer (now and then up to 50 ms later: the event MPM's listener)"),
			doc("advertised_keepalive", "Keep-Alive: timeout=5, max=100 only answering Connection: keep-alive (measured on 2.4.71): advertise asked"),
			doc("max_keepalive_requests", "MaxKeepAliveRequests 100 (core docs) counts the requests after the first: measured on 2.4.71, the 101st answer says Connection: close"),
			doc("close", "ap_lingering_close: FIN, then drain (SECONDS_TO_LINGER 2 s); measured on 2.4.71: a request after the FIN is drained, reset 2.0 s later"),
		},
		"measured: Apache 2.4.71 (Debian apache2 2.4.71-1~deb12u1, event MPM), KeepAliveTimeout 100ms and the default, by TestRealServers/apache",
	},
	"nginx": {
		// nginx ngx_http_core_module docs, measured on 1.22.1. nginx does a
		// lingering close only when more client data is expected; an idle
		// keep-alive close is a plain close, hence fin.
		Config{
			Advertise:            AdvertiseNever,   // no Keep-Alive header by default (measured)
			KeepAliveTimeout:     75 * time.Second, // keepalive_timeout 75s; measured exact at 1s (0.9996-1.002 s)
			MaxKeepAliveRequests: 1000,             // keepalive_requests 1000 since 1.19.10 (100 before); measured 1000
			Close:                CloseFIN,         // measured: a request after the close is reset
		},
		[]Source{
			doc("keepalive_timeout", "nginx docs: keepalive_timeout 75s; measured on 1.22.1 with keepalive_timeout 1s: closes 1.000-1.002 s after the answer, a timer per connection"),
			doc("advertised_keepalive", "no Keep-Alive header unless keepalive_timeout's second value is set (measured on 1.22.1): advertise never"),
			doc("max_keepalive_requests", "nginx docs: keepalive_requests 1000 since 1.19.10 (100 before); measured on 1.22.1: the 1000th answer says Connection: close"),
			doc("close", "measured on 1.22.1: FIN; a request after it is reset (lingering_close applies only when more client data is expected)"),
		},
		"measured: nginx 1.22.1 (Debian 1.22.1-9+deb12u11), keepalive_timeout 1s (the 75 s default from the docs), by TestRealServers/nginx",
	},
	"node": {
		// Node.js <= 25: server.keepAliveTimeout 5000 ms, maxRequestsPerSocket
		// 0 (unlimited). Measured on Node 20.20: advertises
		// `Keep-Alive: timeout=5` but closes the idle socket at 6.0 s
		// (keepAliveTimeout + 1 s), with FIN (some older versions used RST).
		Config{
			Advertise:           AdvertiseAlways, // on every keep-alive answer, asked or not (measured)
			KeepAliveTimeout:    6 * time.Second, // measured close at 6.000-6.006 s (Node 20.20)
			AdvertisedKeepAlive: 5 * time.Second, // advertised keepAliveTimeout 5 s
			Close:               CloseFIN,        // measured on Node 20.20
		},
		[]Source{
			doc("keepalive_timeout", "Node.js <= 25: server.keepAliveTimeout 5 s; measured on Node 20.20: the idle socket closes 1 s after it (default 6.000-6.006 s, keepAliveTimeout 1000: 2.000-2.003 s), a timer per connection"),
			doc("advertised_keepalive", "Node.js <= 25 advertises Keep-Alive: timeout=5 on every keep-alive answer, asked or not (measured on 20.20)"),
			doc("max_keepalive_requests", "maxRequestsPerSocket 0: unlimited (measured: none up to 1100)"),
			doc("close", "measured on Node 20.20: FIN, a request after it is reset (some older versions used RST)"),
		},
		"measured: Node.js 20.20.2 (Debian nodejs 20.20.2-1nodesource1), keepAliveTimeout 1000 and the default, by TestRealServers/node",
	},
	"node26": {
		// Node.js >= 26: keepAliveTimeout default raised to 65 s because of
		// this race; unlimited requests.
		Config{
			Advertise:        AdvertiseAlways,  // assumption: as Node 20
			KeepAliveTimeout: 65 * time.Second, // keepAliveTimeout 65 s (advertised and closed as is: assumption)
			Close:            CloseFIN,         // assumption: as Node <= 25
		},
		[]Source{
			doc("keepalive_timeout", "Node.js >= 26: keepAliveTimeout default 65 s, raised because of this race; assumption: closes at 65 s (Node 20 closed 1 s after its advertised value)"),
			doc("max_keepalive_requests", "unlimited"),
			assume("close", "FIN, as Node 20"),
		},
		documentedOnly + " (Node.js 26 does not install here)",
	},
	"gunicorn-sync": {
		// Gunicorn's default worker class, sync: no keep-alive at all.
		Config{
			Advertise:        AdvertiseNever, // no Keep-Alive header (keep-alive off)
			KeepAliveTimeout: 0,              // keep-alive off: every answer says Connection: close
			Close:            CloseFIN,       // measured: FIN after each answer
		},
		[]Source{
			doc("keepalive_timeout", "Gunicorn docs (settings, keepalive): the default sync worker does not support persistent connections; measured on 20.1.0: every answer says Connection: close, asked or not"),
			doc("max_keepalive_requests", "one request per connection (keep-alive off)"),
			doc("close", "measured on 20.1.0 sync: FIN after each answer"),
		},
		"measured: Gunicorn 20.1.0 (Debian gunicorn 20.1.0-6+deb12u1), the default sync worker, by TestRealServers/gunicorn-sync",
	},
	"gunicorn": {
		// Gunicorn: keepalive 2 s, honoured by the gthread and async workers;
		// the default sync worker has no keep-alive (the gunicorn-sync preset).
		Config{
			Advertise:        AdvertiseNever,  // no Keep-Alive header (measured)
			KeepAliveTimeout: 2 * time.Second, // --keep-alive 2; measured (gthread) 2.0-3.0 s: a 1 s tick
			Tick:             time.Second,     // the gthread worker's poll loop: measured 1.0-1.95 s at --keep-alive 1
			Close:            CloseFIN,        // measured (gthread)
		},
		[]Source{
			doc("keepalive_timeout", "Gunicorn docs: keepalive 2 s, gthread and async workers only; measured on 20.1.0: the default sync worker answers Connection: close (the gunicorn-sync preset); gthread closes 2.0-2.95 s after the answer (--keep-alive 1: 1.0-1.95 s)"),
			doc("tick", "measured on 20.1.0 gthread: idle connections close on a 1 s tick (its poll loop's timeout), from the setting to a second later; connections idle 0-900 ms apart close together"),
			doc("advertised_keepalive", "no Keep-Alive header, asked or not (measured on 20.1.0): advertise never"),
			doc("max_keepalive_requests", "no per-connection limit (measured on 20.1.0 gthread: none up to 1100)"),
			doc("close", "measured on 20.1.0 gthread: FIN, a request after it is reset"),
		},
		"measured: Gunicorn 20.1.0 (Debian gunicorn 20.1.0-6+deb12u1), gthread --keep-alive 1 and the default, by TestRealServers/gunicorn",
	},
	"uvicorn": {
		Config{
			Advertise:        AdvertiseNever,  // no Keep-Alive header (measured)
			KeepAliveTimeout: 5 * time.Second, // --timeout-keep-alive 5; measured 4.99-5.004 s
			Close:            CloseFIN,        // measured
		},
		[]Source{
			doc("keepalive_timeout", "Uvicorn docs: timeout_keep_alive 5 s; measured on 0.17.6 (h11): closes 4.99-5.004 s after the answer (1 s: 0.997-1.003 s), a timer per connection"),
			doc("advertised_keepalive", "no Keep-Alive header, asked or not (measured on 0.17.6): advertise never"),
			doc("max_keepalive_requests", "no per-connection limit (measured on 0.17.6: none up to 1100)"),
			doc("close", "measured on 0.17.6: FIN, a request after it is reset"),
		},
		"measured: Uvicorn 0.17.6 (Debian python3-uvicorn 0.17.6-1), --timeout-keep-alive 1 and the default, by TestRealServers/uvicorn",
	},
	"puma": {
		Config{
			Advertise:        AdvertiseNever,                        // no Keep-Alive header (measured)
			KeepAliveTimeout: 20*time.Second + 200*time.Millisecond, // persistent_timeout 20 s after FAST_TRACK_KA_TIMEOUT 0.2 s
			Close:            CloseFIN,                              // measured
		},
		[]Source{
			doc("keepalive_timeout", "Puma: persistent_timeout 20 s, counted after the thread's own 0.2 s wait for the next request (FAST_TRACK_KA_TIMEOUT, puma/const.rb); measured on 5.6.5: persistent_timeout 1 closes 1.200-1.203 s after the answer, 2 at 2.201-2.203 s"),
			doc("advertised_keepalive", "no Keep-Alive header, asked or not (measured on 5.6.5): advertise never"),
			doc("max_keepalive_requests", "no per-connection limit on an idle server (measured on 5.6.5: none up to 1100); but after max_fast_inline (10) requests in a row it answers Connection: close whenever another connection waits for a thread (measured: after 10 to 685 requests under the test's own load): gwsim's backend does not model this"),
			doc("close", "measured on 5.6.5: FIN, a request after it is reset"),
		},
		"measured: Puma 5.6.5 (Debian puma 5.6.5-3+deb12u2), persistent_timeout 1 (the 20 s default from the docs), by TestRealServers/puma",
	},
	"tomcat": {
		Config{
			Advertise:            AdvertiseAsked,   // only answering Connection: keep-alive (measured)
			KeepAliveTimeout:     60 * time.Second, // keepAliveTimeout = connectionTimeout, 60 s built in (the shipped server.xml sets 20 s)
			Tick:                 time.Second,      // the NIO poller checks time-outs about once a second: measured 1.0-1.9 s at keepAliveTimeout 1000
			MaxKeepAliveRequests: 100,              // maxKeepAliveRequests 100; measured 100
			Close:                CloseLinger,      // measured: FIN, the socket released at the poller's next wake
			LingerTimeout:        time.Second,      // measured: a late request's connection reset about 1 s after the FIN
		},
		[]Source{
			doc("keepalive_timeout", "Tomcat HTTP connector: keepAliveTimeout defaults to connectionTimeout, 60 s built in (embedded Tomcat); the shipped server.xml sets 20 s: override it. Measured on 10.1.60 (NIO): keepAliveTimeout 1000 closes 1.0-1.9 s after the answer, 1500 1.5-2.4 s"),
			doc("tick", "measured on 10.1.60: the NIO poller checks time-outs about once a second: idle connections close from the setting to a second later"),
			doc("advertised_keepalive", "Keep-Alive: timeout=N only answering Connection: keep-alive (measured on 10.1.60): advertise asked"),
			doc("max_keepalive_requests", "Tomcat HTTP connector: maxKeepAliveRequests 100; measured on 10.1.60: the 100th answer says Connection: close"),
			doc("close", "measured on 10.1.60: FIN; the socket is released at the NIO selector's next wake, so a request after the FIN is mostly drained without an answer and reset about 1 s later (now and then reset at once)"),
		},
		"measured: Tomcat 10.1.60 (Debian tomcat10 10.1.60-1~deb12u1, OpenJDK 17), keepAliveTimeout 1000 (the 60 s default from the docs), by TestRealServers/tomcat",
	},
	"iis": {
		Config{
			Advertise:        AdvertiseNever,    // assumption: not measured
			KeepAliveTimeout: 120 * time.Second, // connectionTimeout 120 s
			Close:            CloseFIN,          // assumption: not measured
		},
		[]Source{
			doc("keepalive_timeout", "IIS: connectionTimeout 120 s"),
			doc("max_keepalive_requests", "no per-connection limit"),
			assume("close", "FIN, not measured"),
		},
		documentedOnly + " (IIS does not run here)",
	},
	"kestrel": {
		Config{
			Advertise:        AdvertiseNever,    // assumption: not measured
			KeepAliveTimeout: 130 * time.Second, // KestrelServerLimits.KeepAliveTimeout 130 s
			Close:            CloseFIN,          // assumption: not measured
		},
		[]Source{
			doc("keepalive_timeout", "Kestrel: KeepAliveTimeout 130 s"),
			doc("max_keepalive_requests", "no per-connection limit"),
			assume("close", "FIN, not measured"),
		},
		documentedOnly + " (Kestrel does not install here)",
	},
	"go": {
		// Go net/http Server with IdleTimeout and ReadTimeout unset: "If
		// IdleTimeout is zero, the value of ReadTimeout is used. If both are
		// zero, there is no timeout." Requests per connection unlimited.
		Config{
			Advertise:   AdvertiseNever, // Go net/http sends no Keep-Alive header
			IdleForever: true,
			Close:       CloseFIN, // net.Conn.Close
		},
		[]Source{
			doc("keepalive_timeout", "Go net/http: IdleTimeout, else ReadTimeout, else none: no limit"),
			doc("max_keepalive_requests", "unlimited"),
			doc("close", "net.Conn.Close: FIN (as measured on Caddy, a Go server)"),
		},
		documentedOnly + " (Go net/http docs; the caddy preset measures a Go server with IdleTimeout set)",
	},
	"jetty": {
		Config{
			Advertise:        AdvertiseNever,   // no Keep-Alive header (measured)
			KeepAliveTimeout: 30 * time.Second, // connector idleTimeout 30 s; measured exact at 1000 ms
			Close:            CloseLinger,      // measured: FIN, then what comes is drained
			LingerTimeout:    30 * time.Second, // assumption: measured > 40 s while bytes kept coming
		},
		[]Source{
			doc("keepalive_timeout", "Jetty: connector idleTimeout 30 s; measured on 9.4.57 with idleTimeout 1000: closes 0.999-1.005 s after the answer, a timer per connection"),
			doc("advertised_keepalive", "no Keep-Alive header, asked or not (measured on 9.4.57): advertise never"),
			doc("max_keepalive_requests", "no per-connection limit (measured on 9.4.57: none up to 1100)"),
			doc("close", "measured on 9.4.57: FIN, then a request after it is drained without an answer (no reset for 40 s of bytes every 10 ms)"),
			assume("close", "linger for 30 s (the idleTimeout): how long Jetty holds the half-closed socket once bytes stop was not measured"),
		},
		"measured: Jetty 9.4.57 (Debian jetty9 9.4.57-1.1~deb12u1, OpenJDK 17), idleTimeout 1000 (the 30 s default from the docs), by TestRealServers/jetty",
	},
	"lighttpd": {
		Config{
			Advertise:            AdvertiseNever,  // no Keep-Alive header (measured)
			KeepAliveTimeout:     5 * time.Second, // server.max-keep-alive-idle 5; closes 5-7 s on its clock's whole seconds
			Tick:                 2 * time.Second, // whole-second comparisons of a clock read once a second: measured from the setting to about 2 s later
			MaxKeepAliveRequests: 1001,            // server.max-keep-alive-requests 1000 counts after the first: 1001 answered
			Close:                CloseLinger,     // measured: FIN, then drain
			LingerTimeout:        5 * time.Second, // HTTP_LINGER_TIMEOUT 5 s; measured reset 6 s after the FIN (its tick)
		},
		[]Source{
			doc("keepalive_timeout", "lighttpd docs: server.max-keep-alive-idle 5 s; it compares whole seconds of a clock read once per event-loop pass (at least once a second): measured on 1.4.69, the default closes 5.3-6.9 s after the answer, 1 s 1.2-2.7 s; the earliest close is the setting, up to about 2 s later"),
			doc("tick", "measured on 1.4.69: closes from the setting to about 2 s later (whole seconds of a clock read once a second): modelled as a 2 s tick"),
			doc("advertised_keepalive", "no Keep-Alive header, asked or not (measured on 1.4.69): advertise never"),
			doc("max_keepalive_requests", "lighttpd docs: server.max-keep-alive-requests 1000; measured on 1.4.69: the 1001st answer says Connection: close"),
			doc("close", "measured on 1.4.69: FIN, then a request after it is drained; reset about 6 s later (HTTP_LINGER_TIMEOUT 5 s on its 1 s tick)"),
		},
		"measured: lighttpd 1.4.69 (Debian lighttpd 1.4.69-1), max-keep-alive-idle 1 and the default, by TestRealServers/lighttpd",
	},
	"caddy": {
		// Caddy 2 as a backend (file server, reverse proxy, respond): a Go
		// net/http server with its own default IdleTimeout.
		Config{
			Advertise:        AdvertiseNever,  // no Keep-Alive header (measured)
			KeepAliveTimeout: 5 * time.Minute, // servers > timeouts > idle, default 5m
			Close:            CloseFIN,        // measured
		},
		[]Source{
			doc("keepalive_timeout", "Caddy docs: servers timeouts idle, default 5m (Go http.Server IdleTimeout); measured on 2.6.2 with idle 1s: closes 1.000-1.002 s after the answer, a timer per connection"),
			doc("advertised_keepalive", "no Keep-Alive header, asked or not (measured on 2.6.2): advertise never"),
			doc("max_keepalive_requests", "no per-connection limit (Go net/http; measured on 2.6.2: none up to 1100)"),
			doc("close", "measured on 2.6.2: FIN, a request after it is reset"),
		},
		"measured: Caddy 2.6.2 (Debian caddy 2.6.2-5), idle 1s (the 5 min default from the docs), by TestRealServers/caddy",
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

// PresetVerified says how preset name's values were checked: "measured:
// SERVER VERSION ..., by TestRealServers/NAME" against the real server on
// loopback, or "documented only"; "" for an unknown name.
func PresetVerified(name string) string { return presets[name].verified }

// PresetNames returns the names Preset accepts, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
