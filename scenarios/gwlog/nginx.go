package gwlog

// nginx as the gateway: its error log, or its access log with the
// upstream variables.
//
// Error log. A line is `YYYY/MM/DD HH:MM:SS [level] pid#tid: *conn message,
// client: ..., server: ..., request: "...", upstream: "...", host: "..."`.
// Lines at [error], [crit], [alert] or [emerg] whose message is about an
// upstream become Records (ErrorLog set, Status 0, Time the line's time,
// Duration 0 so End is the same instant, Upstream from `upstream:`); other
// well-formed lines (start-up notices, a missing favicon, [warn] and
// [info]) are neither Records nor skipped. nginx writes the server's local
// time with no zone: we read it as UTC, so a log from a server not on UTC
// is shifted by its offset.
//
// Messages and their class, from nginx's source
// (src/http/ngx_http_upstream.c, src/http/modules/ngx_http_proxy_module.c,
// src/os/unix/ngx_recv.c, ngx_writev_chain.c) and
// https://nginx.org/en/docs/http/ngx_http_upstream_module.html :
//   - "upstream prematurely closed connection while reading response
//     header from upstream" (recv() returned 0 before a status line),
//     "recv() failed (104: Connection reset by peer) while reading
//     response header from upstream", and a write into a closed
//     connection: "writev() failed (32: Broken pipe) ..." or "(104:
//     Connection reset by peer) while sending request to upstream" →
//     keepalive-race-likely: the backend closed or reset before any
//     response.
//   - "upstream timed out (110: ...) while reading response header" or
//     "while sending request" → backend-timeout; "upstream timed out ...
//     while connecting to upstream" is a connect time-out → no-live-backend
//     (the backend did not accept the connection).
//   - "no live upstreams", "connect() failed (111: Connection refused)"
//     (and any connect() failure) → no-live-backend.
//   - "upstream sent no valid HTTP/1.0 header": ngx_http_proxy_process_status_line
//     logs it when the bytes the upstream sent are not a status line
//     (ngx_http_parse_status_line returned NGX_ERROR): the backend did
//     answer, with garbage; not the race → other. So are "upstream sent
//     invalid header", "upstream prematurely closed connection while
//     reading upstream" (mid-body: a response had begun), and any other
//     upstream message.
//
// Access log. Accepted: nginx's predefined "combined" format
//   $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
// (or "common", without the last two), optionally followed by quoted
// fields (the stock nginx.conf "main" format's "$http_x_forwarded_for")
// and then either
//   - key=value pairs in any order, values bare or quoted:
//     upstream_addr= (or ua=, upstream=), upstream_status= (us=),
//     request_time= (rt=), upstream_response_time= (urt=),
//     upstream_header_time= (uht=), upstream_connect_time= (uct=);
//   - or, positionally: $upstream_addr $upstream_status
//     $upstream_response_time $request_time.
// A line without them is a Record with Upstream empty. Where nginx tried
// several upstreams ("10.0.0.1:80, 10.0.0.2:80", groups split by " : "),
// the last one is the one the client's answer came from.
// $time_local is when the line was written: Time = $time_local −
// $request_time when $request_time is logged.
//
// Access-log classes: 499 → other (nginx's "client closed request"); 504 →
// backend-timeout (nginx's answer to proxy_read_timeout); 502 with no
// upstream address → no-live-backend; any other 5xx → other: the access
// log does not say whether a 502 was a close, a reset or a refusal; the
// error log does.

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

type nginxLineParser struct{}

var (
	nginxErrorPattern  = regexp.MustCompile(`^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(\w+)\] (\d+)#(\d+): (?:\*(\d+) )?(.*)$`)
	nginxAccessPattern = regexp.MustCompile(`^(\S+) (\S+) (\S+) \[(\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?(.*)$`)
	nginxContextField  = regexp.MustCompile(`(?:^|, )(\w+): ("(?:[^"\\]|\\.)*"|[^,]*)`)
)

