package gwlog

// Application Gateway V1/V2 access logs.
//
// Accepted variants (all detected, in any mix of number and string values):
//   - the diagnostic log as Azure writes it: one JSON object per line, or a
//     {"records": [...]} document (storage account PT1H.json), with
//     timeStamp (V2) or time (V1), category "ApplicationGatewayAccessLog"
//     and the request in "properties";
//   - the Log Analytics AGWAccessLogs table exported as a JSON array of
//     flat objects (TimeGenerated, ClientIp, HttpMethod, RequestUri,
//     HttpStatus, ServerRouted, ServerStatus, ServerResponseLatency,
//     UpstreamSourcePort, TimeTaken, InstanceId, ErrorInfo, ...);
//   - the same table, or the AzureDiagnostics table (httpStatus_d,
//     serverRouted_s, ...), exported as CSV with a header row in any
//     column order ("TimeGenerated [UTC]" as the portal writes it);
//   - V1 records (no serverRouted/serverStatus/error_info: the backend is
//     in requestQuery's SERVER-ROUTED and SERVER-STATUS).
//
// Field names are matched case-insensitively, without underscores and
// without AzureDiagnostics' type suffix (_s, _d), so error_info, ErrorInfo
// and error_info_s are one field.
//
// Sources:
//   - fields, units and the error_info codes:
//     https://learn.microsoft.com/azure/application-gateway/monitor-application-gateway-reference
//     (MicrosoftDocs/azure-docs articles/application-gateway/monitor-application-gateway-reference.md):
//     V2 timeTaken and serverResponseLatency are seconds; V1 timeTaken is
//     milliseconds; ERRORINFO_UPSTREAM_CLOSED_CONNECTION "The backend
//     server closed the connection unexpectedly or before the request was
//     fully processed", ERRORINFO_UPSTREAM_TIMED_OUT, ERRORINFO_UPSTREAM_NO_LIVE.
//   - AGWAccessLogs columns: https://learn.microsoft.com/azure/azure-monitor/reference/tables/agwaccesslogs
//     ("TimeGenerated: Time (UTC) when the log was created").
//
// Time. Neither page says whether the diagnostic timeStamp is when the
// request arrived or when its log line was written; TimeGenerated is
// documented as when the log was created, and the documented example has
// a whole-second timeStamp for a 34 ms request, which fits a write time.
// We take both as the request's completion and set Time = timeStamp −
// timeTaken (an assumption: if Azure ever documents timeStamp as receipt,
// drop the subtraction).

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// appgwLineParser reads JSON lines or CSV rows; a CSV log's first line is
// its header.
type appgwLineParser struct {
	header       []string // normalized column names, once a CSV header is seen
	pending      string   // a CSV row whose quoted field goes on on the next line
	pendingLines int
}

func (p *appgwLineParser) parseLine(line string) (Record, lineVerdict, string) {
	if p.pending == "" && strings.HasPrefix(line, "{") {
		value, err := decodeJSONLine(line)
		if err != nil {
			return Record{}, lineSkipped, "bad JSON: " + err.Error()
		}
		if obj, ok := value.(map[string]any); ok {
			if _, ok := obj["records"]; ok {
				return Record{}, lineSkipped, `a {"records": [...]} document among JSON lines: read that file by itself`
			}
		}
		return recordFromJSON(FormatAppGW, value)
	}
	return p.parseCSV(line)
}

// maxCSVRecordLines bounds a CSV record whose quoted field spans lines.
const maxCSVRecordLines = 64

func (p *appgwLineParser) parseCSV(line string) (Record, lineVerdict, string) {
	if p.pending != "" {
		line = p.pending + "\n" + line
	}
	cr := csv.NewReader(strings.NewReader(line))
	cr.FieldsPerRecord = -1
	values, err := cr.Read()
	if err != nil {
		var perr *csv.ParseError
		if errors.As(err, &perr) && errors.Is(perr.Err, csv.ErrQuote) && p.pendingLines < maxCSVRecordLines && len(line) < maxLineBytes {
			// A quoted field may hold a newline: read on. The lines so
			// far are not counted; the record is, on its last line.
			p.pending = line
			p.pendingLines++
			return Record{}, lineIgnored, ""
		}
		p.pending, p.pendingLines = "", 0
		return Record{}, lineSkipped, "bad CSV: " + err.Error()
	}
	spanned := p.pendingLines
	p.pending, p.pendingLines = "", 0
	if isAppGWHeader(values) {
		p.header = p.header[:0]
		for _, v := range values {
			p.header = append(p.header, normalizeAppGWKey(v))
		}
		return Record{}, lineIgnored, ""
	}
	if p.header == nil {
		return Record{}, lineSkipped, "not JSON, and no CSV header row (with HttpStatus) before it"
	}
	fields := make(map[string]string, len(values))
	for i, v := range values {
		if i < len(p.header) {
			fields[p.header[i]] = strings.TrimSpace(v)
		}
	}
	rec, verdict, why := recordFromAppGWFields(fields)
	rec.Line = spanned // the Reader counts back to the record's first line
	return rec, verdict, why
}

