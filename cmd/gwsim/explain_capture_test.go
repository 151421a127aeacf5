package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// TestExplainCapture: `gwsim explain --json` recognises a pcap by its
// magic and explains the race in it: a request written on a reused
// connection just after the server's FIN, reset.
func TestExplainCapture(t *testing.T) {
	path := filepath.Join(t.TempDir(), "race.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	seq := map[bool]uint32{}
	send := func(d time.Duration, fromClient bool, syn, ack, fin, rst bool, payload string) {
		at = at.Add(d)
		src, dst, sp, dp := net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2), layers.TCPPort(40000), layers.TCPPort(8081)
		if !fromClient {
			src, dst, sp, dp = dst, src, dp, sp
		}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		tcp := &layers.TCP{SrcPort: sp, DstPort: dp, Seq: seq[fromClient], SYN: syn, ACK: ack, FIN: fin, RST: rst, Window: 65535}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		seq[fromClient] += uint32(len(payload))
		if syn || fin {
			seq[fromClient]++
		}
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(sb.Bytes()), Length: len(sb.Bytes())}, sb.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	const get, ok = "GET / HTTP/1.1\r\nHost: b\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	send(0, true, true, false, false, false, "")
	send(time.Millisecond, false, true, true, false, false, "")
	send(time.Millisecond, true, false, true, false, false, get)
	send(time.Millisecond, false, false, true, false, false, ok)
	send(5*time.Second, false, false, true, true, false, "") // the idle close
	send(200*time.Microsecond, true, false, true, false, false, get)
	send(100*time.Microsecond, false, false, false, false, true, "")
	f.Close()

	code, out, errOut := runCLI(t, "explain", "--json", path)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var d struct {
		SchemaVersion int `json:"schema_version"`
		Analyses      []struct {
			Name         string           `json:"name"`
			Causes       map[string]int64 `json:"causes"`
			Explanations []struct {
				Cause        string   `json:"cause"`
				Subkind      string   `json:"subkind"`
				Local        string   `json:"local"`
				Remote       string   `json:"remote"`
				IdleSeconds  float64  `json:"idle_seconds"`
				DeltaSeconds *float64 `json:"delta_seconds"`
				Story        string   `json:"story"`
			} `json:"explanations"`
		} `json:"analyses"`
	}
	err = json.Unmarshal([]byte(out), &d)
	doc := d.Analyses
	if err != nil || d.SchemaVersion != 1 || len(doc) != 1 || len(doc[0].Explanations) != 1 {
		t.Fatalf("%v\n%s", err, out)
	}
	x := doc[0].Explanations[0]
	// One failure cannot make a cluster, and no keep-alive is stated: the
	// engine does not call it the race.
	if x.Cause != "backend-closed-reused-connection" || x.Local != "127.0.0.1:40000" || x.Remote != "127.0.0.2:8081" || x.IdleSeconds < 4.99 || x.IdleSeconds > 5.01 {
		t.Errorf("explanation %+v", x)
	}
	// Told the backend's keep-alive (5 s, as gwsim probe would measure
	// it), the same failure fits it: the race, a FIN then a reset.
	code, out, _ = runCLI(t, "explain", "--json", "--backend-keepalive", "5s", path)
	err = json.Unmarshal([]byte(out), &d)
	doc = d.Analyses
	if code != exitOK || err != nil || len(doc) != 1 || len(doc[0].Explanations) != 1 {
		t.Fatalf("exit %d %v\n%s", code, err, out)
	}
	if x := doc[0].Explanations[0]; x.Cause != "keepalive-race" || x.Subkind != "fin" || x.DeltaSeconds == nil || *x.DeltaSeconds < 0 {
		t.Errorf("with the keep-alive stated: %+v", x)
	}
}
