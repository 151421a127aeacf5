package main

import (
	"encoding/json"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestAppGWLine: an access entry becomes Application Gateway V2's
// diagnostic record: its field names and types (clientPort and httpStatus
// numbers; serverStatus, serverResponseLatency and upstreamSourcePort
// strings), a UTC timestamp with milliseconds, seconds rounded to the
// millisecond, and no field gwsim does not know.
func TestAppGWLine(t *testing.T) {
	at := time.Date(2026, 12, 2, 15, 4, 5, 123456789, time.FixedZone("CET", 3600))
	line, err := appgwLine(at, []zap.Field{
		zap.String("clientIP", "127.0.0.1"), zap.String("clientPort", "50123"), zap.String("httpMethod", "GET"),
		zap.String("requestUri", "/x?y=1"), zap.Int("httpStatus", 502), zap.String("serverStatus", "-"),
		zap.String("serverRouted", "127.0.0.1:8081"), zap.String("upstreamSourcePort", "40001"),
		zap.Float64("timeTaken", 0.0123456), zap.Float64("serverResponseLatency", 0.0004),
		zap.Int64("receivedBytes", 78), zap.Int64("sentBytes", 123), zap.String("error_info", "ERRORINFO_UPSTREAM_CLOSED_CONNECTION"),
		zap.String("cause", "keepalive-race"), zap.Uint64("conn_id", 7), zap.Int("retries", 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	if line[len(line)-1] != '\n' {
		t.Fatalf("no newline: %q", line)
	}
	var rec map[string]any
	if err := json.Unmarshal(line, &rec); err != nil {
		t.Fatal(err)
	}
	if rec["timeStamp"] != "2026-12-02T14:04:05.123Z" || rec["category"] != "ApplicationGatewayAccessLog" || rec["operationName"] != "ApplicationGatewayAccess" {
		t.Errorf("envelope %v", rec)
	}
	p, _ := rec["properties"].(map[string]any)
	want := map[string]any{
		"instanceId": "gwsim_0", "clientIP": "127.0.0.1", "clientPort": 50123.0, "httpMethod": "GET", "requestUri": "/x?y=1",
		"httpStatus": 502.0, "httpVersion": "HTTP/1.1", "receivedBytes": 78.0, "sentBytes": 123.0, "timeTaken": 0.012,
		"serverRouted": "127.0.0.1:8081", "serverStatus": "-", "serverResponseLatency": "0.000", "upstreamSourcePort": "40001",
		"error_info": "ERRORINFO_UPSTREAM_CLOSED_CONNECTION",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("properties.%s = %#v, want %#v", k, p[k], v)
		}
	}
	if len(p) != len(want) {
		t.Errorf("properties has %d fields, want %d (no gwsim-only field such as cause): %v", len(p), len(want), p)
	}
}
