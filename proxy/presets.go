package proxy

import (
	"net/http"
	"time"
)

// Source says where one preset value comes from. Assumption marks a value
// gwsim chose where the documents we found say nothing ("n/d" in docs/presets.md), so
// users can check and override it.
type Source struct {
	Field      string // the scenario schema's key: backend_idle_timeout, race_status, ...
	Text       string // the document, or the reasoning of an assumption
	Assumption bool
}

// ProfileSources returns the sources of preset name's values, in the order
// `gwsim presets` prints them; nil for an unknown name.
func ProfileSources(name string) []Source { return profileSources[name] }

// ProfileVerified says how preset name was checked: "measured: ..." against
// the real gateway on loopback (TestGatewayPresetsReal in package
// scenarios, before real Apache), with what differs, or "documented only"
// for a gateway that cannot run here.
func ProfileVerified(name string) string {
	if v, ok := profileVerified[name]; ok {
		return v
	}
	return "documented only (its values come from its documentation; not measured against the real gateway here: a managed one cannot run here, and Traefik and Envoy are not Debian packages)"
}

var profileVerified = map[string]string{
	"caddy": "measured: Caddy 2.6.2 (TestGatewayPresetsReal: reverse_proxy's defaults reuse connections, a GET that meets the race is sent again unseen and a POST gets 502, at a rate within 3× of the preset's; " +
		"its time-outs are from the documentation, not measured)",
	"nginx": "measured: nginx 1.22.1 (TestGatewayPresetsReal: without upstream keepalive nothing is reused, as the preset)",
	"nginx-pooling": "measured: nginx 1.22.1 (TestGatewayPresetsReal: with upstream keepalive, GET races are retried and POST races answered 502, as the preset; " +
		"with proxy_next_upstream off every race is a 502, at a rate within 3× of the preset's)",
	"haproxy": "measured: HAProxy 2.6.12 (TestGatewayPresetsReal: with its default http-reuse safe a client connection's first request never goes out on a reused server connection, and with http-reuse always it does, as the preset; " +
		"a race on a client connection's later request closes the client connection with no response and no log line, on the first it is a 502, as the preset)",
}

func doc(field, text string) Source    { return Source{Field: field, Text: text} }
func assume(field, text string) Source { return Source{Field: field, Text: text, Assumption: true} }

// noReuse is the backend idle timeout that models a gateway that does not
// pool backend connections at all (nginx without upstream keepalive): every
// idle connection is past its deadline when next wanted, so none is reused.
const noReuse = time.Nanosecond

// Fields of Source, the scenario schema's gateway keys.
const (
	fClientKA   = "client_keepalive_timeout"
	fIdle       = "backend_idle_timeout"
	fRequest    = "request_timeout"
	fClientReq  = "client_request_timeout"
	fTimeout    = "timeout_status"
	fOther      = "timeout_tries_other_member"
	fRace       = "race_status"
	fRetry      = "retry"
	fOrder      = "pool_order"
	fClientGone = "client_closed_status"
	fReuse      = "reuse"
	fSilent     = "silent_close_on_later_request"
)

