package gwlog

import (
	"strings"
	"testing"
	"time"
)

var appgwV2Wants = []want{
	{1, ClassOK, 200, "2026-12-02T15:00:00.500Z", "appgw_2|10.0.0.4:80|21564"},
	{3, ClassRaceLikely, 502, "2026-12-02T15:00:06.998Z", "appgw_2|10.0.0.4:80|21564"},
	{4, ClassBackendTimeout, 504, "2026-12-02T15:00:10.000Z", "appgw_3|10.0.0.5:80|30001"},
	{5, ClassNoBackend, 502, "2026-12-02T15:00:30.999Z", ""},
	{6, ClassOther, 500, "2026-12-02T15:00:31.990Z", "appgw_2|10.0.0.4:80|21570"},
	{7, ClassOther, 499, "2026-12-02T15:00:31.500Z", "appgw_2|10.0.0.4:80|21571"},
}

const appgwV2FirstSkipped = "appgw-v2.jsonl:9: not JSON, and no CSV header row (with HttpStatus) before it"

func TestAppGWDiagnosticJSONLines(t *testing.T) {
	recs := checkFixture(t, "appgw-v2.jsonl", FormatAppGW, appgwV2Wants, 2, appgwV2FirstSkipped)
	race := recs[1]
	if race.Evidence != "httpStatus=502 serverStatus=- error_info=ERRORINFO_UPSTREAM_CLOSED_CONNECTION" {
		t.Errorf("evidence %q", race.Evidence)
	}
	if race.Upstream != "10.0.0.4:80" || race.SourcePort != 21564 || race.Instance != "appgw_2" ||
		race.Method != "POST" || race.URI != "/api/orders" || race.ReceivedBytes != 300 || race.SentBytes != 0 ||
		race.Duration != 2*time.Millisecond || race.UpstreamDuration >= 0 {
		t.Errorf("race record %+v", race)
	}
	if ok := recs[0]; ok.UpstreamStatus != 200 || ok.UpstreamDuration != 28*time.Millisecond || ok.SentBytes != 466 {
		t.Errorf("ok record %+v", ok)
	}
}

func TestAppGWRecordsDocument(t *testing.T) {
	recs := checkFixture(t, "appgw-records.json", FormatAuto, []want{
		{3, ClassRaceLikely, 502, "2026-12-02T15:00:59.997Z", "appgw_1|10.0.0.6:8080|40123"},
		// V1: timeTaken in milliseconds, the backend in requestQuery.
		{18, ClassOK, 404, "2017-04-26T19:27:37.795Z", ""},
	}, 0, "")
	if v1 := recs[1]; v1.Upstream != "10.4.0.4" || v1.UpstreamStatus != 404 || v1.Duration != 205*time.Millisecond {
		t.Errorf("V1 record %+v", v1)
	}
}

func TestAppGWLogAnalyticsCSV(t *testing.T) {
	recs := checkFixture(t, "appgw-agwaccesslogs.csv", FormatAuto, []want{
		{2, ClassOK, 200, "2026-12-02T15:02:00.000Z", "appgw_0|10.0.0.7:80|50000"},
		{3, ClassRaceLikely, 502, "2026-12-02T15:02:09.996Z", "appgw_0|10.0.0.7:80|50000"},
		{4, ClassNoBackend, 502, "2026-12-02T15:02:10.999Z", ""},
		{5, ClassOK, 200, "2026-12-02T15:02:11.980Z", "appgw_0|10.0.0.7:80|50001"}, // a quoted field over two lines
	}, 1, `appgw-agwaccesslogs.csv:7: time "not a time" is not a time`)
	if recs[3].URI != "/multi\nline" {
		t.Errorf("URI %q", recs[3].URI)
	}
}

func TestAppGWLogAnalyticsJSON(t *testing.T) {
	checkFixture(t, "appgw-agwaccesslogs.json", FormatAuto, []want{
		{2, ClassOK, 200, "2026-12-02T15:03:00.000Z", "appgw_4|10.0.0.8:80|61000"},
		{3, ClassRaceLikely, 502, "2026-12-02T15:03:04.998Z", "appgw_4|10.0.0.8:80|61000"},
	}, 1, "appgw-agwaccesslogs.json:4: a JSON string where an object was expected")
}

