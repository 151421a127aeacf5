package gwlog

import (
	"testing"
	"time"
)

func TestNginxErrorLog(t *testing.T) {
	recs := checkFixture(t, "nginx-error.log", FormatNginx, []want{
		{2, ClassRaceLikely, 0, "2026-12-02T15:00:05.000Z", ""},
		{3, ClassRaceLikely, 0, "2026-12-02T15:00:06.000Z", ""},
		{4, ClassRaceLikely, 0, "2026-12-02T15:00:07.000Z", ""},
		{5, ClassBackendTimeout, 0, "2026-12-02T15:01:07.000Z", ""},
		{6, ClassNoBackend, 0, "2026-12-02T15:01:08.000Z", ""},
		{7, ClassNoBackend, 0, "2026-12-02T15:01:09.000Z", ""},
		{8, ClassOther, 0, "2026-12-02T15:01:10.000Z", ""},
	}, 1, "nginx-error.log:11: neither an nginx error-log line nor a combined access-log line")
	first := recs[0]
	if !first.ErrorLog || first.Upstream != "127.0.0.1:8081" || first.Method != "GET" || first.URI != "/x" || first.Duration != 0 {
		t.Errorf("record %+v", first)
	}
	if end, ok := first.End(); !ok || !end.Equal(first.Time) {
		t.Errorf("End %v %v", end, ok)
	}
}

func TestNginxAccessLog(t *testing.T) {
	recs := checkFixture(t, "nginx-access.log", FormatAuto, []want{
		{1, ClassOK, 200, "2026-12-02T15:00:00.999Z", ""},
		{2, ClassOther, 502, "2026-12-02T15:00:04.998Z", ""},
		{3, ClassBackendTimeout, 504, "2026-12-02T15:00:06.998Z", ""}, // positional
		{4, ClassNoBackend, 502, "2026-12-02T15:01:09.000Z", ""},      // short keys
		{5, ClassOK, 200, "2026-12-02T15:01:09.994Z", ""},             // retried: two upstreams
		{6, ClassOther, 499, "2026-12-02T15:01:08.000Z", ""},
		{7, ClassOK, 304, "2026-12-02T15:01:12.000Z", ""}, // combined, no upstream fields
	}, 1, "nginx-access.log:8: neither an nginx error-log line nor a combined access-log line")
	if r := recs[2]; r.Upstream != "127.0.0.1:8081" || r.UpstreamStatus != 504 || r.Duration != 60002*time.Millisecond {
		t.Errorf("positional record %+v", r)
	}
	if r := recs[4]; r.Upstream != "127.0.0.1:8082" || r.UpstreamStatus != 200 || r.UpstreamDuration != 4*time.Millisecond {
		t.Errorf("retried record %+v", r)
	}
	if r := recs[6]; r.Upstream != "" || r.Duration >= 0 || r.SentBytes != 0 {
		t.Errorf("combined record %+v", r)
	}
}

func TestClassifyNginxError(t *testing.T) {
	tests := []struct {
		message string
		want    Class
	}{
		{"upstream prematurely closed connection while reading response header from upstream", ClassRaceLikely},
		{"upstream prematurely closed connection while reading upstream", ClassOther},
		{"recv() failed (104: Connection reset by peer) while reading response header from upstream", ClassRaceLikely},
		{"readv() failed (104: Connection reset by peer) while reading upstream", ClassOther},
		{"send() failed (104: Connection reset by peer) while sending request to upstream", ClassRaceLikely},
		{"writev() failed (32: Broken pipe) while sending request to upstream", ClassRaceLikely},
		{"upstream timed out (110: Connection timed out) while reading response header from upstream", ClassBackendTimeout},
		{"upstream timed out (110: Connection timed out) while connecting to upstream", ClassNoBackend},
		{"connect() failed (113: No route to host) while connecting to upstream", ClassNoBackend},
		{"upstream sent no valid HTTP/1.0 header while reading response header from upstream", ClassOther},
		{"upstream sent invalid header while reading response header from upstream", ClassOther},
	}
	for _, tt := range tests {
		if got := classifyNginxError(tt.message); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.message, got, tt.want)
		}
	}
}
