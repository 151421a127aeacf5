package gwlog

// HAProxy's `option httplog` lines.
//
// Accepted, with or without a syslog prefix ("Dec  2 15:00:00 localhost
// haproxy[123]: " or anything else before the client address):
//
//	client_ip:port [date] frontend backend/server TR/Tw/Tc/Tr/Ta status bytes_read
//	  req_cookie resp_cookie termination_state actconn/feconn/beconn/srv_conn/retries
//	  srv_queue/backend_queue [{captured request headers}] [{captured response headers}] "request"
//
// (HAProxy 1.x's Tq/Tw/Tc/Tr/Tt timers read the same way.) The default
// httplog does not log the gateway's own address toward the server; a
// log-format that appends ` bi=%bi bp=%bp` (and optionally ` si=%si
// sp=%sp`) after the request, e.g.
//
//	log-format "${HAPROXY_HTTP_LOG_FMT} bi=%bi bp=%bp si=%si sp=%sp"
//
// gives Conn = "bi:bp|backend/server" and SourcePort = bp (and Upstream =
// si:sp). The date is HAProxy's local time with no zone: read as UTC.
// Time = that date (ms), Duration = Ta (Tt), UpstreamDuration = Tr (-1:
// none).
//
// Classes come from the first two characters of the termination state,
// HAProxy configuration manual section 8.5 "Session state at
// disconnection" (https://docs.haproxy.org/3.0/configuration.html#8.5,
// haproxy/haproxy doc/configuration.txt):
//   - SH "The server aborted before sending its full HTTP response headers,
//     or it crashed while processing the request" → keepalive-race-likely;
//   - sH "The timeout server stroke before the server could return its
//     response headers" → backend-timeout;
//   - SC (the server refused the connection, or a connect error), sC
//     ("The timeout connect stroke before a connection to the server could
//     complete") and server <NOSRV> with a 5xx → no-live-backend;
//   - SD/sD ("The connection to the server died with an error during the
//     data transfer"): the response had begun, a reset mid-response is not
//     the race → other; C* (the client aborted) → other; any other 5xx →
//     other.
//
// What the log cannot show: HAProxy answers the race with a logged SH 502
// only on a client connection's first request. On a later request of a
// keep-alive client connection it closes the client connection without a
// response and writes no log line (measured with HAProxy 2.6.12 before
// Apache, scenarios/gatewaylogs_real_test.go), so a client that keeps
// its connections alive meets races this log does not count.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

type haproxyLineParser struct{}

// haproxyPrefixPattern finds "client:port [date] " wherever the syslog
// prefix ends.
var haproxyPrefixPattern = regexp.MustCompile(`(?:^|\s)(\S+:\d+) \[(\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d(?:\.\d+)?)\] `)

// haproxySyslogPattern recognises HAProxy's own syslog lines that are not
// requests ("haproxy[123]: Proxy http-in started.").
var haproxySyslogPattern = regexp.MustCompile(`\bhaproxy\[\d+\]: `)

func (haproxyLineParser) parseLine(line string) (Record, lineVerdict, string) {
	loc := haproxyPrefixPattern.FindStringSubmatchIndex(line)
	if loc == nil {
		if haproxySyslogPattern.MatchString(line) {
			return Record{}, lineIgnored, "" // "Proxy x started." and other events
		}
		return Record{}, lineSkipped, "no HAProxy `client:port [date]` start"
	}
	date := line[loc[4]:loc[5]]
	accepted, err := time.Parse("02/Jan/2006:15:04:05.999999999", date)
	if err != nil {
		return Record{}, lineSkipped, fmt.Sprintf("date %q: %v", date, err)
	}
	fields := splitFields(line[loc[1]:])
	// frontend backend/server timers status bytes cookie cookie state conns queues
	if len(fields) < 10 {
		return Record{}, lineSkipped, fmt.Sprintf("%d fields after the date, httplog has at least 10", len(fields))
	}
	backend, server, ok := strings.Cut(fields[1].text, "/")
	if !ok {
		return Record{}, lineSkipped, fmt.Sprintf("%q is not backend/server", fields[1].text)
	}
	timers := strings.Split(fields[2].text, "/")
	if len(timers) != 5 {
		return Record{}, lineSkipped, fmt.Sprintf("timers %q are not TR/Tw/Tc/Tr/Ta", fields[2].text)
	}
	status, err := strconv.Atoi(fields[3].text)
	if err != nil {
		return Record{}, lineSkipped, fmt.Sprintf("status %q is not a number", fields[3].text)
	}
	state := fields[7].text
	if len(state) < 2 {
		return Record{}, lineSkipped, fmt.Sprintf("termination state %q is too short", state)
	}
	rec := newRecord()
	rec.Time = accepted.UTC()
	rec.Duration, _ = parseMillis(timers[4])
	rec.UpstreamDuration, _ = parseMillis(timers[3])
	rec.Status = parseStatus(fields[3].text) // -1 (no response) → 0
	rec.SentBytes = parseBytes(fields[4].text)
	if server != "<NOSRV>" {
		rec.Upstream = backend + "/" + server
	}
	extra := map[string]string{}
	for _, f := range fields[10:] {
		switch {
		case f.kind == '"' && rec.Method == "":
			rec.Method, rec.URI = splitRequestLine(f.text)
		case f.kind == 0:
			if k, v, ok := strings.Cut(f.text, "="); ok {
				extra[k] = v
			}
		}
	}
	if si, sp := extra["si"], extra["sp"]; si != "" && si != "-" && sp != "" && sp != "-" {
		rec.Upstream = si + ":" + sp
	}
	if bi, bp := extra["bi"], extra["bp"]; bi != "" && bi != "-" && portOf(":"+bp) > 0 {
		rec.SourcePort = portOf(":" + bp)
		rec.Conn = bi + ":" + bp + "|" + backend + "/" + server
	}
	rec.Class, rec.Evidence = classifyHAProxy(status, server, state[:2])
	return rec, lineRecord, ""
}

func classifyHAProxy(status int, server, state string) (Class, string) {
	evidence := fmt.Sprintf("status=%d termination_state=%s", status, state)
	if server == "<NOSRV>" {
		evidence += " server=<NOSRV>"
	}
	switch {
	case state[0] == 'C':
		return ClassOther, evidence + " (the client aborted)"
	case state == "SH":
		return ClassRaceLikely, evidence + " (the server aborted before sending its full response headers)"
	case state == "sH":
		return ClassBackendTimeout, evidence + " (timeout server before the response headers)"
	case state == "SC", state == "sC":
		return ClassNoBackend, evidence + " (no connection to the server)"
	case server == "<NOSRV>" && status >= 500:
		return ClassNoBackend, evidence
	case state == "SD", state == "sD":
		return ClassOther, evidence + " (the server connection died during the data transfer, after the response began)"
	case status >= 500:
		return ClassOther, evidence
	}
	return ClassOK, ""
}
