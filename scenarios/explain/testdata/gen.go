//go:build ignore

// gen takes the edge-case captures of this directory for real: gwsim's toy
// backend on loopback, tcpdump, and a tiny client whose timing is exact.
// It needs root and tcpdump. Run it from the module root:
//
//	go run scenarios/explain/testdata/gen.go [file...]
//
// (only the files named, when any are). It prints every command it runs (see README.md). Each capture is a few
// KB; the timings are real, so a new run gives the same answers (idle ages
// within a few ms) but not the same bytes.
package main

import (
	"bufio"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

const dir = "scenarios/explain/testdata"

var gwsim = filepath.Join(os.TempDir(), "gwsim-testdata-gen")

func main() {
	log.SetFlags(0)
	run("go", "build", "-o", gwsim, "./cmd/gwsim")

	// RST close: one connection left idle until the backend resets it at
	// its 100 ms keep-alive (no failure), and one to a backend with the
	// race trap that resets a request sent after 150 ms idle.
	capture("rst-close.pcap", []string{"-i", "lo", "-s", "0"}, "tcp portrange 23711-23712",
		[][]string{
			{"--listen", "127.0.0.1:23711", "--keepalive-timeout", "100ms", "--close", "rst"},
			{"--listen", "127.0.0.1:23712", "--keepalive-timeout", "100ms", "--close", "rst", "--race-trap"},
		}, func() {
			c := dial("127.0.0.1:23711")
			c.get()
			c.awaitClose()
			c.Close()
			c = dial("127.0.0.1:23712")
			c.get()
			time.Sleep(150 * time.Millisecond)
			c.send()
			c.awaitClose()
			c.Close()
		}, nil)

	// Lingering close (Apache's): the backend's FIN at its 100 ms
	// keep-alive; a request sent the moment the client reads it is
	// drained, never answered; the client closes 300 ms later. Taken on
	// the any device as LINUX_SLL (tcpdump's default there is SLL2).
	capture("linger-close.pcap", []string{"-i", "any", "-y", "LINUX_SLL", "-s", "0"}, "tcp port 23713",
		[][]string{{"--listen", "127.0.0.1:23713", "--keepalive-timeout", "100ms", "--close", "linger"}},
		func() {
			c := dial("127.0.0.1:23713")
			c.get()
			c.awaitClose()
			c.send()
			time.Sleep(300 * time.Millisecond)
			c.Close()
		}, nil)

	// IPv6: the race with a FIN over ::1: a request sent the moment the
	// client reads the backend's FIN (at its 100 ms keep-alive) is reset.
	capture("ipv6-fin.pcap", []string{"-i", "lo", "-s", "0"}, "tcp port 23714",
		[][]string{{"--listen", "[::1]:23714", "--keepalive-timeout", "100ms", "--close", "fin"}},
		func() {
			c := dial("[::1]:23714")
			c.get()
			c.awaitClose()
			c.send()
			c.awaitClose()
			c.Close()
		}, nil)

	// A capture that starts mid-connection: tcpdump starts after the
	// handshake and the first exchange (keep-alive 1 s, so the start of
	// tcpdump fits in it); then an exchange, and the race with a FIN.
	var mid *client
	capture("mid-connection.pcap", []string{"-i", "lo", "-s", "0"}, "tcp port 23715",
		[][]string{{"--listen", "127.0.0.1:23715", "--keepalive-timeout", "1s", "--close", "fin"}},
		func() {
			mid.get()
			c := mid
			c.awaitClose()
			c.send()
			c.awaitClose()
			c.Close()
		}, func() {
			mid = dial("127.0.0.1:23715")
			mid.get()
		})

	// A truncated snap length: 96 bytes a packet keep the link, IP and TCP
	// headers and the first 30 bytes of each payload (the request and
	// status lines, not the whole heads). Two exchanges 20 ms apart with
	// 2,000-byte bodies, then the race with a FIN.
	truncated := func() {
		c := dial("127.0.0.1:23716")
		c.get()
		time.Sleep(20 * time.Millisecond)
		c.get()
		c.awaitClose()
		c.send()
		c.awaitClose()
		c.Close()
	}
	backend96 := [][]string{{"--listen", "127.0.0.1:23716", "--keepalive-timeout", "100ms", "--close", "fin", "--response-size", "2000"}}
	capture("snaplen-96.pcap", []string{"-i", "lo", "-s", "96"}, "tcp port 23716", backend96, truncated, nil)
	// The same with 300 bytes a packet: the heads whole, the bodies cut.
	capture("snaplen-300.pcap", []string{"-i", "lo", "-s", "300"}, "tcp port 23716", backend96, truncated, nil)

	// tcpdump -i any's default link type, LINUX_SLL2: the race with a FIN.
	capture("any-sll2.pcap", []string{"-i", "any", "-s", "0"}, "tcp port 23717",
		[][]string{{"--listen", "127.0.0.1:23717", "--keepalive-timeout", "100ms", "--close", "fin"}},
		func() {
			c := dial("127.0.0.1:23717")
			c.get()
			c.awaitClose()
			c.send()
			c.awaitClose()
			c.Close()
		}, nil)

	if wanted("two-interfaces.pcapng") {
		twoInterfaces()
	}
	os.Remove(gwsim)
}

// wanted reports whether name is to be made: named on the command line,
// or none named.
func wanted(name string) bool {
	return len(os.Args) < 2 || slices.Contains(os.Args[1:], name)
}

// twoInterfaces writes two-interfaces.pcapng: interface 0 is lo
// (Ethernet) with rst-close.pcap's packets, interface 1 is any (LINUX_SLL)
// with linger-close.pcap's, in time order.
func twoInterfaces() {
	log.Printf("# two-interfaces.pcapng: pcapgo.NgWriter, interface 0 = rst-close.pcap (EN10MB), 1 = linger-close.pcap (LINUX_SLL)")
	type pkt struct {
		ci   gopacket.CaptureInfo
		data []byte
	}
	var all []pkt
	var links []layers.LinkType
	for i, name := range []string{"rst-close.pcap", "linger-close.pcap"} {
		f, err := os.Open(filepath.Join(dir, name))
		check(err)
		r, err := pcapgo.NewReader(f)
		check(err)
		links = append(links, r.LinkType())
		for {
			data, ci, err := r.ReadPacketData()
			if err == io.EOF {
				break
			}
			check(err)
			ci.InterfaceIndex = i
			all = append(all, pkt{ci, data})
		}
		f.Close()
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].ci.Timestamp.Before(all[j].ci.Timestamp) })
	out, err := os.Create(filepath.Join(dir, "two-interfaces.pcapng"))
	check(err)
	w, err := pcapgo.NewNgWriterInterface(out, pcapgo.NgInterface{Name: "lo", LinkType: links[0], SnapLength: 262144, TimestampResolution: 9},
		pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "gwsim testdata/gen.go"}})
	check(err)
	id, err := w.AddInterface(pcapgo.NgInterface{Name: "any", LinkType: links[1], SnapLength: 262144, TimestampResolution: 9})
	check(err)
	if id != 1 {
		log.Fatalf("second interface got id %d", id)
	}
	for _, p := range all {
		check(w.WritePacket(p.ci, p.data))
	}
	check(w.Flush())
	check(out.Close())
}

