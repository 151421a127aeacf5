package backend

import (
	"fmt"
	"time"
)

// Preset returns the Config of a real server's defaults by name (see
// PresetNames). Every value names its source (/work/shared/FACTS.md,
// "Backend servers' defaults"); an assumption is marked as one.
func Preset(name string) (Config, error) {
	switch name {
	case "apache":
		// Apache httpd 2.4 defaults (core docs).
		return Config{
			KeepAliveTimeout:     5 * time.Second, // KeepAliveTimeout default 5 s
			MaxKeepAliveRequests: 100,             // MaxKeepAliveRequests default 100
			Close:                CloseLinger,     // ap_lingering_close: FIN, then drain
			LingerTimeout:        2 * time.Second, // SECONDS_TO_LINGER = 2 (server/connection.c)
		}, nil
	case "go":
		// Go net/http Server with IdleTimeout and ReadTimeout unset: "If
		// IdleTimeout is zero, the value of ReadTimeout is used. If both are
		// zero, there is no timeout." Requests per connection unlimited.
		return Config{
			IdleForever: true,
			Close:       CloseFIN, // net.Conn.Close
		}, nil
	case "nginx":
		// nginx ngx_http_core_module docs. nginx does a lingering close only
		// in some cases (lingering_close auto: when more client data is
		// expected); an idle keep-alive close is a plain close, hence fin.
		return Config{
			KeepAliveTimeout:     75 * time.Second, // keepalive_timeout 75s
			MaxKeepAliveRequests: 1000,             // keepalive_requests 1000 since 1.19.10 (100 before)
			Close:                CloseFIN,
		}, nil
	case "node":
		// Node.js <= 25: server.keepAliveTimeout 5000 ms, maxRequestsPerSocket
		// 0 (unlimited). Measured here on Node 20.20: advertises
		// `Keep-Alive: timeout=5` but closes the idle socket at about 6.0 s
		// (keepAliveTimeout + 1 s), with FIN (some older versions used RST).
		return Config{
			KeepAliveTimeout:    6 * time.Second, // measured close at ~6.0 s (Node 20.20)
			AdvertisedKeepAlive: 5 * time.Second, // advertised keepAliveTimeout 5 s
			Close:               CloseFIN,        // measured on Node 20.20
		}, nil
	case "node26":
		// Node.js >= 26: keepAliveTimeout default raised to 65 s because of
		// this race; unlimited requests. Assumption (not measured): it
		// advertises and closes at 65 s as is; Node <= 25 closed about 1 s
		// after the advertised value.
		return Config{
			KeepAliveTimeout: 65 * time.Second, // keepAliveTimeout 65 s (advertised as is: assumption)
			Close:            CloseFIN,         // assumption: as Node <= 25
		}, nil
	}
	return Config{}, fmt.Errorf("unknown backend preset %q (want apache, go, nginx, node, node26)", name)
}

// PresetNames returns the names Preset accepts, sorted.
func PresetNames() []string {
	return []string{"apache", "go", "nginx", "node", "node26"}
}