func TestClassifyAppGW(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Class
	}{
		{"502 no server status, no error_info", `{"time":"2026-12-02T15:00:00Z","properties":{"httpStatus":502,"serverRouted":"10.0.0.1:80","serverStatus":"-","timeTaken":0.01}}`, ClassRaceLikely},
		{"502 from the backend", `{"time":"2026-12-02T15:00:00Z","properties":{"httpStatus":502,"serverRouted":"10.0.0.1:80","serverStatus":"502","timeTaken":0.01}}`, ClassOther},
		{"503 no server routed", `{"time":"2026-12-02T15:00:00Z","properties":{"httpStatus":503,"serverRouted":"","serverStatus":"","timeTaken":0.01}}`, ClassNoBackend},
		{"504 without error_info", `{"time":"2026-12-02T15:00:00Z","properties":{"httpStatus":504,"serverRouted":"10.0.0.1:80","timeTaken":20}}`, ClassBackendTimeout},
		{"V1 502 after the request time-out", `{"time":"2026-12-02T15:00:00Z","properties":{"httpStatus":502,"requestQuery":"SERVER-ROUTED=10.4.0.4","timeTaken":20001}}`, ClassBackendTimeout},
		{"V1 502 at once", `{"time":"2026-12-02T15:00:00Z","properties":{"httpStatus":502,"requestQuery":"SERVER-ROUTED=10.4.0.4","timeTaken":3}}`, ClassRaceLikely},
		{"V1 client closed (0)", `{"time":"2026-12-02T15:00:00Z","properties":{"instanceId":"ApplicationGatewayRole_IN_0","httpStatus":0,"timeTaken":3}}`, ClassOther},
		{"AzureDiagnostics names", `{"TimeGenerated":"2026-12-02T15:00:00Z","httpStatus_d":502,"serverRouted_s":"10.0.0.1:80","serverStatus_s":"-","error_info_s":"ERRORINFO_UPSTREAM_CLOSED_CONNECTION","timeTaken_d":0.01}`, ClassRaceLikely},
		{"404", `{"time":"2026-12-02T15:00:00Z","properties":{"httpStatus":404,"serverRouted":"10.0.0.1:80","serverStatus":"404","timeTaken":0.01}}`, ClassOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tt.line+"\n"), "t.json", FormatAppGW)
			if err != nil {
				t.Fatal(err)
			}
			recs := readAll(t, r)
			if len(recs) != 1 {
				t.Fatalf("%d records (%s)", len(recs), r.FirstSkipped())
			}
			if recs[0].Class != tt.want {
				t.Fatalf("class %q (%s), want %q", recs[0].Class, recs[0].Evidence, tt.want)
			}
		})
	}
}

func TestNormalizeAppGWKey(t *testing.T) {
	for in, want := range map[string]string{
		"TimeGenerated [UTC]": "timegenerated", "error_info": "errorinfo", "ErrorInfo": "errorinfo",
		"error_info_s": "errorinfo", "httpStatus_d": "httpstatus", "timeStamp": "timestamp", "\ufeffTimeGenerated": "timegenerated",
	} {
		if got := normalizeAppGWKey(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

// timeTaken is milliseconds in V1 records only.
func TestAppGWTimeTakenUnit(t *testing.T) {
	for input, want := range map[string]time.Duration{
		`{"time":"2026-12-02T15:00:00Z","properties":{"instanceId":"ApplicationGatewayRole_IN_0","httpStatus":200,"timeTaken":205}}`: 205 * time.Millisecond,
		`{"TimeGenerated":"2026-12-02T15:00:00Z","HttpStatus":200,"TimeTaken":0.205}`:                                                205 * time.Millisecond,
	} {
		r, err := NewReader(strings.NewReader(input), "t", FormatAppGW)
		if err != nil {
			t.Fatal(err)
		}
		if recs := readAll(t, r); len(recs) != 1 || recs[0].Duration != want {
			t.Fatalf("%s: %+v", input, recs)
		}
	}
}
