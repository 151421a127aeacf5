package explain

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// httpStream finds the HTTP/1.1 messages in one direction of a TCP
// connection, fed its bytes in order with the time each segment was seen.
// It keeps a message's head only (at most maxHead bytes) and counts its
// body down by Content-Length or chunked framing, so memory stays bounded
// whatever the bodies. After a gap in the stream (a lost segment, a
// snap length that cut the payload, a capture that starts mid-connection)
// it skips until a segment starts with what a message starts with.
type httpStream struct {
	requests bool // a client's stream (requests), else a server's (responses)
	// methods is, for a server's stream, the methods of the requests its
	// responses answer, oldest first (a HEAD's answer has no body).
	methods *[]string

	state     streamState
	head      []byte
	headStart time.Time
	remaining int64 // body bytes left (stateBody), or of the current chunk (stateChunkData)
	chunkLine []byte
	message   *message // the message being read (after its head)

	onMessage func(m message) // a whole message (head, and body to its end)
	onHead    func(m message) // a message's head, complete

	// rd and br read a head; reused, a large capture's heads cost no
	// buffer each (that was two thirds of what reading one allocated).
	rd bytes.Reader
	br *bufio.Reader
}

type streamState int

const (
	stateHead streamState = iota
	stateBody
	stateChunkSize
	stateChunkData
	stateChunkCRLF
	stateTrailer
	stateUntilClose
	stateLost
)

// maxHead bounds a message head.
const maxHead = 64 << 10

// message is one HTTP message as seen on the wire.
type message struct {
	Start, End time.Time // its first and last byte
	Method     string    // a request's
	Status     int       // a response's
	Close      bool      // Connection: close (or HTTP/1.0 without keep-alive)
}

// lost marks a gap: what follows is read again only from a message start.
func (h *httpStream) lost() {
	if h.state == stateUntilClose {
		return // a body read until the close does not care
	}
	h.state, h.head, h.message = stateLost, h.head[:0], nil
}

// skip accounts for n bytes that were sent but that the capture did not
// keep (the snap length cut them), at t. Inside a body of known length
// they are counted off; a head cut short is taken from its first line
// (cutHead); a message whose rest cannot be counted ends here, as far as
// the capture tells. What follows is read again from a message start.
func (h *httpStream) skip(n int, t time.Time) {
	switch {
	case (h.state == stateBody || h.state == stateChunkData) && int64(n) <= h.remaining:
		h.remaining -= int64(n)
		if h.remaining > 0 {
			return
		}
		if h.state == stateBody {
			h.finish(t)
		} else {
			h.state = stateChunkCRLF
		}
	case h.state == stateUntilClose:
	case h.state == stateHead && len(h.head) > 0:
		h.cutHead(t)
	default:
		if h.message != nil {
			h.finish(t)
		}
		h.lost()
	}
}

// cutHead takes a head the snap length cut short from its first line: a
// request's method, a response's status (its body's length unknown, it
// ends here).
func (h *httpStream) cutHead(t time.Time) {
	line, _, _ := bytes.Cut(h.head, []byte("\r\n"))
	f := strings.Fields(string(line))
	ok := h.startsMessage(h.head)
	m := message{Start: h.headStart, End: t}
	h.lost()
	switch {
	case !ok || len(f) < 2:
	case h.requests:
		m.Method = f[0]
		if h.onHead != nil {
			h.onHead(m)
		}
	default:
		st, err := strconv.Atoi(f[1])
		if err != nil || st < 200 || st > 999 {
			return // not a status, or an interim answer
		}
		m.Status = st
		if h.onMessage != nil {
			h.onMessage(m)
		}
	}
}

