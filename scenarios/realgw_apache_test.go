package scenarios

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loggedApache is real Apache with an access log of what gateways sent
// it: per request, the gateway's port toward Apache, how many requests
// Apache had served on that connection before it (%k: 0 = a new
// connection, more = a reused one), the method and the status.
type loggedApache struct {
	Addr string
	Log  string // the access log's path
}

// apacheAccessFormat is the access log's LogFormat.
const apacheAccessFormat = `%{remote}p %k %m %>s`

// startLoggedApache starts Apache (KeepAliveTimeout keepAlive) with its
// access log, on a free loopback port, until the test ends.
func startLoggedApache(t *testing.T, keepAlive time.Duration) *loggedApache {
	t.Helper()
	dir := apacheDir(t)
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		logPath := filepath.Join(dir, "access_log")
		conf := apacheConf(t, dir, addr, keepAlive) + fmt.Sprintf("LogFormat %q gw\nCustomLog %q gw\n", apacheAccessFormat, logPath)
		path := filepath.Join(dir, "httpd.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		out := &lockedBuffer{}
		cmd := exec.Command(apacheBin, "-f", path, "-D", "FOREGROUND")
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		deadline := time.Now().Add(10 * time.Second)
		served := false
		for !served && time.Now().Before(deadline) {
			select {
			case err := <-exited:
				msg := out.String() + readTail(filepath.Join(dir, "error_log"))
				if strings.Contains(msg, "Address already in use") && attempt < 3 {
					t.Logf("retrying on another port: %s", msg)
					deadline = time.Time{}
					continue
				}
				t.Fatalf("apache exited before serving (%v): %s", err, msg)
			case <-time.After(20 * time.Millisecond): // polling its port, bounded by the deadline
			}
			served = apacheServes(addr) == nil
		}
		if deadline.IsZero() {
			continue
		}
		if !served {
			stopApache(t, cmd, exited)
			t.Fatalf("apache on %s not serving after 10 s: %s", addr, out.String())
		}
		t.Cleanup(func() { stopApache(t, cmd, exited) })
		return &loggedApache{Addr: addr, Log: logPath}
	}
}

// apacheLine is one access-log line.
type apacheLine struct {
	Port, Served int
	Method       string
	Status       int
}

// size is the access log's size now: lines from it on are those to come.
func (a *loggedApache) size(t *testing.T) int64 {
	st, err := os.Stat(a.Log)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// linesFrom returns the access log's lines from offset on, waiting (up to
// 2 s) until there are at least want: Apache writes a line just after its
// response.
func (a *loggedApache) linesFrom(t *testing.T, offset int64, want int) []apacheLine {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		b, err := os.ReadFile(a.Log)
		if err != nil {
			t.Fatal(err)
		}
		var lines []apacheLine
		for _, l := range strings.Split(string(b[offset:]), "\n") {
			var x apacheLine
			if _, err := fmt.Sscanf(l, "%d %d %s %d", &x.Port, &x.Served, &x.Method, &x.Status); err == nil {
				lines = append(lines, x)
			}
		}
		if len(lines) >= want || time.Now().After(deadline) {
			return lines
		}
		time.Sleep(20 * time.Millisecond) // polling Apache's log, bounded by the deadline
	}
}
