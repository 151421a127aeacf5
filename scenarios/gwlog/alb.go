package gwlog

// AWS Application Load Balancer access logs.
//
// Accepted: the documented space-separated entry with quoted fields, from
// the original 15 fields (type ... "user_agent") to the current ones
// (ssl_cipher, ssl_protocol, target_group_arn, "trace_id",
// "domain_name", "chosen_cert_arn", matched_rule_priority,
// request_creation_time, "actions_executed", "redirect_url",
// "error_reason", "target:port_list", "target_status_code_list",
// "classification", "classification_reason", conn_trace_id); fields past
// the known ones are ignored, as AWS asks ("When new fields are introduced,
// they are added to the end of the log entry. You should ignore any fields
// at the end of the log entry that you were not expecting").
//
// Sources:
//   - fields and their -1 / "-" values:
//     https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html
//     (awsdocs/elb-application-load-balancers-user-guide doc_source/load-balancer-access-logs.md)
//   - which 502 is which:
//     https://repost.aws/knowledge-center/elb-alb-troubleshoot-502-errors :
//     elb_status_code 502 with target_status_code "-" is the load
//     balancer's own 502; "the load balancer received a TCP RST from the
//     target when attempting to establish a connection" logs
//     request_processing_time, target_processing_time and
//     response_processing_time all -1; "the target closed the connection
//     with a TCP RST or a TCP FIN while the load balancer had an
//     outstanding request to the target" is the keep-alive race (the
//     article's remedy is a target keep-alive longer than the idle
//     timeout).
//
// Unclear in the docs: the access-log page says request_processing_time
// "can" be -1 also "if the target closes the connection before the idle
// timeout", so an all -1 line with a target named may be either a refused
// connection or the race; we say no-live-backend for it, as the
// knowledge-center article does, and quote the fields.
//
// Time = request_creation_time ("the time when the load balancer received
// the request from the client"); Duration = time − request_creation_time
// (time is "when the load balancer generated a response to the client").

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

type albLineParser struct{}

// albLinePattern recognises an ALB entry for auto-detection.
var albLinePattern = regexp.MustCompile(`^(?:https?|h2|grpcs|wss?) \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`)

// albTypes are the documented request types.
var albTypes = map[string]bool{"http": true, "https": true, "h2": true, "grpcs": true, "ws": true, "wss": true}

// Field positions of an ALB entry.
const (
	albType = iota
	albTime
	albELB
	albClient
	albTarget
	albRequestProcessing
	albTargetProcessing
	albResponseProcessing
	albELBStatus
	albTargetStatus
	albReceivedBytes
	albSentBytes
	albRequest
	albUserAgent
	albSSLCipher
	albSSLProtocol
	albTargetGroup
	albTraceID
	albDomain
	albCert
	albRulePriority
	albRequestCreation
	albActions
	albRedirect
	albErrorReason
)

func (albLineParser) parseLine(line string) (Record, lineVerdict, string) {
	fields := splitFields(line)
	if len(fields) <= albUserAgent {
		return Record{}, lineSkipped, fmt.Sprintf("%d fields, an ALB entry has at least %d", len(fields), albUserAgent+1)
	}
	if !albTypes[fields[albType].text] || fields[albType].kind != 0 {
		return Record{}, lineSkipped, fmt.Sprintf("type %q is not an ALB request type", fields[albType].text)
	}
	end, err := time.Parse(time.RFC3339Nano, fields[albTime].text)
	if err != nil {
		return Record{}, lineSkipped, fmt.Sprintf("time %q is not ISO 8601", fields[albTime].text)
	}
	if fields[albRequest].kind != '"' {
		return Record{}, lineSkipped, "the request line is not quoted where an ALB entry has it"
	}
	rec := newRecord()
	rec.Time = end.UTC()
	if len(fields) > albRequestCreation {
		if created, err := time.Parse(time.RFC3339Nano, fields[albRequestCreation].text); err == nil && !created.After(end) {
			rec.Time = created.UTC()
			rec.Duration = end.Sub(created)
		}
	}
	rec.Status = parseStatus(fields[albELBStatus].text)
	if rec.Status == 0 {
		return Record{}, lineSkipped, fmt.Sprintf("elb_status_code %q is not a status", fields[albELBStatus].text)
	}
	rec.UpstreamStatus = parseStatus(fields[albTargetStatus].text)
	if target := fields[albTarget].text; target != "-" {
		rec.Upstream = target
	}
	rec.UpstreamDuration, _ = parseSeconds(fields[albTargetProcessing].text)
	rec.ReceivedBytes = parseBytes(fields[albReceivedBytes].text)
	rec.SentBytes = parseBytes(fields[albSentBytes].text)
	rec.Method, rec.URI = splitRequestLine(fields[albRequest].text)
	errorReason := "-"
	if len(fields) > albErrorReason {
		errorReason = fields[albErrorReason].text
	}
	rec.Class, rec.Evidence = classifyALB(rec, fields[albTarget].text, fields[albRequestProcessing].text,
		fields[albTargetProcessing].text, fields[albResponseProcessing].text, fields[albTargetStatus].text, errorReason)
	return rec, lineRecord, ""
}

// classifyALB gives the ALB's own signature.
func classifyALB(rec Record, target, requestTime, targetTime, responseTime, targetStatus, errorReason string) (Class, string) {
	evidence := fmt.Sprintf("elb_status_code=%d target_status_code=%s target=%s request_processing_time=%s target_processing_time=%s response_processing_time=%s",
		rec.Status, targetStatus, target, requestTime, targetTime, responseTime)
	if errorReason != "" && errorReason != "-" {
		evidence += " error_reason=" + errorReason
	}
	fromTarget := targetStatus != "-" && targetStatus != ""
	switch {
	case rec.Status == 460:
		return ClassOther, evidence + " (the client closed the connection before the idle timeout)"
	case rec.Status < 500:
		return ClassOK, ""
	case fromTarget:
		return ClassOther, evidence + " (the target's own response)"
	case strings.HasPrefix(errorReason, "Lambda"):
		return ClassOther, evidence + " (a Lambda target's failure)"
	case rec.Status == 504:
		return ClassBackendTimeout, evidence
	case rec.Status == 503:
		return ClassNoBackend, evidence
	case rec.Status == 502 && target == "-":
		return ClassNoBackend, evidence + " (no target chosen)"
	case rec.Status == 502 && requestTime == "-1" && targetTime == "-1" && responseTime == "-1":
		return ClassNoBackend, evidence + " (the target refused the connection, or closed it before the request was sent)"
	case rec.Status == 502 && responseTime == "-1":
		return ClassRaceLikely, evidence
	}
	return ClassOther, evidence
}