// profiles holds the built-in gateway presets. Every value carries its
// source in a comment, and the same source as data in profileSources for
// `gwsim presets`; docs/presets.md collects them. "assumption:" marks
// what no document says.
var profiles = map[string]Profile{
	"appgw-v1": {
		Name:            "appgw-v1",
		ClientKeepAlive: 120 * time.Second, // Application Gateway FAQ: keep-alive timeout V1 120 s
		// No fixed backend idle limit for V1 (seed article: set the backend
		// to ~300 s or turn keep-alive off). Modelled as none.
		BackendIdleTimeout:   0,
		RequestTimeout:       20 * time.Second,      // HTTP settings request time-out default 20 s (troubleshooting-502)
		ClientRequestTimeout: 60 * time.Second,      // http-response-codes: 408 when the client sends nothing for 60 s
		TimeoutStatus:        http.StatusBadGateway, // V1 returns 502 on request time-out (troubleshooting-502)
		RaceStatus:           http.StatusBadGateway, // seed article: 502
		ClientClosedStatus:   0,                     // V1 logs 0 when the client closed first (http-response-codes)
		Retry:                RetryNone,             // assumption: not documented; modelled as none
		PoolOrder:            LIFO,                  // assumption: not documented
	},
	"appgw-v2": {
		Name:                    "appgw-v2",
		ClientKeepAlive:         75 * time.Second,          // Application Gateway FAQ: V2 75 s (newer wording says 120 s: use client_keepalive_timeout)
		BackendIdleTimeout:      60 * time.Second,          // seed article; azure-docs issue 119580 (not in Microsoft docs)
		RequestTimeout:          20 * time.Second,          // HTTP settings request time-out default 20 s
		ClientRequestTimeout:    60 * time.Second,          // http-response-codes: 408 when the client sends nothing for 60 s
		TimeoutStatus:           http.StatusGatewayTimeout, // V2: tried on a second member, then 504 (http-response-codes)
		TimeoutTriesOtherMember: true,                      // troubleshooting-502: tried on a second backend pool member
		RaceStatus:              http.StatusBadGateway,     // 502 ERRORINFO_UPSTREAM_CLOSED_CONNECTION (monitoring data reference)
		ClientClosedStatus:      499,                       // V2 logs 499 ERRORINFO_CLIENT_CLOSED_REQUEST
		Retry:                   RetryNone,                 // assumption: not documented; modelled as none
		PoolOrder:               LIFO,                      // assumption: not documented
	},
	"aws-alb": {
		Name:                 "aws-alb",
		ClientKeepAlive:      60 * time.Second,          // ELB docs, ALB attributes: connection idle timeout 60 s (client keep-alive duration 3600 s caps a connection's life, not its idle time)
		BackendIdleTimeout:   60 * time.Second,          // ELB docs, ALB attributes: the idle timeout, 60 s, also closes idle target connections
		RequestTimeout:       60 * time.Second,          // assumption: no separate request time-out; the 60 s idle timeout bounds a silent target
		ClientRequestTimeout: 60 * time.Second,          // Troubleshoot ALB: 408 when the client sent no data before the 60 s idle timeout
		TimeoutStatus:        http.StatusGatewayTimeout, // Troubleshoot ALB: 504
		RaceStatus:           http.StatusBadGateway,     // Troubleshoot ALB: 502, target closed the connection with RST or FIN while the LB had an outstanding request
		ClientClosedStatus:   460,                       // assumption: ALB access logs use 460 (no vendor document found)
		Retry:                RetryNone,                 // none documented
		PoolOrder:            LIFO,                      // assumption: not documented
	},
	"aws-clb": {
		Name:                 "aws-clb",
		ClientKeepAlive:      60 * time.Second,          // CLB idle timeout 60 s (configure the idle connection timeout)
		BackendIdleTimeout:   60 * time.Second,          // CLB idle timeout 60 s, both sides
		RequestTimeout:       60 * time.Second,          // assumption: the 60 s idle timeout bounds a silent backend
		ClientRequestTimeout: 60 * time.Second,          // assumption: not documented: the 60 s idle timeout
		TimeoutStatus:        http.StatusGatewayTimeout, // CLB troubleshooting: 504
		RaceStatus:           http.StatusGatewayTimeout, // CLB troubleshooting: 504 when the backend closed the connection
		ClientClosedStatus:   0,                         // assumption: not documented
		Retry:                RetryNone,                 // assumption: n/d, modelled as none
		PoolOrder:            LIFO,                      // assumption: not documented
	},
	"gcp-global": {
		Name:                 "gcp-global",
		ClientKeepAlive:      610 * time.Second,     // GCP request distribution docs: client HTTP keep-alive 610 s
		BackendIdleTimeout:   600 * time.Second,     // GCP request distribution docs: backend keep-alive 600 s, fixed (backend must exceed it; 620 s is common practice)
		RequestTimeout:       30 * time.Second,      // GCP backend service timeout default 30 s
		ClientRequestTimeout: 60 * time.Second,      // assumption: not documented: 60 s like Application Gateway
		TimeoutStatus:        http.StatusBadGateway, // assumption: no document gives the status; third-party write-ups show 502 statusDetails backend_timeout
		RaceStatus:           http.StatusBadGateway, // GCP: 502 backend_connection_closed_before_data_sent_to_client
		ClientClosedStatus:   0,                     // assumption: not documented
		Retry:                RetryNone,             // assumption: n/d, modelled as none
		PoolOrder:            LIFO,                  // assumption: not documented
	},
	"nginx": {
		Name:            "nginx",
		ClientKeepAlive: 75 * time.Second, // nginx docs: keepalive_timeout 75s
		// nginx docs: without a keepalive directive in the upstream block
		// (and with proxy_http_version 1.0, the default before 1.30) nginx
		// opens a new upstream connection per request: modelled as an idle
		// timeout of 1 ns, so no connection is ever reused.
		BackendIdleTimeout:      noReuse,
		RequestTimeout:          60 * time.Second,          // nginx docs: proxy_read_timeout 60s
		ClientRequestTimeout:    60 * time.Second,          // nginx docs: client_header_timeout and client_body_timeout 60s, 408
		TimeoutStatus:           http.StatusGatewayTimeout, // nginx: 504 on proxy_read_timeout
		TimeoutTriesOtherMember: true,                      // nginx docs: proxy_next_upstream error timeout (default)
		RaceStatus:              http.StatusBadGateway,     // nginx: 502 "upstream prematurely closed connection"
		ClientClosedStatus:      499,                       // assumption: nginx's own 499 (no vendor document found)
		Retry:                   RetryIdempotent,           // nginx docs: proxy_next_upstream error timeout; not POST/PATCH/LOCK once sent
		PoolOrder:               LIFO,                      // assumption: ngx_http_upstream_keepalive caches connections in a queue, most recent first
	},
	"nginx-pooling": {
		Name:                    "nginx-pooling",
		ClientKeepAlive:         75 * time.Second,          // nginx docs: keepalive_timeout 75s
		BackendIdleTimeout:      60 * time.Second,          // nginx docs: upstream keepalive_timeout 60s (keepalive_requests 1000 not modelled)
		RequestTimeout:          60 * time.Second,          // nginx docs: proxy_read_timeout 60s
		ClientRequestTimeout:    60 * time.Second,          // nginx docs: client_header_timeout and client_body_timeout 60s, 408
		TimeoutStatus:           http.StatusGatewayTimeout, // nginx: 504
		TimeoutTriesOtherMember: true,                      // nginx docs: proxy_next_upstream error timeout (default)
		RaceStatus:              http.StatusBadGateway,     // nginx: 502 "upstream prematurely closed connection"
		ClientClosedStatus:      499,                       // assumption: nginx's own 499 (no vendor document found)
		Retry:                   RetryIdempotent,           // nginx docs: proxy_next_upstream error timeout; not POST/PATCH/LOCK once sent
		PoolOrder:               LIFO,                      // assumption: most recently used first
	},
	"haproxy": {
		Name:                 "haproxy",
		ClientKeepAlive:      50 * time.Second,          // assumption: timeout http-keep-alive has no default; it falls back to timeout client, 50 s in Debian's shipped haproxy.cfg
		BackendIdleTimeout:   0,                         // haproxy configuration.txt: no dedicated idle timer (pool purge not modelled): no limit
		RequestTimeout:       50 * time.Second,          // assumption: timeout server 50 s in Debian's shipped haproxy.cfg (no built-in default)
		ClientRequestTimeout: 50 * time.Second,          // assumption: timeout http-request has no default and falls back to timeout client: 50 s in Debian's shipped haproxy.cfg; 408
		TimeoutStatus:        http.StatusGatewayTimeout, // haproxy: 504 (termination flags sH)
		RaceStatus:           http.StatusBadGateway,     // haproxy: 502 (termination flags SH)
		ClientClosedStatus:   0,                         // assumption: not modelled
		Retry:                RetryResetBeforeRequest,   // haproxy configuration.txt: retries 3, retry-on conn-failure (empty-response opt-in): only a request that could not be sent; modelled as one retry
		PoolOrder:            LIFO,                      // assumption
		// haproxy configuration.txt, http-reuse: safe by default, a client
		// connection's first request on a new server connection (measured:
		// HAProxy 2.6.12 sends none on a reused one).
		Reuse: ReuseSafe,
		// haproxy src/http_ana.c http_wait_for_response: a read error on a
		// request not the first of its client connection (TX_NOT_FIRST)
		// goes to abort_keep_alive: the client connection closes with no
		// response and no log line (measured: HAProxy 2.6.12, client EOF).
		SilentCloseOnLaterRequest: true,
	},
	"envoy": {
		Name:                 "envoy",
		ClientKeepAlive:      time.Hour,                     // Envoy timeout FAQ: HTTP connection manager idle_timeout 1 h
		BackendIdleTimeout:   time.Hour,                     // Envoy timeout FAQ: cluster idle_timeout 1 h
		RequestTimeout:       15 * time.Second,              // assumption: route timeout default 15 s (Envoy docs)
		ClientRequestTimeout: 5 * time.Minute,               // Envoy timeout FAQ: stream_idle_timeout 5 min (request_timeout and request_headers_timeout off by default)
		TimeoutStatus:        http.StatusGatewayTimeout,     // Envoy: 504 UT
		RaceStatus:           http.StatusServiceUnavailable, // Envoy: 503 UC (upstream connection termination)
		ClientClosedStatus:   0,                             // assumption: logged as 0 (DC)
		Retry:                RetryNone,                     // Envoy timeout FAQ: none unless retry_on reset / reset-before-request
		PoolOrder:            LIFO,                          // assumption: not documented
	},
	"traefik": {
		Name:                 "traefik",
		ClientKeepAlive:      180 * time.Second,         // Traefik reference: entryPoints respondingTimeouts.idleTimeout 180 s
		BackendIdleTimeout:   90 * time.Second,          // Traefik reference: serversTransport idleConnTimeout 90 s
		RequestTimeout:       time.Hour,                 // assumption: no response time-out by default (responseHeaderTimeout 0); modelled as 1 h
		ClientRequestTimeout: 60 * time.Second,          // assumption: Traefik reference: entryPoints respondingTimeouts.readTimeout 60 s; the 408 is an assumption
		TimeoutStatus:        http.StatusGatewayTimeout, // Traefik: 504 if a time-out is set
		RaceStatus:           http.StatusBadGateway,     // Traefik: 502
		ClientClosedStatus:   499,                       // assumption: Traefik logs 499 (no vendor document found)
		Retry:                RetryIdempotent,           // Go http.Transport replays idempotent requests on a reused connection
		PoolOrder:            LIFO,                      // Go http.Transport reuses the most recent idle connection
	},
	"caddy": {
		Name:                 "caddy",
		ClientKeepAlive:      5 * time.Minute,           // assumption: no document found; Caddy's server idle_timeout default 5 min
		BackendIdleTimeout:   2 * time.Minute,           // caddy reverseproxy defaults: keepalive idle 2 min
		RequestTimeout:       time.Hour,                 // assumption: no response time-out by default; modelled as 1 h
		ClientRequestTimeout: time.Minute,               // assumption: caddy server read_header_timeout 1 min; no body time-out is modelled as the same
		TimeoutStatus:        http.StatusGatewayTimeout, // assumption: caddy statusError maps a time-out to 504
		RaceStatus:           http.StatusBadGateway,     // caddy: 502
		ClientClosedStatus:   499,                       // assumption: caddy's statusError uses 499 for a client gone
		Retry:                RetryIdempotent,           // Go http.Transport replays idempotent requests on a reused connection
		PoolOrder:            LIFO,                      // Go http.Transport reuses the most recent idle connection
	},
	"cloudflare": {
		Name:                 "cloudflare",
		ClientKeepAlive:      400 * time.Second, // Cloudflare connection limits: client keep-alive 400 s
		BackendIdleTimeout:   900 * time.Second, // Cloudflare connection limits: origin idle 900 s
		RequestTimeout:       100 * time.Second, // assumption: the 100 s proxy read time-out (no vendor document found)
		ClientRequestTimeout: 100 * time.Second, // assumption: not documented: the 100 s proxy read time-out
		TimeoutStatus:        524,               // Cloudflare: 524
		RaceStatus:           520,               // Cloudflare: 52x; assumption: 520 (empty or unexpected response)
		ClientClosedStatus:   0,                 // assumption: not modelled
		Retry:                RetryNone,         // assumption: n/d, modelled as none
		PoolOrder:            LIFO,              // assumption: not documented
	},
}