// feed gives the stream the next bytes, seen at t.
func (h *httpStream) feed(b []byte, t time.Time) {
	for len(b) > 0 {
		switch h.state {
		case stateLost:
			if !h.startsMessage(b) {
				return
			}
			h.state = stateHead
		case stateHead:
			if len(h.head) == 0 {
				h.headStart = t
			}
			end := bytes.Index(append(h.head[max(len(h.head)-3, 0):len(h.head):len(h.head)], b...), []byte("\r\n\r\n"))
			if end < 0 {
				h.head = append(h.head, b...)
				if len(h.head) > maxHead {
					h.lost()
				}
				return
			}
			take := end + 4 - min(len(h.head), 3)
			h.head = append(h.head, b[:take]...)
			b = b[take:]
			h.parseHead(t)
		case stateBody, stateChunkData:
			n := int64(len(b))
			if n > h.remaining {
				n = h.remaining
			}
			h.remaining -= n
			b = b[n:]
			if h.remaining == 0 {
				if h.state == stateBody {
					h.finish(t)
				} else {
					h.state = stateChunkCRLF
				}
			}
		case stateChunkCRLF:
			// The CRLF after a chunk's data, byte by byte.
			if b[0] == '\n' {
				h.state = stateChunkSize
			}
			b = b[1:]
		case stateChunkSize, stateTrailer:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				h.chunkLine = append(h.chunkLine, b...)
				if len(h.chunkLine) > maxHead {
					h.lost()
				}
				return
			}
			line := strings.TrimSpace(string(append(h.chunkLine, b[:i]...)))
			h.chunkLine = h.chunkLine[:0]
			b = b[i+1:]
			if h.state == stateTrailer {
				if line == "" {
					h.finish(t)
				}
				continue
			}
			size, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(line, ";", 2)[0]), 16, 64)
			switch {
			case err != nil || size < 0:
				h.lost()
			case size == 0:
				h.state = stateTrailer
			default:
				h.state, h.remaining = stateChunkData, size
			}
		case stateUntilClose:
			return
		}
	}
}

// startsMessage reports whether b begins like a message of this stream.
func (h *httpStream) startsMessage(b []byte) bool {
	if !h.requests {
		return bytes.HasPrefix(b, []byte("HTTP/1."))
	}
	sp := bytes.IndexByte(b, ' ')
	if sp <= 0 || sp > 10 {
		return false
	}
	for _, c := range b[:sp] {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// parseHead parses the complete head and sets up the body.
func (h *httpStream) parseHead(t time.Time) {
	head := h.head
	h.head = h.head[:0]
	h.rd.Reset(head)
	if h.br == nil {
		h.br = bufio.NewReaderSize(&h.rd, 512)
	} else {
		h.br.Reset(&h.rd)
	}
	m := message{Start: h.headStart, End: t}
	var length int64
	chunked, untilClose := false, false
	if h.requests {
		req, err := http.ReadRequest(h.br)
		if err != nil {
			h.lost()
			return
		}
		m.Method, m.Close = req.Method, req.Close
		length = req.ContentLength
		chunked = len(req.TransferEncoding) > 0
		if length < 0 {
			length = 0
		}
	} else {
		method := http.MethodGet
		if h.methods != nil && len(*h.methods) > 0 {
			method = (*h.methods)[0]
		}
		resp, err := http.ReadResponse(h.br, &http.Request{Method: method})
		if err != nil {
			h.lost()
			return
		}
		m.Status, m.Close = resp.StatusCode, resp.Close
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			return // an interim answer: the real one follows
		}
		length = resp.ContentLength
		chunked = len(resp.TransferEncoding) > 0
		bodiless := method == http.MethodHead || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified
		switch {
		case bodiless:
			length, chunked = 0, false
		case !chunked && length < 0:
			untilClose = true
		}
	}
	h.message = &m
	if h.onHead != nil {
		h.onHead(m)
	}
	switch {
	case chunked:
		h.state = stateChunkSize
	case untilClose:
		h.state = stateUntilClose
	case length > 0:
		h.state, h.remaining = stateBody, length
	default:
		h.finish(t)
	}
}

// finish ends the current message at t.
func (h *httpStream) finish(t time.Time) {
	m := h.message
	h.state, h.message = stateHead, nil
	if m == nil {
		return
	}
	m.End = t
	if h.onMessage != nil {
		h.onMessage(*m)
	}
}

// closed ends a body read until the close, at t.
func (h *httpStream) closed(t time.Time) {
	if h.state == stateUntilClose {
		h.finish(t)
	}
}
