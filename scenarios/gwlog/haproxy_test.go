package gwlog

import (
	"testing"
	"time"
)

func TestHAProxy(t *testing.T) {
	recs := checkFixture(t, "haproxy.log", FormatHAProxy, []want{
		{1, ClassOK, 200, "2026-12-02T15:00:00.655Z", ""},
		{2, ClassRaceLikely, 502, "2026-12-02T15:00:05.001Z", "10.0.0.2:41234|app/srv1"},
		{3, ClassBackendTimeout, 504, "2026-12-02T15:00:06.000Z", ""},
		{4, ClassNoBackend, 503, "2026-12-02T15:00:07.000Z", ""},
		{5, ClassNoBackend, 503, "2026-12-02T15:00:08.000Z", ""},
		{6, ClassOther, 200, "2026-12-02T15:00:09.000Z", ""},
		{7, ClassOther, 0, "2026-12-02T15:00:10.000Z", ""},
	}, 0, "")
	if r := recs[0]; r.Duration != 109*time.Millisecond || r.UpstreamDuration != 69*time.Millisecond || r.Upstream != "static/srv1" || r.URI != "/index.html" || r.SentBytes != 2750 {
		t.Errorf("record %+v", r)
	}
	if r := recs[1]; r.SourcePort != 41234 || r.Upstream != "10.0.0.10:8080" || r.UpstreamDuration >= 0 ||
		r.Evidence != "status=502 termination_state=SH (the server aborted before sending its full response headers)" {
		t.Errorf("race record %+v", r)
	}
}
