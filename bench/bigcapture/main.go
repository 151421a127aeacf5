// Command bigcapture writes a synthetic pcap of a gateway's backend side,
// as large as asked, to measure gwsim explain's memory and speed on a
// large capture (bench/README.md, "A large capture"): connections of 20
// keep-alive exchanges each, closed by both sides, and every 1000th one a
// keep-alive race (a request after the server's FIN, then reset).
//
//	go run ./bench/bigcapture -mb 1024 -out /tmp/big.pcap
//	/usr/bin/time -v gwsim explain /tmp/big.pcap
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

func main() {
	mb := flag.Int("mb", 1024, "size of the capture to write, in MiB")
	out := flag.String("out", "big.pcap", "the pcap file to write")
	flag.Parse()
	if *mb <= 0 {
		fmt.Fprintln(os.Stderr, "bigcapture: -mb must be > 0")
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bigcapture:", err)
		os.Exit(1)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		fmt.Fprintln(os.Stderr, "bigcapture:", err)
		os.Exit(1)
	}
	g := &gen{w: w, at: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC), seq: map[[2]uint16]uint32{}}
	const get = "GET /api/items?page=1 HTTP/1.1\r\nHost: backend\r\nUser-Agent: bigcapture\r\nAccept: */*\r\n\r\n"
	body := make([]byte, 900)
	for i := range body {
		body[i] = 'x'
	}
	ok := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	limit := int64(*mb) << 20
	conns, races := 0, 0
	for g.written < limit {
		port := uint16(1024 + conns%60000)
		delete(g.seq, [2]uint16{port, 8081})
		delete(g.seq, [2]uint16{8081, port})
		g.send(time.Millisecond, port, 8081, "S", "")
		g.send(100*time.Microsecond, 8081, port, "SA", "")
		g.send(100*time.Microsecond, port, 8081, "A", "")
		for range 20 {
			g.send(10*time.Millisecond, port, 8081, "A", get)
			g.send(200*time.Microsecond, 8081, port, "A", ok)
		}
		if conns%1000 == 999 {
			// The race: 100 ms idle, the server's FIN, a request, a reset.
			g.send(100*time.Millisecond, 8081, port, "AF", "")
			g.send(100*time.Microsecond, port, 8081, "A", get)
			g.send(50*time.Microsecond, 8081, port, "R", "")
			races++
		} else {
			g.send(time.Millisecond, port, 8081, "AF", "")
			g.send(100*time.Microsecond, 8081, port, "AF", "")
		}
		conns++
	}
	if err := bw.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "bigcapture:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "bigcapture:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d MiB, %d connections, %d races\n", *out, g.written>>20, conns, races)
}

type gen struct {
	w       *pcapgo.Writer
	at      time.Time
	seq     map[[2]uint16]uint32
	written int64
	sb      gopacket.SerializeBuffer
}

func (g *gen) send(d time.Duration, from, to uint16, flags, payload string) {
	g.at = g.at.Add(d)
	ip := func(port uint16) net.IP {
		if port == 8081 {
			return net.IPv4(10, 0, 0, 2)
		}
		return net.IPv4(10, 0, 0, 1)
	}
	has := func(c byte) bool {
		for i := 0; i < len(flags); i++ {
			if flags[i] == c {
				return true
			}
		}
		return false
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: ip(from), DstIP: ip(to)}
	key := [2]uint16{from, to}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(from), DstPort: layers.TCPPort(to), Seq: g.seq[key], Window: 65535,
		SYN: has('S'), ACK: has('A'), FIN: has('F'), RST: has('R')}
	_ = tcp.SetNetworkLayerForChecksum(ip4)
	g.seq[key] += uint32(len(payload))
	if tcp.SYN || tcp.FIN {
		g.seq[key]++
	}
	if g.sb == nil {
		g.sb = gopacket.NewSerializeBuffer()
	}
	if err := gopacket.SerializeLayers(g.sb, gopacket.SerializeOptions{FixLengths: true}, eth, ip4, tcp, gopacket.Payload(payload)); err != nil {
		fmt.Fprintln(os.Stderr, "bigcapture:", err)
		os.Exit(1)
	}
	data := g.sb.Bytes()
	if err := g.w.WritePacket(gopacket.CaptureInfo{Timestamp: g.at, CaptureLength: len(data), Length: len(data)}, data); err != nil {
		fmt.Fprintln(os.Stderr, "bigcapture:", err)
		os.Exit(1)
	}
	g.written += int64(len(data)) + 16
}