// profileSources is the same as the comments above, as data for `gwsim
// presets`. A test checks every preset names a source for every field.
var profileSources = map[string][]Source{
	"appgw-v1": {
		doc(fClientKA, "Application Gateway FAQ: keep-alive timeout, V1 120 s"),
		doc(fIdle, "not fixed for V1 (seed article: set the backend to ~300 s or turn keep-alive off): modelled as no limit"),
		doc(fRequest, "Troubleshooting bad gateway errors: HTTP settings request time-out default 20 s"),
		doc(fClientReq, "http-response-codes: 408 when the client sends nothing for 60 s"),
		doc(fTimeout, "troubleshooting-502: V1 answers 502 at the request time-out"),
		doc(fOther, "troubleshooting-502: V1 tries no other member"),
		doc(fRace, "seed article: 502 when the backend closed a reused connection"),
		assume(fRetry, "not documented: modelled as none"),
		assume(fOrder, "not documented: LIFO"),
		doc(fClientGone, "http-response-codes: V1 logs 0 when the client closed first"),
		assume(fReuse, "not documented: any request on any idle connection (always)"),
		assume(fSilent, "not documented: the race status on every request"),
	},
	"appgw-v2": {
		doc(fClientKA, "Application Gateway FAQ: V2 75 s (a newer wording says 120 s for HTTP/1.1: override it)"),
		doc(fIdle, "seed article; azure-docs issue 119580 (not in Microsoft docs): 60 s"),
		doc(fRequest, "Troubleshooting bad gateway errors: HTTP settings request time-out default 20 s"),
		doc(fClientReq, "http-response-codes: 408 when the client sends nothing for 60 s"),
		doc(fTimeout, "http-response-codes: 504 after the second member"),
		doc(fOther, "troubleshooting-502: a timed-out request is tried on a second backend pool member"),
		doc(fRace, "monitoring data reference: 502 ERRORINFO_UPSTREAM_CLOSED_CONNECTION"),
		assume(fRetry, "not documented: modelled as none"),
		assume(fOrder, "not documented: LIFO"),
		doc(fClientGone, "http-response-codes: 499 ERRORINFO_CLIENT_CLOSED_REQUEST"),
		assume(fReuse, "not documented: any request on any idle connection (always)"),
		doc(fSilent, "monitoring data reference: 502 ERRORINFO_UPSTREAM_CLOSED_CONNECTION, whichever request of the client connection met it"),
	},
	"aws-alb": {
		doc(fClientKA, "ELB docs, ALB attributes: idle timeout 60 s (client keep-alive duration 3600 s caps a connection's life)"),
		doc(fIdle, "ELB docs, ALB attributes: idle timeout 60 s on target connections"),
		assume(fRequest, "no separate request time-out: the 60 s idle timeout bounds a silent target"),
		doc(fClientReq, "Troubleshoot ALB: 408 when the client sent no data before the 60 s idle timeout"),
		doc(fTimeout, "Troubleshoot ALB: 504"),
		assume(fOther, "not documented: no other member"),
		doc(fRace, "Troubleshoot ALB: 502, the target closed the connection with a TCP RST or FIN while the load balancer had an outstanding request"),
		doc(fRetry, "none documented"),
		assume(fOrder, "not documented: LIFO"),
		assume(fClientGone, "ALB access logs use 460 (no vendor document found)"),
		assume(fReuse, "not documented: any request on any idle connection (always)"),
		doc(fSilent, "Troubleshoot ALB: 502 whenever the target closed the connection with an outstanding request"),
	},
	"aws-clb": {
		doc(fClientKA, "CLB idle timeout 60 s"),
		doc(fIdle, "CLB idle timeout 60 s"),
		assume(fRequest, "the 60 s idle timeout bounds a silent backend"),
		assume(fClientReq, "not documented: the 60 s idle timeout"),
		doc(fTimeout, "CLB troubleshooting: 504"),
		assume(fOther, "not documented: no other member"),
		doc(fRace, "CLB troubleshooting: 504 when the backend closed the connection"),
		assume(fRetry, "n/d: modelled as none"),
		assume(fOrder, "not documented: LIFO"),
		assume(fClientGone, "not documented: logged 0"),
		assume(fReuse, "not documented: any request on any idle connection (always)"),
		assume(fSilent, "not documented: the race status on every request"),
	},
	"gcp-global": {
		doc(fClientKA, "GCP request distribution docs: client HTTP keep-alive 610 s"),
		doc(fIdle, "GCP request distribution docs: backend keep-alive 600 s, fixed; the backend must exceed it (620 s is common practice)"),
		doc(fRequest, "GCP: backend service timeout default 30 s"),
		assume(fClientReq, "not documented: 60 s like Application Gateway"),
		assume(fTimeout, "no document gives the status: 502 (statusDetails backend_timeout in third-party write-ups)"),
		assume(fOther, "not modelled: no other member"),
		doc(fRace, "GCP: 502 backend_connection_closed_before_data_sent_to_client"),
		assume(fRetry, "n/d: modelled as none"),
		assume(fOrder, "not documented: LIFO"),
		assume(fClientGone, "not documented: logged 0"),
		assume(fReuse, "not documented: any request on any idle connection (always)"),
		assume(fSilent, "not documented: the race status on every request"),
	},
	"nginx": {
		doc(fClientKA, "nginx docs: keepalive_timeout 75s"),
		doc(fIdle, "nginx docs: no upstream keepalive unless configured (proxy_http_version 1.0 before 1.30): a new connection per request, modelled as a 1 ns idle timeout"),
		doc(fRequest, "nginx docs: proxy_read_timeout 60s"),
		doc(fClientReq, "nginx docs: client_header_timeout and client_body_timeout 60s, 408"),
		doc(fTimeout, "nginx: 504"),
		doc(fOther, "nginx docs: proxy_next_upstream error timeout (default) passes a timed-out request to the next server"),
		doc(fRace, "nginx: 502 \"upstream prematurely closed connection\""),
		doc(fRetry, "nginx docs: proxy_next_upstream error timeout; not POST/PATCH/LOCK once sent"),
		assume(fOrder, "the upstream keepalive cache hands out the most recent connection first"),
		assume(fClientGone, "nginx's own 499 (no vendor document found)"),
		doc(fReuse, "nginx docs: without upstream keepalive no connection is kept, so the policy never applies"),
		doc(fSilent, "nginx answers 502 on any request of a client connection (measured: nginx 1.22.1)"),
	},
	"nginx-pooling": {
		doc(fClientKA, "nginx docs: keepalive_timeout 75s"),
		doc(fIdle, "nginx docs: upstream keepalive_timeout 60s, keepalive_requests 1000 (not modelled); assumption: nginx 1.30's default pooling (CHANGES-1.30: keepalive on by default in upstreams, proxy_http_version 1.1) uses these same values"),
		doc(fRequest, "nginx docs: proxy_read_timeout 60s"),
		doc(fClientReq, "nginx docs: client_header_timeout and client_body_timeout 60s, 408"),
		doc(fTimeout, "nginx: 504"),
		doc(fOther, "nginx docs: proxy_next_upstream error timeout (default)"),
		doc(fRace, "nginx: 502 \"upstream prematurely closed connection\""),
		doc(fRetry, "nginx docs: proxy_next_upstream error timeout; not POST/PATCH/LOCK once sent"),
		assume(fOrder, "most recently used first"),
		assume(fClientGone, "nginx's own 499 (no vendor document found)"),
		doc(fReuse, "nginx docs, upstream keepalive: any request takes a cached connection (always; measured: nginx 1.22.1 reuses for a client connection's first request)"),
		doc(fSilent, "nginx answers 502 on any request of a client connection (measured: nginx 1.22.1)"),
	},
	"haproxy": {
		assume(fClientKA, "timeout http-keep-alive has no default and falls back to timeout client: 50 s in Debian's shipped haproxy.cfg"),
		doc(fIdle, "haproxy configuration.txt: no dedicated idle timer; the pool purge is not modelled: no limit"),
		assume(fRequest, "timeout server has no default: 50 s in Debian's shipped haproxy.cfg"),
		assume(fClientReq, "timeout http-request has no default and falls back to timeout client: 50 s in Debian's shipped haproxy.cfg; 408"),
		doc(fTimeout, "haproxy: 504 (termination flags sH)"),
		assume(fOther, "option redispatch is off by default: no other member"),
		doc(fRace, "haproxy: 502 (termination flags SH)"),
		doc(fRetry, "haproxy configuration.txt: retries 3, retry-on conn-failure (empty-response is opt-in): only a request that could not be sent is retried; modelled as one retry"),
		assume(fOrder, "not documented: LIFO"),
		assume(fClientGone, "not modelled: logged 0"),
		doc(fReuse, "haproxy configuration.txt, http-reuse: safe by default, a client connection's first request always on a new server connection (measured: HAProxy 2.6.12 sends none on a reused one)"),
		doc(fSilent, "haproxy src/http_ana.c http_wait_for_response: a read error on a request not the first of its client connection (TX_NOT_FIRST) goes to abort_keep_alive, a close with no response and no log line (measured: HAProxy 2.6.12, the client sees EOF)"),
	},
	"envoy": {
		doc(fClientKA, "Envoy timeout FAQ: connection manager idle_timeout 1 h"),
		doc(fIdle, "Envoy timeout FAQ: cluster idle_timeout 1 h"),
		assume(fRequest, "route timeout default 15 s (Envoy docs)"),
		doc(fClientReq, "Envoy timeout FAQ: stream_idle_timeout 5 min (request_timeout and request_headers_timeout off by default)"),
		doc(fTimeout, "Envoy: 504 UT"),
		assume(fOther, "no retry policy by default: no other member"),
		doc(fRace, "Envoy: 503 UC (upstream connection termination)"),
		doc(fRetry, "Envoy timeout FAQ: none unless retry_on reset or reset-before-request"),
		assume(fOrder, "not documented: LIFO"),
		assume(fClientGone, "logged 0 (DC)"),
		assume(fReuse, "not documented: any request on any idle connection (always)"),
		doc(fSilent, "Envoy: 503 UC on any request of the downstream connection"),
	},
	"traefik": {
		doc(fClientKA, "Traefik reference: entryPoints respondingTimeouts.idleTimeout 180 s"),
		doc(fIdle, "Traefik reference: serversTransport idleConnTimeout 90 s"),
		assume(fRequest, "no response time-out by default (responseHeaderTimeout 0): modelled as 1 h"),
		assume(fClientReq, "Traefik reference: entryPoints respondingTimeouts.readTimeout 60 s; the 408 is an assumption"),
		doc(fTimeout, "Traefik: 504 if a time-out is set"),
		assume(fOther, "no other member"),
		doc(fRace, "Traefik: 502"),
		doc(fRetry, "Go http.Transport replays idempotent requests that fail on a reused connection"),
		doc(fOrder, "Go http.Transport reuses the most recent idle connection"),
		assume(fClientGone, "Traefik logs 499 (no vendor document found)"),
		doc(fReuse, "Go http.Transport: any request on any idle connection (always)"),
		doc(fSilent, "Go httputil.ReverseProxy answers 502 on any request"),
	},
	"caddy": {
		assume(fClientKA, "no document found: Caddy's server idle_timeout default 5 min"),
		doc(fIdle, "caddy reverseproxy defaults: keep-alive idle 2 min"),
		assume(fRequest, "no response time-out by default: modelled as 1 h"),
		assume(fClientReq, "caddy server read_header_timeout 1 min; no body time-out is modelled as the same"),
		assume(fTimeout, "caddy statusError maps a time-out to 504"),
		assume(fOther, "no other member"),
		doc(fRace, "caddy: 502"),
		doc(fRetry, "Go http.Transport replays idempotent requests that fail on a reused connection"),
		doc(fOrder, "Go http.Transport reuses the most recent idle connection"),
		assume(fClientGone, "caddy's statusError uses 499 for a client gone"),
		doc(fReuse, "Go http.Transport: any request on any idle connection (always)"),
		doc(fSilent, "caddy answers 502 on any request"),
	},
	"cloudflare": {
		doc(fClientKA, "Cloudflare connection limits: client keep-alive 400 s"),
		doc(fIdle, "Cloudflare connection limits: origin idle 900 s"),
		assume(fRequest, "the 100 s proxy read time-out (no vendor document found)"),
		assume(fClientReq, "not documented: the 100 s proxy read time-out"),
		doc(fTimeout, "Cloudflare: 524"),
		assume(fOther, "no other member"),
		assume(fRace, "Cloudflare: 52x; 520 (an empty or unexpected response) chosen"),
		assume(fRetry, "n/d: modelled as none"),
		assume(fOrder, "not documented: LIFO"),
		assume(fClientGone, "not modelled: logged 0"),
		assume(fReuse, "not documented: any request on any idle connection (always)"),
		assume(fSilent, "not documented: the race status on every request"),
	},
}
