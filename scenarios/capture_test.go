package scenarios

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/explain"
)

// startTcpdump captures loopback TCP on port to a pcap file until stop is
// called; it returns once tcpdump listens.
func startTcpdump(t *testing.T, port, file string) (stop func()) {
	t.Helper()
	bin, err := exec.LookPath("tcpdump")
	if err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but tcpdump is missing or not root (%v): .ci/run installs tcpdump and runs as root", err)
		}
		t.Skip("tcpdump not installed, or not root")
	}
	cmd := exec.Command(bin, "-i", "lo", "-U", "-s", "0", "-w", file, "tcp port "+port)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var seen []string
		for sc.Scan() {
			seen = append(seen, sc.Text())
			if strings.Contains(sc.Text(), "listening on") {
				listening <- ""
			}
		}
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
	done := false
	stop = func() {
		if done {
			return
		}
		done = true
		_ = cmd.Process.Signal(syscall.SIGINT) // flushes and closes the file
		_ = cmd.Wait()
	}
	t.Cleanup(stop)
	return stop
}

// TestCaptureFindsApacheRaces takes a capture with tcpdump on loopback of
// gwsim's gateway in front of real Apache (KeepAliveTimeout 100ms) swept
// across the close, and explains it: every failure the gateway counted is
// found in the capture as the keep-alive race, on a reused connection idle
// near Apache's close, and nothing else is.
func TestCaptureFindsApacheRaces(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Apache and tcpdump")
	}
	requireApache(t)
	addr := startApache(t, 100*time.Millisecond)
	port := addr[strings.LastIndex(addr, ":")+1:]
	file := filepath.Join(t.TempDir(), "backend.pcap")
	stop := startTcpdump(t, port, file)
	_, st, _ := sweepApache(t, addr, []gapRange{raceSweep})
	stop()
	failures := st.Causes[proxy.CauseKeepaliveRace] + st.Causes[proxy.CauseBackendResetMidRequest]
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ev, err := explain.FromCapture(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := explain.Explain(ev)
	t.Logf("gateway: causes %v; capture: %d connections, causes %v", st.Causes, len(ev.Conns), a.Causes)
	for i, x := range a.Explanations {
		if i < 3 {
			t.Logf("story: %s", x.Story(a.Start))
		}
		if x.Cause == proxy.CauseKeepaliveRace && (x.Idle < 80*time.Millisecond || x.Idle > 120*time.Millisecond) {
			t.Errorf("a race on a connection idle %s, not near Apache's 100 ms close", x.Idle)
		}
	}
	if failures == 0 {
		t.Fatal("the sweep met no race: nothing to find")
	}
	if got := a.Causes[proxy.CauseKeepaliveRace]; got != failures || len(a.Causes) != 1 {
		t.Errorf("capture causes %v, want keepalive-race %d (the gateway's failures)", a.Causes, failures)
	}
}
