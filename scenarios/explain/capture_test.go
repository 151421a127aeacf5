package explain

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/gwsim/gwsim/proxy"
)

// pcapBuilder writes a synthetic capture: TCP over IPv4 over Ethernet,
// with each side's sequence numbers kept.
type pcapBuilder struct {
	t   *testing.T
	buf bytes.Buffer
	w   *pcapgo.Writer
	at  time.Time
	seq map[string]uint32
}

func newPcap(t *testing.T) *pcapBuilder {
	p := &pcapBuilder{t: t, at: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC), seq: map[string]uint32{}}
	p.w = pcapgo.NewWriter(&p.buf)
	if err := p.w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	return p
}

// send writes one segment from → to (ports on 10.0.0.1 and 10.0.0.2) after d.
func (p *pcapBuilder) send(d time.Duration, from, to uint16, flags string, payload string) {
	p.at = p.at.Add(d)
	ip := func(port uint16) net.IP {
		if port == 8081 {
			return net.IPv4(10, 0, 0, 2)
		}
		return net.IPv4(10, 0, 0, 1)
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: ip(from), DstIP: ip(to)}
	key := string(rune(from)) + ">" + string(rune(to))
	tcp := &layers.TCP{SrcPort: layers.TCPPort(from), DstPort: layers.TCPPort(to), Seq: p.seq[key], Window: 65535,
		SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"), FIN: strings.Contains(flags, "F"), RST: strings.Contains(flags, "R")}
	_ = tcp.SetNetworkLayerForChecksum(ip4)
	p.seq[key] += uint32(len(payload))
	if tcp.SYN || tcp.FIN {
		p.seq[key]++
	}
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip4, tcp, gopacket.Payload(payload)); err != nil {
		p.t.Fatal(err)
	}
	data := sb.Bytes()
	if err := p.w.WritePacket(gopacket.CaptureInfo{Timestamp: p.at, CaptureLength: len(data), Length: len(data)}, data); err != nil {
		p.t.Fatal(err)
	}
}

const (
	get  = "GET / HTTP/1.1\r\nHost: b\r\n\r\n"
	ok   = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	okCh = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
)

// race writes a connection from port that gets one answer (in the
// segments given), stays idle 100 ms, and meets the server's FIN: its
// next request is reset.
func (p *pcapBuilder) race(port uint16, answer ...string) {
	p.open(port)
	p.send(time.Millisecond, port, 8081, "A", get)
	for _, seg := range answer {
		p.send(100*time.Microsecond, 8081, port, "A", seg)
	}
	p.send(99*time.Millisecond+900*time.Microsecond, 8081, port, "AF", "")
	p.send(100*time.Microsecond, port, 8081, "A", get)
	p.send(50*time.Microsecond, 8081, port, "R", "")
}

// open writes a connection's handshake from port.
func (p *pcapBuilder) open(port uint16) {
	p.send(time.Millisecond, port, 8081, "S", "")
	p.send(100*time.Microsecond, 8081, port, "SA", "")
	p.send(100*time.Microsecond, port, 8081, "A", "")
}