func (nginxLineParser) parseLine(line string) (Record, lineVerdict, string) {
	if m := nginxErrorPattern.FindStringSubmatch(line); m != nil {
		return parseNginxError(m)
	}
	if m := nginxAccessPattern.FindStringSubmatch(line); m != nil {
		return parseNginxAccess(m)
	}
	return Record{}, lineSkipped, "neither an nginx error-log line nor a combined access-log line"
}

// nginxRecordLevels are the error-log levels whose upstream events are
// Records.
var nginxRecordLevels = map[string]bool{"error": true, "crit": true, "alert": true, "emerg": true}

func parseNginxError(m []string) (Record, lineVerdict, string) {
	at, err := time.Parse("2006/01/02 15:04:05", m[1])
	if err != nil {
		return Record{}, lineSkipped, fmt.Sprintf("time %q: %v", m[1], err)
	}
	message, context, _ := strings.Cut(m[6], ", client: ")
	context = "client: " + context
	ctx := map[string]string{}
	for _, kv := range nginxContextField.FindAllStringSubmatch(context, -1) {
		ctx[kv[1]] = strings.Trim(kv[2], `"`)
	}
	if !nginxRecordLevels[m[2]] || !strings.Contains(m[6], "upstream") {
		return Record{}, lineIgnored, ""
	}
	rec := newRecord()
	rec.ErrorLog = true
	rec.Time = at.UTC()
	rec.Duration = 0
	rec.Method, rec.URI = splitRequestLine(ctx["request"])
	if u := ctx["upstream"]; u != "" {
		rec.Upstream = upstreamHost(u)
	}
	rec.Class = classifyNginxError(message)
	rec.Evidence = fmt.Sprintf("[%s] %s", m[2], message)
	if rec.Upstream != "" {
		rec.Evidence += fmt.Sprintf(`, upstream: "%s"`, ctx["upstream"])
	}
	return rec, lineRecord, ""
}

// upstreamHost is host:port of nginx's `upstream: "http://10.0.0.1:8081/x"`.
func upstreamHost(u string) string {
	if _, rest, ok := strings.Cut(u, "://"); ok {
		u = rest
	}
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[:i]
	}
	return u
}

func classifyNginxError(message string) Class {
	headerPhase := strings.Contains(message, "while reading response header from upstream")
	sendPhase := strings.Contains(message, "while sending request to upstream")
	connectPhase := strings.Contains(message, "while connecting to upstream")
	switch {
	case strings.Contains(message, "upstream timed out"):
		if connectPhase {
			return ClassNoBackend
		}
		return ClassBackendTimeout
	case strings.Contains(message, "no live upstreams"),
		strings.Contains(message, "connect() failed"),
		strings.Contains(message, "(111: Connection refused)"):
		return ClassNoBackend
	case strings.Contains(message, "upstream prematurely closed connection") && headerPhase,
		strings.Contains(message, "(104: Connection reset by peer)") && (headerPhase || sendPhase),
		strings.Contains(message, "(32: Broken pipe)") && sendPhase:
		return ClassRaceLikely
	}
	return ClassOther
}

func parseNginxAccess(m []string) (Record, lineVerdict, string) {
	written, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[4])
	if err != nil {
		return Record{}, lineSkipped, fmt.Sprintf("time %q: %v", m[4], err)
	}
	rec := newRecord()
	rec.Status = parseStatus(m[6])
	rec.Method, rec.URI = splitRequestLine(m[5])
	rec.SentBytes = parseBytes(m[7])
	up := parseNginxUpstreamFields(m[10])
	rec.Time = written.UTC()
	if d, ok := parseSeconds(up["request_time"]); ok {
		rec.Duration = d
		rec.Time = written.Add(-d).UTC()
	}
	addr := lastUpstreamValue(up["upstream_addr"])
	if addr != "-" {
		rec.Upstream = addr
	}
	rec.UpstreamStatus = parseStatus(lastUpstreamValue(up["upstream_status"]))
	rec.UpstreamDuration, _ = parseSeconds(lastUpstreamValue(up["upstream_response_time"]))
	rec.Class, rec.Evidence = classifyNginxAccess(rec, up)
	return rec, lineRecord, ""
}

