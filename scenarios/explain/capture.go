package explain

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/gwsim/gwsim/scenarios/event"
)

// Packet captures: a tcpdump taken on the backend, on the gateway or on
// any host of the path (pcap or pcapng, any link type gopacket decodes,
// any snap length that keeps the TCP headers and the HTTP heads) becomes
// Evidence: each TCP connection's HTTP/1.1 exchanges and each side's FIN
// or RST, with the times the capture saw them. What a capture cannot say
// it does not: which answer the gateway gave its client (no Answers), the
// backend's keep-alive (the engine infers it from the failures' idle
// ages), whose timer closed a connection.

// IsCapture reports whether head, a file's first bytes, is a pcap or a
// pcapng file.
func IsCapture(head []byte) bool {
	if len(head) < 4 {
		return false
	}
	for _, magic := range [][]byte{
		{0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4}, // pcap, µs
		{0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d}, // pcap, ns
		{0x0a, 0x0d, 0x0d, 0x0a}, // pcapng section header
	} {
		if bytes.Equal(head[:4], magic) {
			return true
		}
	}
	return false
}

// packetSource is what pcapgo's readers share.
type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// FromCapture reads a pcap or pcapng capture from r and builds the
// evidence of its TCP connections that carry HTTP/1.1. It streams: memory
// grows with the connections, not with their bytes. A progress bar wraps
// r (gwsim explain draws one over the file).
func FromCapture(r io.Reader) (*Evidence, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head, err := br.Peek(4)
	if err != nil || !IsCapture(head) {
		return nil, errors.New("not a pcap or pcapng capture")
	}
	var src packetSource
	var linkOf func(gopacket.CaptureInfo) layers.LinkType
	if bytes.Equal(head, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		ng, err := pcapgo.NewNgReader(&ngGuard{r: br}, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, fmt.Errorf("read the pcapng capture: %w", err)
		}
		src = ng
		linkOf = func(ci gopacket.CaptureInfo) layers.LinkType {
			if i, err := ng.Interface(ci.InterfaceIndex); err == nil {
				return i.LinkType
			}
			return ng.LinkType()
		}
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read the pcap capture: %w", err)
		}
		if pr.Snaplen() > maxPacket {
			pr.SetSnaplen(maxPacket) // a longer packet is an error, not gigabytes (pcapgo allocates what a header claims)
		}
		src = pr
		lt := pr.LinkType()
		linkOf = func(gopacket.CaptureInfo) layers.LinkType { return lt }
	}
	b := &captureBuilder{conns: map[string]*tcpConn{}, parsers: map[layers.LinkType]*packetParser{}}
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break // a capture cut short ends where it ends
		}
		if err != nil {
			return nil, fmt.Errorf("read packet %d: %w", b.packets+1, err)
		}
		b.packet(data, ci, linkOf(ci))
	}
	return b.evidence(), nil
}

// maxPacket bounds a packet's captured length: libpcap never keeps more
// than 256 KiB (MAXIMUM_SNAPLEN); a corrupt header that claims more is an
// error, so a broken file cannot make pcapgo allocate gigabytes.
const maxPacket = 1 << 20

// ngGuard passes a pcapng stream to pcapgo block by block, and fails it
// with an error at a packet block whose captured length exceeds its block
// or maxPacket: pcapgo allocates whatever length a block claims.
type ngGuard struct {
	r     *bufio.Reader
	order binary.ByteOrder
	left  int // bytes of the current block still to pass
}

func (g *ngGuard) Read(p []byte) (n int, err error) {
	for n < len(p) {
		if g.left == 0 {
			if err = g.block(); err != nil {
				break
			}
		}
		k, e := g.r.Read(p[n:min(len(p), n+g.left)])
		n, g.left = n+k, g.left-k
		if e != nil || k == 0 {
			err = e
			break
		}
	}
	if n > 0 && err != nil && !errors.Is(err, io.EOF) {
		return n, nil // the bytes first; the error again on the next read
	}
	return n, err
}