// TestFromCapture: connections found, exchanges paired across chunked and
// length-framed answers split over segments, out of order and
// retransmitted segments, the race (a request after the server's FIN, then
// reset) with its idle age, and a drop on a connection idle far less than
// the cluster of races is not called the race.
func TestFromCapture(t *testing.T) {
	p := newPcap(t)
	// Four races at idle 100 ms: answer (chunked, split mid-head), 100 ms
	// idle, FIN, request, RST.
	for i := range 4 {
		p.race(uint16(40000+i), okCh[:30], okCh[30:])
	}
	// A drop: reused after 5 ms, the server resets the request it read.
	p.open(41000)
	p.send(time.Millisecond, 41000, 8081, "A", get)
	p.send(200*time.Microsecond, 8081, 41000, "A", ok)
	p.send(5*time.Millisecond, 41000, 8081, "A", get)
	p.send(300*time.Microsecond, 8081, 41000, "R", "")
	// A healthy connection with a retransmission and an out-of-order pair.
	p.open(42000)
	p.send(time.Millisecond, 42000, 8081, "A", get)
	p.seq[string(rune(8081))+">"+string(rune(42000))] += 20 // the second segment first
	p.send(200*time.Microsecond, 8081, 42000, "A", ok[20:])
	p.seq[string(rune(8081))+">"+string(rune(42000))] -= uint32(len(ok))
	p.send(10*time.Microsecond, 8081, 42000, "A", ok[:20])
	p.seq[string(rune(8081))+">"+string(rune(42000))] -= 20
	p.send(10*time.Microsecond, 8081, 42000, "A", ok[:20]) // retransmitted
	p.seq[string(rune(8081))+">"+string(rune(42000))] += uint32(len(ok)) - 20

	ev, err := FromCapture(bytes.NewReader(p.buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Conns) != 6 {
		t.Fatalf("%d connections, want 6", len(ev.Conns))
	}
	healthy := ev.Conns[5]
	if len(healthy.Exchanges) != 1 || healthy.Exchanges[0].Status != 200 || healthy.Exchanges[0].Failed {
		t.Errorf("healthy connection: %+v", healthy.Exchanges)
	}
	a := Explain(ev)
	if a.Causes[proxy.CauseKeepaliveRace] != 4 || a.Causes[CauseBackendClosedReused] != 1 || len(a.Causes) != 2 {
		t.Fatalf("causes %v, want 4 races and 1 failure that is not the race", a.Causes)
	}
	for _, x := range a.Explanations {
		story := x.Story(a.Start)
		if x.Cause == proxy.CauseKeepaliveRace && (x.Idle < 99*time.Millisecond || x.Idle > 101*time.Millisecond || !strings.Contains(story, "FIN; the request was reset")) {
			t.Errorf("race: idle %s: %s", x.Idle, story)
		}
		if !strings.Contains(story, "what the client got is not in th") {
			t.Errorf("a capture's story must not claim what the client got: %s", story)
		}
	}
}

// TestFromCaptureBadInput: not a capture, or a cut one, is an error or
// what there is; never a panic.
func TestFromCaptureBadInput(t *testing.T) {
	if _, err := FromCapture(strings.NewReader(`{"kind":"config"}`)); err == nil {
		t.Error("a journal read as a capture")
	}
	p := newPcap(t)
	p.open(40000)
	p.send(time.Millisecond, 40000, 8081, "A", get)
	cut := p.buf.Bytes()[:len(p.buf.Bytes())-10]
	if _, err := FromCapture(bytes.NewReader(cut)); err != nil {
		t.Errorf("a capture cut mid-packet: %v", err)
	}
}

// BenchmarkFromCapture reads a synthetic capture of 200 connections of 20
// exchanges each (about 30k packets): MB/s of capture read.
func BenchmarkFromCapture(b *testing.B) {
	p := newPcap(&testing.T{})
	for i := range 200 {
		port := uint16(40000 + i)
		p.open(port)
		for range 20 {
			p.send(time.Millisecond, port, 8081, "A", get)
			p.send(100*time.Microsecond, 8081, port, "A", ok)
		}
	}
	data := p.buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromCapture(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFromPcapng: the same packets in a pcapng file give the same evidence.
func TestFromPcapng(t *testing.T) {
	p := newPcap(t)
	for i := range 3 {
		p.race(uint16(40000+i), ok)
	}
	r, err := pcapgo.NewReader(bytes.NewReader(p.buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var ng bytes.Buffer
	w, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !IsCapture(ng.Bytes()) {
		t.Fatal("pcapng magic not recognised")
	}
	ev, err := FromCapture(bytes.NewReader(ng.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if a := Explain(ev); len(ev.Conns) != 3 || a.Causes[proxy.CauseKeepaliveRace] != 3 {
		t.Fatalf("%d connections, causes %v: want 3 and 3 races", len(ev.Conns), a.Causes)
	}
}

// TestFromCaptureBoundsMemory: a capture of many closed connections keeps
// the failed ones and the first maxDetailedConns whole, and only counts
// the rest; the races and the connection count are unchanged.
func TestFromCaptureBoundsMemory(t *testing.T) {
	p := newPcap(t)
	const plain = maxDetailedConns + 7000 // past retireEvery packets and retireAfter of capture time: retired while reading
	for i := range plain {
		port := uint16(20000 + i)
		p.open(port)
		p.send(time.Millisecond, port, 8081, "A", get)
		p.send(100*time.Microsecond, 8081, port, "A", ok)
		p.send(time.Millisecond, port, 8081, "AF", "")
		p.send(100*time.Microsecond, 8081, port, "AF", "")
	}
	for i := range 4 {
		p.race(uint16(40000+i), ok)
	}
	ev, err := FromCapture(bytes.NewReader(p.buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Conns) != maxDetailedConns+4 || ev.ConnsOmitted != plain-maxDetailedConns {
		t.Fatalf("%d connections kept, %d omitted; want %d and %d", len(ev.Conns), ev.ConnsOmitted, maxDetailedConns+4, plain-maxDetailedConns)
	}
	a := Explain(ev)
	if a.Causes[proxy.CauseKeepaliveRace] != 4 || len(a.Lanes)+a.LanesOmitted != plain+4 {
		t.Fatalf("causes %v, %d lanes + %d omitted; want 4 races over %d connections", a.Causes, len(a.Lanes), a.LanesOmitted, plain+4)
	}
}