// nginxKeys maps the key=value names in use to the variables.
var nginxKeys = map[string]string{
	"upstream_addr": "upstream_addr", "ua": "upstream_addr", "upstream": "upstream_addr",
	"upstream_status": "upstream_status", "us": "upstream_status",
	"request_time": "request_time", "rt": "request_time",
	"upstream_response_time": "upstream_response_time", "urt": "upstream_response_time",
	"upstream_header_time": "upstream_header_time", "uht": "upstream_header_time",
	"upstream_connect_time": "upstream_connect_time", "uct": "upstream_connect_time",
}

// nginxPositional is the order of the positional variant.
var nginxPositional = []string{"upstream_addr", "upstream_status", "upstream_response_time", "request_time"}

// parseNginxUpstreamFields reads what follows "$http_user_agent".
func parseNginxUpstreamFields(tail string) map[string]string {
	values := map[string]string{}
	fields := splitFields(tail)
	for len(fields) > 0 && fields[0].kind == '"' {
		fields = fields[1:] // "$http_x_forwarded_for" and the like
	}
	keyed := false
	for _, f := range fields {
		if k, _, ok := strings.Cut(f.text, "="); ok && f.kind == 0 && nginxKeys[k] != "" {
			keyed = true
		}
	}
	if keyed {
		current := ""
		for _, f := range fields {
			if k, v, ok := strings.Cut(f.text, "="); ok && f.kind == 0 && !strings.Contains(k, ",") {
				current = nginxKeys[k]
				if current != "" {
					values[current] = strings.Trim(v, `"`)
				}
				continue
			}
			if current != "" { // "10.0.0.1:80, 10.0.0.2:80" split by a space
				values[current] += " " + f.text
			}
		}
		return values
	}
	// Positional: rejoin "a, b" and "a : b" lists split by spaces.
	var joined []string
	for _, f := range fields {
		n := len(joined)
		if n > 0 && (strings.HasSuffix(joined[n-1], ",") || strings.HasSuffix(joined[n-1], " :") || f.text == ":") {
			joined[n-1] += " " + f.text
			continue
		}
		joined = append(joined, f.text)
	}
	for i, v := range joined {
		if i < len(nginxPositional) {
			values[nginxPositional[i]] = v
		}
	}
	return values
}

// lastUpstreamValue is the last of nginx's list "a, b : c".
func lastUpstreamValue(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.LastIndex(v, ", "); i >= 0 {
		v = v[i+2:]
	}
	if i := strings.LastIndex(v, " : "); i >= 0 {
		v = v[i+3:]
	}
	return strings.TrimSpace(v)
}

func classifyNginxAccess(rec Record, up map[string]string) (Class, string) {
	evidence := fmt.Sprintf("status=%d", rec.Status)
	for _, k := range []string{"upstream_addr", "upstream_status", "upstream_header_time", "upstream_response_time"} {
		if v, ok := up[k]; ok {
			evidence += fmt.Sprintf(" %s=%s", k, v)
		}
	}
	_, logsUpstream := up["upstream_addr"]
	switch {
	case rec.Status == 499:
		return ClassOther, evidence + " (the client closed the connection before the response)"
	case rec.Status < 500:
		return ClassOK, ""
	case rec.Status == 504:
		return ClassBackendTimeout, evidence
	case rec.Status == 502 && logsUpstream && (rec.Upstream == "" || portOf(rec.Upstream) == 0 && !strings.HasPrefix(rec.Upstream, "unix:")):
		return ClassNoBackend, evidence + " (no upstream server address: no live upstreams)"
	case rec.Status == 502:
		return ClassOther, evidence + " (the access log does not say why; the error log does)"
	}
	return ClassOther, evidence
}