func isAppGWHeader(values []string) bool {
	for _, v := range values {
		if normalizeAppGWKey(v) == "httpstatus" {
			return true
		}
	}
	return false
}

// normalizeAppGWKey maps the spellings of one field to one key:
// "TimeGenerated [UTC]", "timeStamp", "error_info", "ErrorInfo",
// "httpStatus_d" → "timegenerated", "timestamp", "errorinfo",
// "errorinfo", "httpstatus".
func normalizeAppGWKey(k string) string {
	k = strings.TrimSpace(strings.TrimPrefix(k, "\ufeff"))
	if i := strings.IndexAny(k, " ["); i > 0 {
		k = k[:i]
	}
	if n := len(k); n > 2 && k[n-2] == '_' && strings.IndexByte("sdgbt", k[n-1]) >= 0 {
		k = k[:n-2]
	}
	return strings.ToLower(strings.ReplaceAll(k, "_", ""))
}

// recordFromAppGWObject flattens a diagnostic record (its "properties"
// into the top level) or a Log Analytics row.
func recordFromAppGWObject(obj map[string]any) (Record, lineVerdict, string) {
	fields := make(map[string]string, len(obj)+32)
	for k, v := range obj {
		if props, ok := v.(map[string]any); ok && strings.EqualFold(k, "properties") {
			for pk, pv := range props {
				fields[normalizeAppGWKey(pk)] = jsonString(pv)
			}
			continue
		}
		if s := jsonString(v); s != "" || fields[normalizeAppGWKey(k)] == "" {
			fields[normalizeAppGWKey(k)] = s
		}
	}
	return recordFromAppGWFields(fields)
}

// appgwV2Only are fields only V2 logs have.
var appgwV2Only = []string{"serverrouted", "serverstatus", "errorinfo", "upstreamsourceport", "serverresponselatency", "transactionid"}

// appgwV1RequestTimeout is V1's default request time-out (HTTP settings,
// 20 s: "Troubleshooting bad gateway errors in Application Gateway",
// https://learn.microsoft.com/azure/application-gateway/application-gateway-troubleshooting-502).
// V1 answers 502 both when a backend closes and when it times out, so a
// V1 502 that took this long is taken as a time-out (a heuristic: the
// setting may have been changed).
const appgwV1RequestTimeout = 20 * time.Second

