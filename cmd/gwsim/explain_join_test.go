package main

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gwsim/gwsim/scenarios/capturetest"
)

// TestExplainCaptureJoinsAccessLog (issue 12): a tcpdump of the gateway's
// backend side and the gateway's Application Gateway V2 access log of the
// same sweep, explained together: every race in the capture joins the log
// line of its request by upstreamSourcePort (the capture's client port),
// backend and time, and takes the status the client was sent from it; no
// 502 of the log is left without its connection in the capture.
func TestExplainCaptureJoinsAccessLog(t *testing.T) {
	if testing.Short() {
		t.Skip("tcpdump and a real-time sweep")
	}
	dir := t.TempDir()
	access, capture := filepath.Join(dir, "access.json"), filepath.Join(dir, "backend.pcap")
	a := newActors(t)
	b := a.start("backend", "--listen", "127.0.0.1:0", "--admin-listen", "off", "--preset", "apache", "--time-scale", "0.1", "--log-level", "info")
	port := b.listen[strings.LastIndex(b.listen, ":")+1:]
	stop := capturetest.StartTcpdump(t, port, capture)
	gaddr := a.start("proxy", "--listen", "127.0.0.1:0", "--admin-listen", "off", "--backends", b.listen, "--profile", "appgw-v2",
		"--time-scale", "0.1", "--access-log-format", "appgw-v2", "--access-log", access, "--log-level", "info",
		"--link-latency", "1ms").listen
	code, out, errOut := runCLI(t, "load", "--target", "http://"+gaddr+"/", "--pattern", "aimed", "--workers", "4",
		"--gap-from", "498ms", "--gap-to", "502ms", "--gap-step", "100us", "--json")
	if code != exitOK {
		t.Fatalf("load: exit %d %s", code, errOut)
	}
	var lr struct {
		Status map[string]int `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &lr); err != nil {
		t.Fatal(err)
	}
	capturetest.WaitCaptured(t, b.listen, capture)
	dropped := stop()
	a.stop()
	if t.Failed() {
		t.FailNow()
	}
	races := lr.Status["502"]
	if races == 0 {
		t.Skipf("no request met the close on this machine (statuses %v)", lr.Status)
	}

	code, out, errOut = runCLI(t, "explain", "--max", "2", capture, "--access-log", access)
	if code != exitOK {
		t.Fatalf("explain: exit %d %s", code, errOut)
	}
	t.Logf("explain:\n%s", out)
	wantJoin := "joined to the access log: " + strconv.Itoa(races) + " of its failures matched a log line, 0 did not; 0 of the log's " + strconv.Itoa(races) + " failures with a source port matched none"
	if !strings.Contains(out, wantJoin) {
		if dropped > 0 {
			t.Skipf("the kernel dropped %d packets: the capture is incomplete on this machine", dropped)
		}
		t.Fatalf("explain lacks %q", wantJoin)
	}
	if !strings.Contains(out, "the client got 502. The gateway's access log ("+access+":") {
		t.Errorf("the story does not say what the client got from the log")
	}

	code, out, errOut = runCLI(t, "explain", "--json", capture, "--access-log", access)
	if code != exitOK {
		t.Fatalf("explain --json: exit %d %s", code, errOut)
	}
	var doc struct {
		Analyses []struct {
			Explanations []struct {
				Cause     string `json:"cause"`
				Status    int    `json:"status"`
				AccessLog *struct {
					Line   int    `json:"line"`
					Status int    `json:"status"`
					Class  string `json:"class"`
				} `json:"access_log"`
			} `json:"explanations"`
		} `json:"analyses"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	n := 0
	for _, x := range doc.Analyses[0].Explanations {
		if x.AccessLog == nil || x.Status != 502 || x.AccessLog.Class != "keepalive-race-likely" {
			t.Errorf("explanation %+v: want its access-log line, status 502", x)
			continue
		}
		n++
	}
	if n != races {
		t.Errorf("%d joined explanations, want the load's %d 502s", n, races)
	}
}
