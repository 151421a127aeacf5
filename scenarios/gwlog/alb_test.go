package gwlog

import (
	"testing"
	"time"
)

func TestALB(t *testing.T) {
	recs := checkFixture(t, "alb.log", FormatALB, []want{
		{1, ClassOK, 200, "2018-07-02T22:22:48.364Z", ""},
		{2, ClassOK, 200, "2018-07-02T22:22:48.364Z", ""},
		{3, ClassRaceLikely, 502, "2026-12-02T15:00:10.001Z", ""},
		{4, ClassBackendTimeout, 504, "2026-12-02T15:00:10.002Z", ""},
		{5, ClassNoBackend, 503, "2026-12-02T15:00:11.000Z", ""},
		{6, ClassNoBackend, 502, "2026-12-02T15:00:12.000Z", ""},
		{7, ClassOther, 500, "2026-12-02T15:00:13.010Z", ""},
		{8, ClassOther, 460, "2026-12-02T15:00:13.000Z", ""},
		{9, ClassOther, 502, "2018-11-30T22:22:48.364Z", ""},
	}, 2, "alb.log:10: 7 fields, an ALB entry has at least 14")
	race := recs[2]
	if race.Evidence != "elb_status_code=502 target_status_code=- target=10.0.0.1:80 request_processing_time=0.000 target_processing_time=-1 response_processing_time=-1" {
		t.Errorf("evidence %q", race.Evidence)
	}
	if race.Duration != 3*time.Millisecond || race.UpstreamDuration >= 0 || race.Upstream != "10.0.0.1:80" ||
		race.Method != "POST" || race.URI != "http://www.example.com:80/api" || race.ReceivedBytes != 120 {
		t.Errorf("race record %+v", race)
	}
	if recs[4].Upstream != "" || recs[6].UpstreamStatus != 500 || recs[6].UpstreamDuration != 40*time.Millisecond {
		t.Errorf("records %+v %+v", recs[4], recs[6])
	}
}
