package gwlog

import (
	"testing"
	"time"
)

func TestGCPArray(t *testing.T) {
	recs := checkFixture(t, "gcp.json", FormatAuto, []want{
		{2, ClassOK, 200, "2026-12-02T15:00:00.100Z", ""},
		{22, ClassRaceLikely, 502, "2026-12-02T15:00:05.000Z", ""},
		{27, ClassBackendTimeout, 504, "2026-12-02T15:00:06.000Z", ""},
		{32, ClassNoBackend, 502, "2026-12-02T15:00:07.000Z", ""},
		{37, ClassOK, 200, "2026-12-02T15:00:08.000Z", ""},
	}, 0, "")
	if r := recs[0]; r.Duration != 12345*time.Microsecond || r.Upstream != "10.128.0.2" || r.Method != "GET" ||
		r.URI != "https://www.example.com/" || r.ReceivedBytes != 75 || r.SentBytes != 1090 {
		t.Errorf("record %+v", r)
	}
	if r := recs[1]; r.Evidence != "status=502 statusDetails=backend_connection_closed_before_data_sent_to_client" {
		t.Errorf("evidence %q", r.Evidence)
	}
}

func TestGCPLines(t *testing.T) {
	checkFixture(t, "gcp.jsonl", FormatAuto, []want{
		{1, ClassRaceLikely, 502, "2026-12-02T15:10:00.000Z", ""},
		{2, ClassOK, 200, "2026-12-02T15:10:01.000Z", ""},
	}, 1, "gcp.jsonl:3: bad JSON: invalid character 'b' looking for beginning of value")
}
