package backend

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// badRequestLinger bounds the drain after a 400/408, so the error response
// is not destroyed by an RST for unread request bytes (as net/http's
// rstAvoidanceDelay).
const badRequestLinger = 500 * time.Millisecond

// bodyChunk is the largest body slice kept in memory; bigger bodies repeat it.
const bodyChunk = 32 << 10

// makeBody returns the body (or the chunk repeated to build it) and its size.
func makeBody(size int) ([]byte, int) {
	if size == 0 {
		b := []byte("gwsim backend ok\n")
		return b, len(b)
	}
	const pattern = "gwsim-backend-payload-0123456789abcdefghijklmnopqrstuvwxyz-ABCD\n" // 64 bytes
	b := make([]byte, min(size, bodyChunk))
	for i := range b {
		b[i] = pattern[i%len(pattern)]
	}
	return b, size
}

// advertises reports whether an answer to req carries the Keep-Alive
// header under mode m.
func advertises(m AdvertiseMode, req *http.Request) bool {
	switch m {
	case AdvertiseNever:
		return false
	case AdvertiseAsked:
		return req != nil && hasToken(req.Header["Connection"], "keep-alive")
	}
	return true
}

// hasToken reports whether a comma-separated header field holds token
// (case-insensitive), as RFC 9110 lists Connection options.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// bodyAllowed reports whether a response with status may carry a body
// (RFC 9110: not 1xx, 204, 304).
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// writeResponse writes a response to req (nil for an error response) with
// status; last adds `Connection: close`. It sets c.lastWrite when the write
// returned.
func (c *conn) writeResponse(req *http.Request, status int, last bool) error {
	s := c.s
	lv := s.now()
	body, size := lv.body, lv.bodySize
	if req == nil { // an error response of ours
		body = []byte(http.StatusText(status) + "\n")
		size = len(body)
	}
	b := c.hdr[:0]
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if text := http.StatusText(status); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "Status"...)
	}
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\n"...)
	withBody := bodyAllowed(status)
	if withBody {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(size), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "Date: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\nServer: gwsim-backend\r\n"...)
	if last {
		b = append(b, "Connection: close\r\n"...)
	} else {
		if req != nil && req.ProtoMajor == 1 && req.ProtoMinor == 0 {
			b = append(b, "Connection: keep-alive\r\n"...)
		}
		if ka, maxReq := lv.keepAliveHeader, lv.cfg.MaxKeepAliveRequests; (ka != "" || maxReq > 0) && advertises(lv.cfg.Advertise, req) {
			b = append(b, "Keep-Alive: "...)
			b = append(b, ka...)
			if maxReq > 0 {
				if ka != "" {
					b = append(b, ", "...)
				}
				b = append(b, "max="...)
				b = strconv.AppendInt(b, int64(maxReq-c.served-1), 10)
			}
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	c.hdr = b

	_, err := c.bw.Write(b)
	if withBody && (req == nil || req.Method != http.MethodHead) {
		for left := size; left > 0 && err == nil; {
			n := min(left, len(body))
			_, err = c.bw.Write(body[:n])
			left -= n
		}
	}
	if err == nil {
		err = c.bw.Flush()
	}
	c.lastWrite = time.Now()
	if err != nil {
		return err
	}
	c.served++
	if t := s.trace; t != nil && t.ResponseWritten != nil {
		t.ResponseWritten(c.ref(c.lastWrite), ResponseInfo{Status: status, Requests: c.served})
	}
	s.m.response(status)
	s.update(func(st *Stats) { st.Responses[status]++ })
	return nil
}

// closeStyled closes the connection in style and returns when the FIN or
// RST was emitted (for lingering close: the CloseWrite). A connection that
// cannot do RST or half-close (net.Pipe in tests) is simply closed.
func (c *conn) closeStyled(style CloseStyle) time.Time {
	switch style {
	case CloseRST:
		if l, ok := c.nc.(interface{ SetLinger(int) error }); ok {
			l.SetLinger(0)
		}
	case CloseLinger:
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			c.closedAt = time.Now()
			c.drain(c.s.now().cfg.LingerTimeout)
			c.nc.Close()
			return c.closedAt
		}
	}
	c.nc.Close()
	c.closedAt = time.Now()
	return c.closedAt
}

// closeAfterError half-closes, drains for at most badRequestLinger and
// closes, so the peer reads the error response before any RST.
func (c *conn) closeAfterError() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		c.drain(badRequestLinger)
	}
	c.nc.Close()
}

// drain reads and discards until EOF, an error or d elapsed.
func (c *conn) drain(d time.Duration) {
	if c.nc.SetReadDeadline(time.Now().Add(d)) != nil {
		return
	}
	io.Copy(io.Discard, c.nc)
}
