package gwlog

import (
	"testing"
	"time"
)

func TestEnvoy(t *testing.T) {
	recs := checkFixture(t, "envoy.log", FormatEnvoy, []want{
		{1, ClassOK, 204, "2016-04-15T20:17:00.310Z", ""},
		{2, ClassRaceLikely, 503, "2026-12-02T15:00:05.000Z", "127.0.0.1:50312|127.0.0.1:8081"},
		{3, ClassBackendTimeout, 504, "2026-12-02T15:00:06.000Z", "127.0.0.1:50313|127.0.0.1:8081"},
		{4, ClassNoBackend, 503, "2026-12-02T15:00:07.000Z", ""},
		{5, ClassNoBackend, 503, "2026-12-02T15:00:08.000Z", ""},
		{6, ClassOther, 0, "2026-12-02T15:00:09.000Z", ""},
		{7, ClassOther, 500, "2026-12-02T15:00:10.000Z", ""},
		{8, ClassRaceLikely, 503, "2026-12-02T15:00:11.123Z", "10.44.1.23:37652|10.44.1.27:9080"}, // Istio
	}, 1, `envoy.log:9: not "[START_TIME] "METHOD PATH PROTOCOL" CODE FLAGS ..."`)
	if r := recs[0]; r.Duration != 226*time.Millisecond || r.UpstreamDuration != 100*time.Millisecond || r.Upstream != "10.0.2.1:80" ||
		r.Method != "POST" || r.URI != "/api/v1/locations" || r.ReceivedBytes != 154 || r.SentBytes != 0 {
		t.Errorf("record %+v", r)
	}
	if r := recs[1]; r.SourcePort != 50312 || r.Evidence != "response_code=503 response_flags=UC (upstream connection termination before a response)" {
		t.Errorf("race record %+v", r)
	}
}

func TestClassifyEnvoy(t *testing.T) {
	tests := []struct {
		code  int
		flags string
		want  Class
	}{
		{503, "UC", ClassRaceLikely},
		{200, "UC", ClassOther},
		{504, "UT", ClassBackendTimeout},
		{503, "UH", ClassNoBackend},
		{503, "UF", ClassNoBackend},
		{503, "UR", ClassOther},
		{0, "DC", ClassOther},
		{200, "-", ClassOK},
		{404, "NR", ClassOK},
	}
	for _, tt := range tests {
		if got, _ := classifyEnvoy(tt.code, tt.flags, ""); got != tt.want {
			t.Errorf("%d %s: %q, want %q", tt.code, tt.flags, got, tt.want)
		}
	}
}
