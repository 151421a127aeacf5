package gwlog

// GCP external Application Load Balancer logs, as Cloud Logging entries.
//
// Accepted: one LogEntry JSON object per line, or a JSON array of them as
// `gcloud logging read --format=json` prints (pretty-printed, spanning
// lines). An entry without httpRequest is about no request and is passed
// over. Fields used: timestamp, httpRequest.{requestMethod, requestUrl,
// status, latency ("0.123s"), requestSize, responseSize, serverIp},
// jsonPayload.statusDetails.
//
// Source: "External Application Load Balancer logging and monitoring",
// https://cloud.google.com/load-balancing/docs/https/https-logging-monitoring
// (the statusDetails tables):
//   - backend_connection_closed_before_data_sent_to_client "The backend
//     unexpectedly closed its connection to the load balancer before the
//     response was proxied to the client" (502, 503) → keepalive-race-likely;
//   - backend_timeout → backend-timeout;
//   - failed_to_connect_to_backend, failed_to_pick_backend → no-live-backend;
//   - client_disconnected_* and client_timed_out → other (the client);
//   - backend_connection_closed_after_partial_response_sent and any other
//     5xx → other.
//
// Time = timestamp. The page does not say whether an entry's timestamp is
// when the request arrived or when it was logged; we take it as the
// arrival, as the Record's contract states, and End = timestamp + latency.

import (
	"fmt"
	"strings"
	"time"
)

type gcpLineParser struct{}

func (gcpLineParser) parseLine(line string) (Record, lineVerdict, string) {
	if !strings.HasPrefix(line, "{") {
		return Record{}, lineSkipped, "not a JSON object"
	}
	value, err := decodeJSONLine(line)
	if err != nil {
		return Record{}, lineSkipped, "bad JSON: " + err.Error()
	}
	return recordFromJSON(FormatGCP, value)
}

func recordFromGCPEntry(entry map[string]any) (Record, lineVerdict, string) {
	req, ok := entry["httpRequest"].(map[string]any)
	if !ok {
		return Record{}, lineIgnored, "" // a log entry about no request
	}
	stamp := jsonString(entry["timestamp"])
	at, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		return Record{}, lineSkipped, fmt.Sprintf("timestamp %q is not RFC 3339", stamp)
	}
	rec := newRecord()
	rec.Time = at.UTC()
	rec.Method = jsonString(req["requestMethod"])
	rec.URI = jsonString(req["requestUrl"])
	rec.Status = parseStatus(jsonString(req["status"]))
	rec.Duration, _ = parseSeconds(jsonString(req["latency"]))
	rec.ReceivedBytes = parseBytes(jsonString(req["requestSize"]))
	rec.SentBytes = parseBytes(jsonString(req["responseSize"]))
	rec.Upstream = jsonString(req["serverIp"])
	details := ""
	if payload, ok := entry["jsonPayload"].(map[string]any); ok {
		details = jsonString(payload["statusDetails"])
	}
	rec.Class, rec.Evidence = classifyGCP(rec.Status, details)
	return rec, lineRecord, ""
}

func classifyGCP(status int, details string) (Class, string) {
	evidence := fmt.Sprintf("status=%d statusDetails=%s", status, details)
	switch {
	case details == "backend_connection_closed_before_data_sent_to_client":
		return ClassRaceLikely, evidence
	case details == "backend_timeout":
		return ClassBackendTimeout, evidence
	case details == "failed_to_connect_to_backend", details == "failed_to_pick_backend":
		return ClassNoBackend, evidence
	case strings.HasPrefix(details, "client_disconnected"), details == "client_timed_out":
		return ClassOther, evidence + " (the client left)"
	case status >= 500:
		return ClassOther, evidence
	}
	return ClassOK, ""
}