// block checks the next block's header and lets it pass.
func (g *ngGuard) block() error {
	h, err := g.r.Peek(24) // type, length, and a packet block's captured length
	if len(h) < 12 {
		if len(h) == 0 {
			return err
		}
		g.left = len(h) // a cut block: pcapgo reads what there is
		return nil
	}
	if g.order == nil || bytes.Equal(h[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		g.order = binary.ByteOrder(binary.LittleEndian) // a section header sets the byte order
		if binary.BigEndian.Uint32(h[8:12]) == 0x1a2b3c4d {
			g.order = binary.BigEndian
		}
	}
	length := g.order.Uint32(h[4:8])
	switch typ := g.order.Uint32(h[:4]); {
	case length < 12:
		return fmt.Errorf("pcapng block of %d bytes", length)
	case (typ == 2 || typ == 6) && len(h) >= 24: // packet, enhanced packet
		if n := g.order.Uint32(h[20:24]); n > length || n > maxPacket {
			return fmt.Errorf("pcapng packet of %d bytes in a block of %d", n, length)
		}
	case typ == 3: // simple packet: its original length is read
		if n := g.order.Uint32(h[8:12]); n > maxPacket {
			return fmt.Errorf("pcapng packet of %d bytes", n)
		}
	}
	g.left = int(length)
	return nil
}

// captureBuilder reads a capture in bounded memory: the connections open
// (or closed less than retireAfter ago) are kept whole; a closed one
// becomes its Conn, kept when it failed or is among the first
// maxDetailedConns, else only counted.
type captureBuilder struct {
	packets    int
	conns      map[string]*tcpConn
	nextSeq    int
	done       []*tcpConn // retired, with their Conn
	detailed   int        // retired connections kept without a failure
	omitted    int
	start, end time.Time
	parsers    map[layers.LinkType]*packetParser
}

// Retiring connections: a closed one is turned into its Conn retireAfter
// (capture time) after its last packet (late retransmissions and the
// last ACKs come within it); one silent for staleAfter is retired open
// (no gateway keeps an idle connection that long: Envoy's 1 h is the
// longest default). The sweep runs every retireEvery packets.
const (
	retireAfter      = 10 * time.Second
	staleAfter       = 2 * time.Hour
	retireEvery      = 1 << 16
	maxDetailedConns = 2000
)

// linkTypeLinuxSLL2 is LINKTYPE_LINUX_SLL2 (276) as pcapgo reads it:
// gopacket 1.1.19's LinkType is a uint8, so 276 arrives as 20, a number no
// other link type has.
const linkTypeLinuxSLL2 layers.LinkType = 276 & 0xff

// packetParser decodes the layers gwsim reads into preallocated structs:
// the hot path of a large capture (gopacket.NewPacket per packet read
// 17 MB/s; see BenchmarkFromCapture).
type packetParser struct {
	parser  *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
	eth     layers.Ethernet
	lo      layers.Loopback
	sll     layers.LinuxSLL
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
}

func newPacketParser(lt layers.LinkType) *packetParser {
	p := &packetParser{}
	first := layers.LayerTypeEthernet
	switch lt {
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		first = layers.LayerTypeLoopback
	case layers.LinkTypeLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case layers.LinkTypeRaw, layers.LinkTypeIPv4:
		first = layers.LayerTypeIPv4
	case layers.LinkTypeIPv6:
		first = layers.LayerTypeIPv6
	}
	p.parser = gopacket.NewDecodingLayerParser(first, &p.eth, &p.lo, &p.sll, &p.ip4, &p.ip6, &p.tcp)
	p.parser.IgnoreUnsupported = true
	return p
}

// packet decodes one packet and hands its TCP segment on.
func (b *captureBuilder) packet(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
	b.packets++
	if b.start.IsZero() || ci.Timestamp.Before(b.start) {
		b.start = ci.Timestamp
	}
	if ci.Timestamp.After(b.end) {
		b.end = ci.Timestamp
	}
	if lt == linkTypeLinuxSLL2 {
		// Linux cooked v2, tcpdump -i any's default: a 20-byte header, its
		// protocol first (gopacket 1.1.19 has no decoder for it).
		if len(data) < 20 {
			return
		}
		switch binary.BigEndian.Uint16(data[:2]) {
		case 0x0800:
			lt = layers.LinkTypeIPv4
		case 0x86dd:
			lt = layers.LinkTypeIPv6
		default:
			return
		}
		data = data[20:]
	}
	pp := b.parsers[lt]
	if pp == nil {
		pp = newPacketParser(lt)
		b.parsers[lt] = pp
	}
	_ = pp.parser.DecodeLayers(data, &pp.decoded) // what it could not decode is left out
	var src, dst net.IP
	sawTCP := false
	ipPayload := 0 // the IP payload's length on the wire, whatever the snap length kept
	for _, l := range pp.decoded {
		switch l {
		case layers.LayerTypeIPv4:
			src, dst = pp.ip4.SrcIP, pp.ip4.DstIP
			ipPayload = int(pp.ip4.Length) - int(pp.ip4.IHL)*4
		case layers.LayerTypeIPv6:
			src, dst = pp.ip6.SrcIP, pp.ip6.DstIP
			ipPayload = int(pp.ip6.Length)
		case layers.LayerTypeTCP:
			sawTCP = true
		}
	}
	if src == nil || !sawTCP {
		return
	}
	tcp := &pp.tcp
	from := net.JoinHostPort(src.String(), strconv.Itoa(int(tcp.SrcPort)))
	to := net.JoinHostPort(dst.String(), strconv.Itoa(int(tcp.DstPort)))
	key := from + "|" + to
	if to < from {
		key = to + "|" + from
	}
	c := b.conns[key]
	if c != nil && tcp.SYN && !tcp.ACK && !c.opened.IsZero() {
		// The same 4-tuple again: a new connection on a reused port (the
		// client side keeps no TIME_WAIT when the server closed first).
		b.retire(c)
		c = nil
	}
	if c == nil {
		if tcp.RST || (tcp.FIN && len(tcp.Payload) == 0 && !tcp.SYN) {
			return // the end of a connection whose start the capture missed, with nothing to tell
		}
		c = newTCPConn(from, to, tcp)
		c.seq = b.nextSeq
		b.nextSeq++
		b.conns[key] = c
	}
	// A payload the snap length cut: its bytes past the cut were sent, not
	// kept (the IP header says how many).
	missing := 0
	if ci.CaptureLength < ci.Length {
		missing = max(ipPayload-int(tcp.DataOffset)*4-len(tcp.Payload), 0)
	}
	c.segment(from, to, tcp, ci.Timestamp, missing)
	c.last = ci.Timestamp
	if b.packets%retireEvery == 0 {
		b.sweep(false)
	}
}

// sweep retires the connections closed retireAfter ago or silent for
// staleAfter (all of them at the end of the capture).
func (b *captureBuilder) sweep(all bool) {
	for key, c := range b.conns {
		quiet := b.end.Sub(c.last)
		if all || (c.closed() && quiet > retireAfter) || quiet > staleAfter {
			b.retire(c)
			delete(b.conns, key)
		}
	}
}

// retire turns c into its Conn and keeps it, or only counts it (see
// captureBuilder).
func (b *captureBuilder) retire(c *tcpConn) {
	conn := c.conn()
	c.dirs, c.pendingMethods, c.open = nil, nil, nil // the streams' buffers go
	if conn == nil {
		return
	}
	failed := false
	for i := range conn.Exchanges {
		failed = failed || conn.Exchanges[i].Failed
	}
	if !failed {
		if b.detailed >= maxDetailedConns {
			b.omitted++
			return
		}
		b.detailed++
	}
	c.final = conn
	b.done = append(b.done, c)
}

// closed reports whether both sides closed the connection, or one reset it.
func (c *tcpConn) closed() bool {
	fins := 0
	for _, d := range c.dirs {
		if !d.rstAt.IsZero() {
			return true
		}
		if !d.finAt.IsZero() {
			fins++
		}
	}
	return fins == 2
}

// evidence is what the capture showed.
func (b *captureBuilder) evidence() *Evidence {
	b.sweep(true)
	sort.Slice(b.done, func(i, j int) bool { return b.done[i].seq < b.done[j].seq })
	ev := &Evidence{Start: b.start, End: b.end, ConnsOmitted: b.omitted}
	for _, c := range b.done {
		ev.Conns = append(ev.Conns, c.final)
	}
	sort.SliceStable(ev.Conns, func(i, j int) bool { return ev.Conns[i].Opened.Before(ev.Conns[j].Opened) })
	return ev
}

// tcpConn is one TCP connection being read from a capture.
type tcpConn struct {
	client, server string // decided by the SYN, else by who speaks HTTP first
	decided        bool
	ends           [2]string // its two ip:ports
	opened         time.Time
	dirs           map[string]*tcpDir // by sender
	c              Conn
	pendingMethods []string
	// requests not yet answered, oldest first, as indices in c.Exchanges
	open []int
	// lastDone is when the previous exchange ended (its answer's last byte)
	lastDone time.Time
	seq      int       // the order it was first seen in
	last     time.Time // its last packet
	final    *Conn     // its evidence, once retired
}

// tcpDir is one direction: its next expected sequence number, the
// segments that came early, and its HTTP stream.
type tcpDir struct {
	next    uint32
	synced  bool
	early   map[uint32]earlySegment
	http    *httpStream
	finAt   time.Time
	rstAt   time.Time
	earlyB  int
	dataEnd time.Time // when its last payload byte was seen
}

type earlySegment struct {
	data    []byte
	at      time.Time
	missing int // bytes past the snap length's cut
}

// maxEarly bounds the bytes held for segments that came out of order.
const maxEarly = 1 << 20

func newTCPConn(from, to string, tcp *layers.TCP) *tcpConn {
	c := &tcpConn{dirs: map[string]*tcpDir{}, ends: [2]string{from, to}}
	if tcp.SYN && !tcp.ACK {
		c.client, c.server, c.decided = from, to, true
	} else if tcp.SYN && tcp.ACK {
		c.client, c.server, c.decided = to, from, true
	}
	return c
}

func (c *tcpConn) dir(sender string) *tcpDir {
	d := c.dirs[sender]
	if d == nil {
		d = &tcpDir{early: map[uint32]earlySegment{}}
		c.dirs[sender] = d
	}
	return d
}

// segment takes one TCP segment from sender to receiver, seen at t, its
// last missing payload bytes cut by the snap length.
func (c *tcpConn) segment(sender, receiver string, tcp *layers.TCP, t time.Time, missing int) {
	if tcp.SYN && !tcp.ACK && c.opened.IsZero() {
		c.opened = t
	}
	if !c.decided && len(tcp.Payload) > 0 {
		// No handshake seen: the side whose bytes start a request is the
		// client; one whose bytes start a response is the server.
		probe := &httpStream{requests: true}
		switch {
		case probe.startsMessage(tcp.Payload):
			c.client, c.decided = sender, true
		case bytes.HasPrefix(tcp.Payload, []byte("HTTP/1.")):
			c.server, c.decided = sender, true
		}
		// The other side is the receiver (seen yet or not: a capture that
		// starts mid-connection may show the client's bytes first).
		if c.client == sender {
			c.server = receiver
		} else if c.decided {
			c.client = receiver
		}
	}
	d := c.dir(sender)
	if !d.synced {
		d.next, d.synced = tcp.Seq, true
		if tcp.SYN {
			d.next++
		}
	}
	if len(tcp.Payload) > 0 || missing > 0 {
		c.data(sender, d, tcp.Seq, tcp.Payload, t, missing)
	}
	if tcp.FIN && d.finAt.IsZero() {
		d.finAt = t
		if d.http != nil {
			d.http.closed(t)
		}
	}
	if tcp.RST && d.rstAt.IsZero() {
		d.rstAt = t
	}
}

// data places a payload in its direction's stream: in order, after the
// segments held early; a retransmission's old bytes are dropped. The
// payload's last missing bytes were cut by the snap length: they count in
// the sequence space, and the stream is told of them.
func (c *tcpConn) data(sender string, d *tcpDir, seq uint32, payload []byte, t time.Time, missing int) {
	size := uint32(len(payload) + missing)
	if !c.decided {
		d.next = seq + size
		return // no HTTP seen yet on this connection
	}
	if int32(seq-d.next) < 0 { // some or all of it seen already
		skip := d.next - seq
		if skip >= size {
			return
		}
		if skip >= uint32(len(payload)) {
			missing -= int(skip) - len(payload)
			payload = nil
		} else {
			payload = payload[skip:]
		}
		seq = d.next
	}
	if seq != d.next {
		if d.earlyB+len(payload) > maxEarly {
			// Too much missing: give the gap up.
			c.stream(sender, d).lost()
			d.next, d.early, d.earlyB = seq, map[uint32]earlySegment{}, 0
		} else {
			d.early[seq] = earlySegment{append([]byte(nil), payload...), t, missing}
			d.earlyB += len(payload)
			return
		}
	}
	c.deliver(sender, d, payload, t, missing)
	d.next += uint32(len(payload) + missing)
	for {
		e, ok := d.early[d.next]
		if !ok {
			break
		}
		delete(d.early, d.next)
		d.earlyB -= len(e.data)
		c.deliver(sender, d, e.data, e.at, e.missing)
		d.next += uint32(len(e.data) + e.missing)
	}
}

func (c *tcpConn) deliver(sender string, d *tcpDir, payload []byte, t time.Time, missing int) {
	d.dataEnd = t
	h := c.stream(sender, d)
	h.feed(payload, t)
	if missing > 0 {
		h.skip(missing, t)
	}
}

// stream is the HTTP stream of sender's direction.
func (c *tcpConn) stream(sender string, d *tcpDir) *httpStream {
	if d.http != nil {
		return d.http
	}
	h := &httpStream{requests: sender == c.client, methods: &c.pendingMethods}
	if h.requests {
		h.onHead = func(m message) { c.request(m) }
	} else {
		h.onMessage = func(m message) { c.response(m) }
	}
	d.http = h
	return h
}

// request records a request's head. On a connection whose opening the
// capture missed, even the first request seen is on a reused connection
// (of unknown idle age).
func (c *tcpConn) request(m message) {
	n := len(c.c.Exchanges) + 1
	x := Exchange{Method: m.Method, Number: n, Reused: n > 1 || c.opened.IsZero(), Written: m.Start}
	if x.Reused && !c.lastDone.IsZero() {
		x.Idle = m.Start.Sub(c.lastDone)
	}
	c.c.Exchanges = append(c.c.Exchanges, x)
	c.open = append(c.open, len(c.c.Exchanges)-1)
	c.pendingMethods = append(c.pendingMethods, m.Method)
}

// response records a whole response: it answers the oldest open request.
func (c *tcpConn) response(m message) {
	if len(c.pendingMethods) > 0 {
		c.pendingMethods = c.pendingMethods[1:]
	}
	c.lastDone = m.End
	if len(c.open) == 0 {
		return // an answer to a request the capture did not show
	}
	x := &c.c.Exchanges[c.open[0]]
	c.open = c.open[1:]
	x.Done, x.Status = m.End, m.Status
}

// conn is the connection's evidence, or nil when it carried no HTTP.
func (c *tcpConn) conn() *Conn {
	if !c.decided || len(c.c.Exchanges) == 0 {
		return nil
	}
	out := c.c
	out.Hop, out.Client, out.Server = Upstream, c.client, c.server
	out.Opened, out.ServerOpened = c.opened, c.opened
	out.ClientSeen, out.ServerSeen, out.Wire = true, true, true
	cd, sd := c.dirs[c.client], c.dirs[c.server]
	if cd == nil {
		cd = &tcpDir{}
	}
	if sd == nil {
		sd = &tcpDir{}
	}
	// The server's close first: how (a reset, or a FIN and what followed
	// it), and whether a request was waiting for an answer then.
	if !sd.finAt.IsZero() || !sd.rstAt.IsZero() {
		cl := Close{Seen: ServerSide, By: ServerSide, Kind: CloseIdle}
		switch {
		case !sd.finAt.IsZero():
			cl.At, cl.How = sd.finAt, "fin"
			if sd.rstAt.IsZero() && cd.dataEnd.After(sd.finAt) {
				cl.How = "linger" // the client's later bytes were taken, not reset
			}
		default:
			cl.At, cl.How = sd.rstAt, "rst"
		}
		if len(c.open) > 0 {
			// A request still waiting: the server cut it, unless it came
			// so close to the close that they crossed (the race).
			x := &out.Exchanges[c.open[0]]
			if cl.At.Sub(x.Written) > max(crossing, x.Idle/2) {
				cl.Kind = CloseCut
			}
		}
		out.Closes = append(out.Closes, cl)
	}
	if !cd.finAt.IsZero() || !cd.rstAt.IsZero() {
		at := cd.finAt
		if at.IsZero() || (!cd.rstAt.IsZero() && cd.rstAt.Before(at)) {
			at = cd.rstAt
		}
		out.Closes = append(out.Closes, Close{Seen: ClientSide, By: ClientSide, At: at, Kind: CloseOther})
	}
	sort.SliceStable(out.Closes, func(i, j int) bool { return out.Closes[i].At.Before(out.Closes[j].At) })
	// The requests never answered failed when the server's close (or the
	// end of the capture) reached the client.
	for _, i := range c.open {
		x := &out.Exchanges[i]
		x.Failed = true
		switch {
		case !sd.rstAt.IsZero() && sd.rstAt.After(x.Written):
			x.Done, x.ErrKind, x.Err = sd.rstAt, event.ErrReset, "connection reset by peer"
		case !sd.finAt.IsZero():
			x.Done, x.ErrKind, x.Err = later(sd.finAt, x.Written), event.ErrEOF, "EOF"
		case !sd.rstAt.IsZero():
			x.Done, x.ErrKind, x.Err = x.Written, event.ErrReset, "connection reset by peer"
		default:
			x.Failed = false // the capture ended first: nothing to say
		}
	}
	return &out
}

// crossing is how long before the server's close a request may have been
// seen and still be one that crossed it (not one the server held and
// cut): the race's own window on one host or one region, or half the
// connection's idle age when that is longer (a busy server whose idle
// timer fired late, the request unread in its socket, closes tens of
// milliseconds after the request arrived; a capture cannot see whether it
// read it). The engine still names the race only when the idle age fits
// the keep-alive.
const crossing = 2 * time.Millisecond

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
