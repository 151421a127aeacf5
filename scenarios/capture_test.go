package scenarios

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/capturetest"
	"github.com/gwsim/gwsim/scenarios/explain"
)

// startTcpdump and waitCaptured: see package capturetest.
func startTcpdump(t *testing.T, port, file string) (stop func() (dropped int)) {
	t.Helper()
	return capturetest.StartTcpdump(t, port, file)
}

func waitCaptured(t *testing.T, addr, file string) {
	t.Helper()
	capturetest.WaitCaptured(t, addr, file)
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
	waitCaptured(t, addr, file)
	dropped := stop()
	failures := st.Causes[proxy.CauseKeepaliveRace] + st.Causes[proxy.CauseBackendResetMidRequest]
	ev := readCapture(t, file)
	a := explain.Explain(ev)
	t.Logf("gateway: causes %v; capture: %d connections, causes %v", st.Causes, len(ev.Conns), a.Causes)
	for i, x := range a.Explanations {
		if i < 3 {
			t.Logf("story: %s", x.Story(a.Start))
		}
		// Never below Apache's close less the race window; above it by
		// as late as Apache's timer ran on a busy machine.
		if x.Cause == proxy.CauseKeepaliveRace && (x.Idle < 95*time.Millisecond || x.Idle > 200*time.Millisecond) {
			t.Errorf("a race on a connection idle %s, not at Apache's 100 ms close", x.Idle)
		}
	}
	if failures == 0 {
		t.Fatal("the sweep met no race: nothing to find")
	}
	if got := a.Causes[proxy.CauseKeepaliveRace]; got != failures || len(a.Causes) != 1 {
		found := map[string]bool{}
		for _, x := range a.Explanations {
			found[x.Local] = true
		}
		for _, f := range st.Failures {
			if !found[f.Local] {
				t.Logf("not in the capture: the gateway's %s on %s (idle %s, request %d, failed %s after taking it: %s)", f.Cause, f.Local, f.IdleFor, f.ConnRequests, f.Elapsed, f.Err)

			}
		}
		if dropped > 0 {
			t.Skipf("capture causes %v against the gateway's %d failures, with %d packets dropped by the kernel: the capture is incomplete on this machine", a.Causes, failures, dropped)
		}
		t.Errorf("capture causes %v, want keepalive-race %d (the gateway's failures)", a.Causes, failures)
	}
}