// capture starts the backends, then (after before, if any) tcpdump with
// args and filter writing name, runs the client, and stops them all.
func capture(name string, args []string, filter string, backends [][]string, clientRun, before func()) {
	if !wanted(name) {
		return
	}
	log.Printf("# %s", name)
	var procs []*exec.Cmd
	for _, b := range backends {
		cmd := exec.Command(gwsim, append([]string{"backend", "--log-level", "off", "--admin-listen", "off"}, b...)...)
		log.Printf("%s &", strings.Join(cmd.Args, " "))
		check(cmd.Start())
		procs = append(procs, cmd)
		addr := b[1]
		for i := 0; ; i++ {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				break
			}
			if i > 100 {
				log.Fatalf("backend %s did not start", addr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if before != nil {
		before()
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("tcpdump", append(append([]string{"-U", "--immediate-mode", "-w", out}, args...), filter)...)
	log.Printf("%s &", strings.Join(cmd.Args, " "))
	stderr, err := cmd.StderrPipe()
	check(err)
	check(cmd.Start())
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "listening on") {
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	time.Sleep(200 * time.Millisecond)
	clientRun()
	time.Sleep(200 * time.Millisecond)
	check(cmd.Process.Signal(syscall.SIGINT))
	check(cmd.Wait())
	for _, p := range procs {
		p.Process.Signal(syscall.SIGTERM)
		p.Wait()
	}
	st, err := os.Stat(out)
	check(err)
	log.Printf("# %s: %d bytes", name, st.Size())
}

// client is one keep-alive connection, driven by hand.
type client struct {
	net.Conn
	br *bufio.Reader
}

func dial(addr string) *client {
	c, err := net.Dial("tcp", addr)
	check(err)
	return &client{c, bufio.NewReader(c)}
}

const request = "GET / HTTP/1.1\r\nHost: gwsim\r\nUser-Agent: gwsim-testdata\r\n\r\n"

// send writes a request without reading its answer.
func (c *client) send() {
	_, err := io.WriteString(c, request)
	check(err)
}

// get sends a request and reads its answer whole.
func (c *client) get() {
	c.send()
	resp, err := http.ReadResponse(c.br, nil)
	check(err)
	_, err = io.Copy(io.Discard, resp.Body)
	check(err)
	resp.Body.Close()
}

// awaitClose waits for the backend's FIN or RST (any read error).
func (c *client) awaitClose() {
	check(c.SetReadDeadline(time.Now().Add(5 * time.Second)))
	b, err := c.br.Peek(1)
	if err == nil {
		log.Fatalf("unexpected bytes %q", b)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		log.Fatal("no close within 5 s")
	}
	check(c.SetReadDeadline(time.Time{}))
}

func run(name string, args ...string) {
	log.Printf("%s %s", name, strings.Join(args, " "))
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	check(cmd.Run())
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
