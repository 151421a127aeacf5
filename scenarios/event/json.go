package event

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends e as one JSON object, the same document
// encoding/json makes of it (Read decodes either), without reflection: a
// journal line costs a fraction of json.Marshal, which keeps `--events`
// cheap on the gateway's hot path.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendStr(b, "scenario", e.Scenario)
	b = append(b, `,"mono_ns":`...)
	b = strconv.AppendInt(b, e.Mono, 10)
	b = append(b, `,"actor":`...)
	b = appendQuoted(b, string(e.Actor))
	b = append(b, `,"kind":`...)
	b = appendQuoted(b, string(e.Kind))
	b = appendStr(b, "side", e.Side)
	b = appendUint(b, "conn", e.Conn)
	b = appendStr(b, "local", e.Local)
	b = appendStr(b, "remote", e.Remote)
	b = appendStr(b, "peer", e.Peer)
	b = appendStr(b, "method", e.Method)
	b = appendInt(b, "status", int64(e.Status))
	if e.Reused {
		b = append(b, `,"reused":true`...)
	}
	b = appendInt(b, "idle_ns", int64(e.Idle))
	b = appendInt(b, "requests", int64(e.Requests))
	b = appendStr(b, "initiator", e.Initiator)
	b = appendStr(b, "reason", e.Reason)
	b = appendStr(b, "style", e.Style)
	b = appendStr(b, "cause", e.Cause)
	b = appendStr(b, "err_kind", e.ErrKind)
	b = appendStr(b, "err", e.Err)
	if !e.Deadline.IsZero() {
		b = append(b, `,"deadline":"`...)
		b = e.Deadline.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = appendStr(b, "profile", e.Profile)
	b = appendStr(b, "addr", e.Addr)
	b = appendInt(b, "keepalive_ns", int64(e.KeepAlive))
	b = appendInt(b, "idle_timeout_ns", int64(e.IdleTimeout))
	b = appendStr(b, "close_style", e.CloseStyle)
	if e.RaceTrap {
		b = append(b, `,"race_trap":true`...)
	}
	if e.TimeScale != 0 {
		b = append(b, `,"time_scale":`...)
		b = strconv.AppendFloat(b, e.TimeScale, 'g', -1, 64)
	}
	return append(b, '}')
}

func appendStr(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendQuoted(b, v)
}

func appendInt(b []byte, key string, v int64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

func appendUint(b []byte, key string, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendUint(b, v, 10)
}

const hex = "0123456789abcdef"

// appendQuoted appends s as a JSON string.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
