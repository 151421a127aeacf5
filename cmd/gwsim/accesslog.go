package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The gateway's access log as Application Gateway V2 writes it to a
// storage account or an event hub (the diagnostic log's
// ApplicationGatewayAccessLog category): one JSON object per line, with
// timeStamp, operationName, category and the request in "properties",
// field names and types as Azure's. Sources:
// https://learn.microsoft.com/azure/application-gateway/monitor-application-gateway-reference
// (access log, V2 fields) and the AGWAccessLogs table reference
// https://learn.microsoft.com/azure/azure-monitor/reference/tables/agwaccesslogs.
//
// timeStamp is when the gateway logged the request, at its end (as the
// zap line's time), in UTC with milliseconds; timeTaken is from the first
// byte of the request to the last of the answer, so the request began
// timeTaken earlier. Fields gwsim does not know (userAgent, host, TLS,
// WAF, transactionId) are left out, not invented.

// accessLogFormats are --access-log-format's values.
const (
	accessLogZap    = "zap"      // the process log's encoding (--log-format), message "access"
	accessLogAppGW2 = "appgw-v2" // Application Gateway V2's diagnostic JSON
)

// appgwInstanceID is the instanceId gwsim writes: one process is one
// gateway instance (Azure's are appgw_0, appgw_1, ...).
const appgwInstanceID = "gwsim_0"

// appgwRecord is one line of the log. Field order follows Azure's
// documented example.
type appgwRecord struct {
	TimeStamp     string          `json:"timeStamp"`
	ResourceID    string          `json:"resourceId"`
	OperationName string          `json:"operationName"`
	Category      string          `json:"category"`
	Properties    appgwProperties `json:"properties"`
}

type appgwProperties struct {
	InstanceID            string  `json:"instanceId"`
	ClientIP              string  `json:"clientIP"`
	ClientPort            int     `json:"clientPort"`
	HTTPMethod            string  `json:"httpMethod"`
	RequestURI            string  `json:"requestUri"`
	HTTPStatus            int     `json:"httpStatus"`
	HTTPVersion           string  `json:"httpVersion"`
	ReceivedBytes         int64   `json:"receivedBytes"`
	SentBytes             int64   `json:"sentBytes"`
	TimeTaken             float64 `json:"timeTaken"`
	ServerRouted          string  `json:"serverRouted"`
	ServerStatus          string  `json:"serverStatus"`
	ServerResponseLatency string  `json:"serverResponseLatency"`
	UpstreamSourcePort    string  `json:"upstreamSourcePort"`
	ErrorInfo             string  `json:"error_info"`
}

// accessLogCore writes the "access" entries, rendered by render, to w and
// hands every other entry to the process's core.
type accessLogCore struct {
	zapcore.Core
	w      zapcore.WriteSyncer
	path   string // for the error message of a failed write
	render func(zapcore.Entry, []zapcore.Field) ([]byte, error)
}

// withAccessLog returns log with its access lines going to w in format
// (accessLogZap: zap's JSON, as the process log; accessLogAppGW2),
// through a buffer flushed every second and by Sync (a write per request
// was a tenth of the gateway's cost).
func withAccessLog(log *zap.Logger, format string, w io.Writer, path string) (*zap.Logger, error) {
	var render func(zapcore.Entry, []zapcore.Field) ([]byte, error)
	switch format {
	case accessLogAppGW2:
		render = func(e zapcore.Entry, fields []zapcore.Field) ([]byte, error) { return appgwLine(e.Time, fields) }
	case accessLogZap:
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc := zapcore.NewJSONEncoder(ec)
		render = func(e zapcore.Entry, fields []zapcore.Field) ([]byte, error) {
			b, err := enc.EncodeEntry(e, fields)
			if err != nil {
				return nil, err
			}
			defer b.Free()
			return append([]byte(nil), b.Bytes()...), nil
		}
	default:
		return nil, fmt.Errorf("--access-log-format: unknown format %q (want %s or %s)", format, accessLogZap, accessLogAppGW2)
	}
	buffered := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(w), Size: 256 << 10, FlushInterval: time.Second}
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return accessLogCore{Core: c, w: buffered, path: path, render: render}
	})), nil
}

func (c accessLogCore) With(fields []zapcore.Field) zapcore.Core {
	return accessLogCore{Core: c.Core.With(fields), w: c.w, path: c.path, render: c.render}
}

func (c accessLogCore) Enabled(l zapcore.Level) bool {
	return l >= zapcore.InfoLevel || c.Core.Enabled(l)
}

func (c accessLogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Message == "access" {
		return ce.AddCore(e, c) // written whatever --log-level says: it is the access log
	}
	return c.Core.Check(e, ce)
}

func (c accessLogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	if e.Message != "access" {
		return c.Core.Write(e, fields)
	}
	line, err := c.render(e, fields)
	if err != nil {
		return err
	}
	if _, err := c.w.Write(line); err != nil {
		return fmt.Errorf("access log %s: %w", c.path, err)
	}
	return nil
}

func (c accessLogCore) Sync() error {
	err := c.w.Sync()
	if serr := c.Core.Sync(); err == nil {
		err = serr
	}
	return err
}

// appgwLine renders one access entry's fields (proxy.Gateway's names) as
// a record line.
func appgwLine(at time.Time, fields []zapcore.Field) ([]byte, error) {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	m := enc.Fields
	str := func(k string) string { s, _ := m[k].(string); return s }
	num := func(k string) int64 {
		switch v := m[k].(type) {
		case int64:
			return v
		case int:
			return int64(v)
		}
		return 0
	}
	secs := func(k string) float64 { f, _ := m[k].(float64); return f }
	clientPort, _ := strconv.Atoi(str("clientPort"))
	serverStatus := str("serverStatus")
	r := appgwRecord{
		TimeStamp:     at.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		ResourceID:    "/GWSIM/APPLICATIONGATEWAYS/GWSIM",
		OperationName: "ApplicationGatewayAccess",
		Category:      "ApplicationGatewayAccessLog",
		Properties: appgwProperties{
			InstanceID:            appgwInstanceID,
			ClientIP:              str("clientIP"),
			ClientPort:            clientPort,
			HTTPMethod:            str("httpMethod"),
			RequestURI:            str("requestUri"),
			HTTPStatus:            int(num("httpStatus")),
			HTTPVersion:           "HTTP/1.1",
			ReceivedBytes:         num("receivedBytes"),
			SentBytes:             num("sentBytes"),
			TimeTaken:             roundMillis(secs("timeTaken")),
			ServerRouted:          str("serverRouted"),
			ServerStatus:          serverStatus,
			ServerResponseLatency: strconv.FormatFloat(roundMillis(secs("serverResponseLatency")), 'f', 3, 64),
			UpstreamSourcePort:    str("upstreamSourcePort"),
			ErrorInfo:             str("error_info"),
		},
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// roundMillis rounds seconds to the millisecond, as Azure writes them.
func roundMillis(s float64) float64 {
	return float64(int64(s*1000+0.5)) / 1000
}

// openAccessLog opens --access-log's destination: "" or "-" is stderr.
func openAccessLog(path string, stderr io.Writer) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return stderr, func() error { return nil }, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("--access-log: %w", err)
	}
	return f, f.Close, nil
}
