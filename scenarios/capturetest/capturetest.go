// Package capturetest takes packet captures for tests: tcpdump on
// loopback, started and stopped by the test (it needs root and tcpdump;
// without them the test is skipped, and under CI=true it fails, since CI
// installs tcpdump and runs as root).
package capturetest

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// StartTcpdump captures loopback TCP on port to a pcap file until stop is
// called; it returns once tcpdump listens. stop reports how many packets
// the kernel dropped (tcpdump's own count).
func StartTcpdump(t testing.TB, port, file string) (stop func() (dropped int)) {
	t.Helper()
	bin, err := exec.LookPath("tcpdump")
	if err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but tcpdump is missing or not root (%v): .ci/run installs tcpdump and runs as root", err)
		}
		t.Skip("tcpdump not installed, or not root")
	}
	cmd := exec.Command(bin, "-i", "lo", "--immediate-mode", "-U", "-s", "0", "-w", file, "tcp port "+port)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	dropped := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var seen []string
		drops := 0
		for sc.Scan() {
			seen = append(seen, sc.Text())
			if strings.Contains(sc.Text(), "listening on") {
				listening <- ""
			}
			if f := strings.Fields(sc.Text()); len(f) > 1 && strings.HasSuffix(sc.Text(), "dropped by kernel") {
				drops, _ = strconv.Atoi(f[0])
			}
		}
		dropped <- drops
		listening <- strings.Join(seen, "\n")
	}()
	select {
	case out := <-listening:
		if out != "" {
			t.Fatalf("tcpdump exited: %s", out)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("tcpdump did not start listening within 10 s")
	}
	done, drops := false, 0
	stop = func() int {
		if done {
			return drops
		}
		done = true
		_ = cmd.Process.Signal(syscall.SIGINT) // flushes and closes the file
		drops = <-dropped
		_ = cmd.Wait()
		return drops
	}
	t.Cleanup(func() { stop() })
	return stop
}

// WaitCaptured makes a marker connection to addr and waits (up to 10 s)
// until tcpdump has written its SYN to file: every packet before it is
// then in the file too (tcpdump writes in order, and stopping it drops
// what it has not read yet).
func WaitCaptured(t testing.TB, addr, file string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	marker := c.LocalAddr().String()
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if f, err := os.Open(file); err == nil {
			r, err := pcapgo.NewReader(f)
			for err == nil {
				var data []byte
				data, _, err = r.ReadPacketData()
				p := gopacket.NewPacket(data, r.LinkType(), gopacket.Lazy)
				if tcp, ok := p.TransportLayer().(*layers.TCP); ok && tcp.SYN && !tcp.ACK && p.NetworkLayer() != nil &&
					net.JoinHostPort(p.NetworkLayer().NetworkFlow().Src().String(), strconv.Itoa(int(tcp.SrcPort))) == marker {
					f.Close()
					return
				}
			}
			f.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("tcpdump did not write the marker connection %s within 10 s", marker)
		}
		time.Sleep(20 * time.Millisecond) // polling tcpdump's file, bounded by the deadline
	}
}
