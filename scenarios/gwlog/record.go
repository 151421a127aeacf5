// Package gwlog reads gateways' own logs (Application Gateway V1/V2, AWS
// ALB, nginx, HAProxy, Envoy, GCP's external Application Load Balancer),
// classifies every 5xx and client reset as the keep-alive race, a backend
// time-out, no live backend or other, rebuilds the upstream connections
// where the log names them, and infers the backend's keep-alive from the
// idle gaps before the failures.
//
// Each format's reader (appgw.go, alb.go, nginx.go, haproxy.go, envoy.go,
// gcp.go) turns a line into a Record with the format's own signature as a
// Class and the fields that gave it as Evidence; the analysis (analyze.go)
// works on Records alone.
package gwlog

import "time"

// Format names a log format.
type Format string

// Formats.
const (
	FormatAuto    Format = "auto"
	FormatAppGW   Format = "appgw"   // Application Gateway V1/V2 access log: diagnostic JSON, AGWAccessLogs JSON or CSV
	FormatALB     Format = "alb"     // AWS Application Load Balancer access log
	FormatNginx   Format = "nginx"   // nginx error log, or an access log with $upstream_addr and $upstream_status
	FormatHAProxy Format = "haproxy" // HAProxy option httplog
	FormatEnvoy   Format = "envoy"   // Envoy's default access log format
	FormatGCP     Format = "gcp"     // GCP external Application Load Balancer (Cloud Logging JSON)
)

// Formats lists the formats --format accepts, auto first.
var Formats = []Format{FormatAuto, FormatAppGW, FormatALB, FormatNginx, FormatHAProxy, FormatEnvoy, FormatGCP}

// Class is what a log line's own signature says of a request.
type Class string

// Classes. A format that can tell the race from a backend crash (one that
// names the upstream connection and its reuse) says ClassRace only with
// the analysis' help; a reader says ClassRaceLikely for "the backend
// closed the connection before any response", which the race and a
// crashed backend both give.
const (
	ClassOK             Class = ""                      // not a failure
	ClassRace           Class = "keepalive-race"        // set by the analysis, never by a reader
	ClassRaceLikely     Class = "keepalive-race-likely" // the backend closed or reset before any response
	ClassBackendTimeout Class = "backend-timeout"       // the backend did not answer in time
	ClassNoBackend      Class = "no-live-backend"       // no backend to send it to, or none accepted the connection
	ClassOther          Class = "other"                 // any other 5xx or client reset
)

// Record is one request (or one error-log event) as a gateway logged it.
// Zero values mean "the log does not say".
type Record struct {
	File string
	Line int // 1-based line number in File (for CSV, the record's first line)

	Format Format
	// Time is when the gateway received the request where the format
	// says so (AppGW, ALB's request_creation_time, HAProxy's accept date,
	// Envoy's START_TIME, GCP's timestamp); else when the line was written
	// (nginx), with End set from it.
	Time time.Time
	// Duration is the request's total time at the gateway; negative when
	// unknown.
	Duration time.Duration
	// UpstreamDuration is the time from sending to the backend to its
	// response (AppGW serverResponseLatency, ALB target_processing_time,
	// HAProxy Tr, Envoy's upstream service time); negative when unknown or
	// when the log says there was none (ALB's -1).
	UpstreamDuration time.Duration

	Method, URI string
	// Status is what the client was sent; 0 when the log does not say (an
	// nginx error-log line) or nothing was sent (a client reset).
	Status int
	// UpstreamStatus is the backend's status; 0 for none ("-").
	UpstreamStatus int
	// Upstream names the backend (ip:port or a host name) the request went
	// to, when the log says.
	Upstream string
	// Conn identifies the gateway's connection to the backend when the
	// log carries it: AppGW instanceId + serverRouted +
	// upstreamSourcePort, HAProxy %bi:%bp + server, Envoy
	// %UPSTREAM_LOCAL_ADDRESS% + upstream host. Empty when it does not.
	Conn string
	// SourcePort is the gateway's local port toward the backend (AppGW
	// upstreamSourcePort, HAProxy %bp, Envoy's upstream local port): the
	// client port of the connection in a capture taken at the backend.
	SourcePort int
	// Instance is the gateway instance that handled it, when logged.
	Instance string

	ReceivedBytes, SentBytes int64 // -1 when unknown

	// Class is the format's own signature of the request; Evidence quotes
	// the fields that gave it ("httpStatus=502 serverStatus=-
	// error_info=ERRORINFO_UPSTREAM_CLOSED_CONNECTION").
	Class    Class
	Evidence string
	// ErrorLog marks a line from an error log (nginx): an event about a
	// request, not the request's access-log line.
	ErrorLog bool
}

// End is when the gateway finished the request, when known.
func (r *Record) End() (time.Time, bool) {
	if r.Time.IsZero() || r.Duration < 0 {
		return time.Time{}, false
	}
	return r.Time.Add(r.Duration), true
}

// Failed reports whether the record is a failure to classify: a 5xx, a
// client reset the log shows, or an error-log event.
func (r *Record) Failed() bool { return r.Class != ClassOK }
