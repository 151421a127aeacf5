package gwlog

// Envoy access logs.
//
// Accepted:
//   - Envoy's default format (unchanged from v1.5 to the current docs,
//     https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage#default-format-string,
//     envoyproxy/envoy docs/root/configuration/observability/access_log/usage.rst):
//     [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
//     %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
//     %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
//     "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
//   - the same with "%UPSTREAM_LOCAL_ADDRESS%" appended (quoted), which
//     gives Conn = local address + "|" + upstream host and SourcePort;
//   - Istio's proxy format, which inserts %RESPONSE_CODE_DETAILS%
//     %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%"
//     after the flags and appends %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS%
//     %DOWNSTREAM_LOCAL_ADDRESS% ... (bare): its upstream local address is
//     used the same way.
//
// Time = START_TIME (request start, ms), Duration = DURATION (ms),
// UpstreamDuration = x-envoy-upstream-service-time (ms).
//
// Classes from %RESPONSE_FLAGS% (same page, "RESPONSE_FLAGS"):
//   - UC "Upstream connection termination in addition to 503 response
//     code" with a 5xx (no response began) → keepalive-race-likely; UC with
//     another code is a close mid-response → other;
//   - UT "Upstream request timeout in addition to 504" → backend-timeout;
//   - UH "No healthy upstream hosts" and UF "Upstream connection failure"
//     → no-live-backend;
//   - DC "Downstream connection termination" → other (client reset);
//   - UR "Upstream remote reset" → other: the docs do not say when Envoy
//     reports a reset of an HTTP/1.1 connection as UR rather than UC (in
//     our reading of the codec, a TCP close or reset of an HTTP/1.1
//     upstream is a connection termination, UC; UR is a stream reset, as
//     HTTP/2's RST_STREAM);
//   - any other 5xx → other.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

type envoyLineParser struct{}

// envoyLinePattern recognises an Envoy line for auto-detection.
var envoyLinePattern = regexp.MustCompile(`^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)\] "`)

func (envoyLineParser) parseLine(line string) (Record, lineVerdict, string) {
	fields := splitFields(line)
	if len(fields) < 4 || fields[0].kind != '[' || fields[1].kind != '"' {
		return Record{}, lineSkipped, `not "[START_TIME] "METHOD PATH PROTOCOL" CODE FLAGS ..."`
	}
	start, err := time.Parse(time.RFC3339Nano, fields[0].text)
	if err != nil {
		return Record{}, lineSkipped, fmt.Sprintf("START_TIME %q is not RFC 3339", fields[0].text)
	}
	code, err := strconv.Atoi(fields[2].text)
	if err != nil {
		return Record{}, lineSkipped, fmt.Sprintf("RESPONSE_CODE %q is not a number", fields[2].text)
	}
	flags := fields[3].text
	rest := fields[4:]
	details := ""
	if len(rest) > 0 && !isDigits(rest[0].text) {
		// Istio: RESPONSE_CODE_DETAILS CONNECTION_TERMINATION_DETAILS "UPSTREAM_TRANSPORT_FAILURE_REASON"
		details = rest[0].text
		if len(rest) < 3 {
			return Record{}, lineSkipped, "too few fields after RESPONSE_FLAGS"
		}
		rest = rest[3:]
	}
	// BYTES_RECEIVED BYTES_SENT DURATION UPSTREAM-SERVICE-TIME "XFF" "UA" "ID" "AUTHORITY" "UPSTREAM_HOST"
	if len(rest) < 9 {
		return Record{}, lineSkipped, fmt.Sprintf("%d fields after RESPONSE_FLAGS, the default format has 9", len(rest))
	}
	rec := newRecord()
	rec.Time = start.UTC()
	rec.Method, rec.URI = splitRequestLine(fields[1].text)
	rec.Status = parseStatus(fields[2].text) // 0: nothing was sent
	rec.ReceivedBytes = parseBytes(rest[0].text)
	rec.SentBytes = parseBytes(rest[1].text)
	rec.Duration, _ = parseMillis(rest[2].text)
	rec.UpstreamDuration, _ = parseMillis(rest[3].text)
	upstream := strings.TrimPrefix(rest[8].text, "tcp://")
	if upstream != "-" {
		rec.Upstream = upstream
	}
	local := ""
	if extra := rest[9:]; len(extra) > 0 {
		switch {
		case extra[0].kind == '"':
			local = extra[0].text // "%UPSTREAM_LOCAL_ADDRESS%" appended
		case len(extra) > 1 && details != "":
			local = extra[1].text // Istio: UPSTREAM_CLUSTER UPSTREAM_LOCAL_ADDRESS ...
		}
	}
	if local != "" && local != "-" && rec.Upstream != "" {
		rec.SourcePort = portOf(local)
		rec.Conn = local + "|" + rec.Upstream
	}
	rec.Class, rec.Evidence = classifyEnvoy(code, flags, details)
	return rec, lineRecord, ""
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func classifyEnvoy(code int, flags, details string) (Class, string) {
	evidence := fmt.Sprintf("response_code=%d response_flags=%s", code, flags)
	if details != "" && details != "-" {
		evidence += " response_code_details=" + details
	}
	has := map[string]bool{}
	for _, f := range strings.Split(flags, ",") {
		has[f] = true
	}
	switch {
	case has["UC"] && code >= 500:
		return ClassRaceLikely, evidence + " (upstream connection termination before a response)"
	case has["UT"]:
		return ClassBackendTimeout, evidence
	case has["UH"], has["UF"]:
		return ClassNoBackend, evidence
	case has["DC"]:
		return ClassOther, evidence + " (downstream connection termination: the client left)"
	case has["UC"]:
		return ClassOther, evidence + " (upstream connection termination after the response began)"
	case code >= 500:
		return ClassOther, evidence
	case code == 0:
		return ClassOther, evidence + " (no response was sent)"
	}
	return ClassOK, ""
}