func recordFromAppGWFields(f map[string]string) (Record, lineVerdict, string) {
	if cat := f["category"]; cat != "" && !strings.EqualFold(cat, "ApplicationGatewayAccessLog") {
		return Record{}, lineIgnored, "" // firewall or performance log: no request
	}
	statusText, ok := f["httpstatus"]
	if !ok {
		return Record{}, lineSkipped, "no httpStatus field"
	}
	rec := newRecord()
	status, err := atoiField(statusText)
	if err != nil {
		return Record{}, lineSkipped, fmt.Sprintf("httpStatus %q is not a number", statusText)
	}
	rec.Status = status
	// V1 is told by what it has (its instance names, the backend in the
	// query string) as well as by what it lacks: a sparse Log Analytics row
	// without the V2 columns is V2's table, with timeTaken in seconds.
	v1 := strings.HasPrefix(f["instanceid"], "ApplicationGatewayRole") || strings.Contains(f["requestquery"], "SERVER-ROUTED=")
	for _, k := range appgwV2Only {
		if _, ok := f[k]; ok {
			v1 = false
		}
	}
	stamp := firstNonEmpty(f["timestamp"], f["time"], f["timegenerated"])
	logged, ok := parseAzureTime(stamp)
	if !ok {
		return Record{}, lineSkipped, fmt.Sprintf("time %q is not a time", stamp)
	}
	if v1 {
		rec.Duration, _ = parseMillis(f["timetaken"])
	} else {
		rec.Duration, _ = parseSeconds(f["timetaken"])
	}
	rec.Time = logged
	if rec.Duration >= 0 {
		rec.Time = logged.Add(-rec.Duration)
	}
	rec.UpstreamDuration, _ = parseSeconds(f["serverresponselatency"])
	rec.Method = f["httpmethod"]
	rec.URI = f["requesturi"]
	rec.Instance = f["instanceid"]
	rec.ReceivedBytes = parseBytes(f["receivedbytes"])
	rec.SentBytes = parseBytes(f["sentbytes"])
	server, serverStatus := f["serverrouted"], f["serverstatus"]
	if v1 {
		// V1 puts the backend in the query string it logs.
		if q, err := url.ParseQuery(f["requestquery"]); err == nil {
			server, serverStatus = q.Get("SERVER-ROUTED"), q.Get("SERVER-STATUS")
		}
	}
	if server == "-" {
		server = ""
	}
	rec.Upstream = server
	rec.UpstreamStatus = parseStatus(serverStatus)
	if port := f["upstreamsourceport"]; port != "" && port != "-" {
		rec.SourcePort = portOf(":" + port)
		if rec.Instance != "" && server != "" && rec.SourcePort > 0 {
			rec.Conn = rec.Instance + "|" + server + "|" + port
		}
	}
	rec.Class, rec.Evidence = classifyAppGW(rec, f["errorinfo"], serverStatus, v1)
	return rec, lineRecord, ""
}

// classifyAppGW gives Application Gateway's own signature. error_info
// decides where it names the failure; else the statuses.
func classifyAppGW(rec Record, errorInfo, serverStatus string, v1 bool) (Class, string) {
	if serverStatus == "" {
		serverStatus = "-"
	}
	evidence := fmt.Sprintf("httpStatus=%d serverStatus=%s", rec.Status, serverStatus)
	if errorInfo != "" {
		evidence += " error_info=" + errorInfo
	}
	info := strings.ToUpper(errorInfo)
	switch {
	case rec.Status == 0:
		// V1 logs 0 when the client closed first (V2: 499).
		return ClassOther, evidence + " (client closed the connection before a response)"
	case rec.Status == 499 || strings.Contains(info, "CLIENT_CLOSED"):
		return ClassOther, evidence + " (client closed the connection before a response)"
	case rec.Status < 500:
		return ClassOK, ""
	case strings.Contains(info, "UPSTREAM_CLOSED_CONNECTION"):
		return ClassRaceLikely, evidence
	case strings.Contains(info, "UPSTREAM_TIMED_OUT"):
		return ClassBackendTimeout, evidence
	case strings.Contains(info, "UPSTREAM_NO_LIVE"):
		return ClassNoBackend, evidence
	case rec.Status == 504:
		return ClassBackendTimeout, evidence
	case rec.Upstream == "" && (rec.Status == 502 || rec.Status == 503):
		return ClassNoBackend, fmt.Sprintf("httpStatus=%d serverRouted=- (no backend server chosen)", rec.Status)
	case rec.Status == 502 && rec.UpstreamStatus == 0 && v1 && rec.Duration >= appgwV1RequestTimeout:
		return ClassBackendTimeout, fmt.Sprintf("httpStatus=502 SERVER-STATUS=- timeTaken=%s (V1 answers a request time-out, default 20 s, with 502)", rec.Duration)
	case rec.Status == 502 && rec.UpstreamStatus == 0:
		return ClassRaceLikely, evidence + " (the backend sent no response)"
	}
	return ClassOther, evidence
}

// azureTimeLayouts are the time forms Azure's exports use: RFC 3339 with or
// without a zone or fraction, and the portal's CSV "12/2/2026, 3:00:00.000 PM".
var azureTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"1/2/2006, 3:04:05.999999999 PM",
	"1/2/2006 3:04:05.999999999 PM",
}

// parseAzureTime reads a time; a time without a zone is UTC, as Azure
// writes them.
func parseAzureTime(s string) (time.Time, bool) {
	for _, layout := range azureTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// atoiField reads a logged status, 0 to 999 (V1 logs 0 for a client that
// closed first).
func atoiField(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(s), ".0"))
	if err != nil || n < 0 || n > 999 {
		return 0, fmt.Errorf("not a status")
	}
	return n, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