// TestCaptureNginxBeforeApache: real nginx (upstream keep-alive,
// proxy_next_upstream off) in front of real Apache (KeepAliveTimeout
// 100ms), swept across Apache's close; a capture of the nginx↔Apache
// traffic finds as many races as nginx logged upstream failures ("upstream
// prematurely closed connection", or a reset), each on a reused connection
// idle about 100 ms.
func TestCaptureNginxBeforeApache(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx, Apache and tcpdump")
	}
	requireApache(t)
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but nginx is missing: .ci/run installs nginx")
		}
		t.Skip("nginx not installed")
	}
	apache := startApache(t, 100*time.Millisecond)
	port := apache[strings.LastIndex(apache, ":")+1:]
	dir := t.TempDir()
	listen := "127.0.0.1:" + freeLoopbackPort(t)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxGatewayConf(dir, listen, apache, "60s")), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "upstream.pcap")
	stop := startTcpdump(t, port, file)
	s, err := Parse("nginx-apache.yaml", []byte(fmt.Sprintf(`name: nginx-apache
gateway: {preset: nginx-pooling, backend_idle_timeout: 60s, url: "http://%s/", command: [%q, -p, %q, -c, %q, -e, %q]}
backend: {url: "http://%s/", keepalive_timeout: 100ms}
load: {pattern: gap-sweep, gap_around: backend-close, gap_from: -3ms, gap_to: 2ms, gap_step: 100us}
expect: {status: {"502": ">0"}}
`, listen, bin, dir, conf, filepath.Join(dir, "error.log"), apache)))
	if err != nil {
		t.Fatal(err)
	}
	r := RunAll(context.Background(), []*Scenario{s}, Options{})[0] // one attempt: the capture and nginx's log hold it alone
	if r.Err != nil {
		t.Fatalf("%v%s", r.Err, r.GatewayOutput)
	}
	waitCaptured(t, apache, file)
	dropped := stop()
	var logged int64
	errorLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
	for _, line := range strings.Split(string(errorLog), "\n") {
		if strings.Contains(line, "while reading response header from upstream") || strings.Contains(line, "while sending request to upstream") {
			logged++
		}
	}
	ev := readCapture(t, file)
	// The test knows Apache's keep-alive, as gwsim probe would tell it
	// (explain --backend-keepalive): one race alone makes no cluster.
	ev.Backend = explain.BackendSettings{Known: true, KeepAlive: 100 * time.Millisecond}
	a := explain.Explain(ev)
	t.Logf("nginx: %s, status %v, %d upstream failures logged; capture: causes %v, %d packets dropped", r.Outcome, r.Status, logged, a.Causes, dropped)
	if r.Status[502] != logged {
		t.Logf("nginx's error log:\n%s", errorLog)
	}
	if r.Outcome == OutcomeInconclusive {
		t.Skipf("inconclusive on this machine: %s", r.InconclusiveReason)
	}
	if logged == 0 && r.Status[502] == 0 {
		t.Skip("the sweep met no race this time: nothing to compare (TestRealNginxGateway asserts that it does)")
	}
	if got := a.Causes[proxy.CauseKeepaliveRace]; got != logged || len(a.Causes) != 1 {
		if dropped > 0 {
			t.Skipf("capture causes %v against nginx's %d, with %d packets dropped by the kernel", a.Causes, logged, dropped)
		}
		t.Errorf("capture causes %v, want keepalive-race %d (nginx's upstream failures)", a.Causes, logged)
	}
	var idle []time.Duration
	for _, x := range a.Explanations {
		if x.Idle < 95*time.Millisecond || x.Idle > 200*time.Millisecond {
			t.Errorf("a race on a connection idle %s, not at Apache's 100 ms close", x.Idle)
		}
		idle = append(idle, x.Idle)
	}
	slices.Sort(idle)
	if m := idle[len(idle)/2]; m < 95*time.Millisecond || m > 105*time.Millisecond {
		t.Errorf("median idle age of the races %s, want Apache's 100 ms ± 5%%", m)
	}
	// The same packets as pcapng give the same answer.
	ng := readCapture(t, toPcapng(t, file))
	ng.Backend = ev.Backend
	b := explain.Explain(ng)
	if !reflect.DeepEqual(a.Causes, b.Causes) || len(a.Explanations) != len(b.Explanations) {
		t.Errorf("as pcapng: causes %v, %d explanations; as pcap: %v, %d", b.Causes, len(b.Explanations), a.Causes, len(a.Explanations))
	}
	for i := range min(len(a.Explanations), len(b.Explanations)) {
		if x, y := a.Explanations[i], b.Explanations[i]; x.Idle != y.Idle || x.Local != y.Local || x.Delta != y.Delta {
			t.Errorf("explanation %d as pcapng: %s idle %s Δ %s; as pcap: %s idle %s Δ %s", i, y.Local, y.Idle, y.Delta, x.Local, x.Idle, x.Delta)
		}
	}
}

// toPcapng writes the packets of the pcap file to a pcapng file beside it
// (one interface, the same link type and times) and returns its path.
func toPcapng(t *testing.T, file string) string {
	t.Helper()
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := pcapgo.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimSuffix(file, ".pcap") + ".pcapng"
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w, err := pcapgo.NewNgWriter(out, r.LinkType())
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		ci.InterfaceIndex = 0
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return path
}

// readCapture is the evidence of the capture in file.
func readCapture(t *testing.T, file string) *explain.Evidence {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ev, err := explain.FromCapture(f)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}
