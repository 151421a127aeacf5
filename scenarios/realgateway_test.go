package scenarios

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// nginxGatewayConf is nginx as a reverse proxy with upstream keep-alive
// (idle up to upstreamIdle) in front of gwsim's backend at backend, and no
// retry of a failed request (proxy_next_upstream off): the race shows.
func nginxGatewayConf(dir, listen, backend, upstreamIdle string) string {
	return fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
  upstream gwsim { server %[3]s; keepalive 16; keepalive_timeout %[4]s; }
  server {
    listen %[2]s;
    location / {
      proxy_pass http://gwsim;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream off;
    }
  }
}
`, dir, listen, backend, upstreamIdle)
}

// TestRealNginxGateway: real nginx (upstream keepalive, proxy_next_upstream
// off) in front of gwsim's backend (100 ms keep-alive, lingering close) at
// a fixed address: a gap sweep across the backend's close gets 502s
// from nginx; with nginx's upstream keepalive_timeout below the backend's
// (50 ms), a sweep across nginx's own limit gets none.
func TestRealNginxGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx")
	}
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but nginx is missing: .ci/run installs nginx")
		}
		t.Skip("nginx not installed")
	}
	for _, tc := range []struct {
		name, upstreamIdle, load, expect string
	}{
		// One connection: a real gateway's pool is shared, so only a
		// sequential client sets its upstream connection's idle age.
		{"race", "60s", "{pattern: gap-sweep, gap_around: backend-close, gap_from: -3ms, gap_to: 2ms, gap_step: 200us}", `{status: {"502": ">0"}}`},
		{"cure", "50ms", "{pattern: aimed, connections: 8, gap_around: 50ms, gap_from: -10ms, gap_to: 10ms, gap_step: 1ms}", `{status: {"502": 0}, client_errors: 0}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			listen, backendAddr := "127.0.0.1:"+freeLoopbackPort(t), "127.0.0.1:"+freeLoopbackPort(t)
			conf := filepath.Join(dir, "nginx.conf")
			if err := os.WriteFile(conf, []byte(nginxGatewayConf(dir, listen, backendAddr, tc.upstreamIdle)), 0o644); err != nil {
				t.Fatal(err)
			}
			yaml := fmt.Sprintf(`name: nginx-%s
gateway:
  preset: nginx-pooling
  backend_idle_timeout: %s
  url: http://%s/
  command: [%q, -p, %q, -c, %q, -e, %q]
backend: {listen: %q, keepalive_timeout: 100ms, close: linger}
load: %s
expect: %s
`, tc.name, tc.upstreamIdle, listen, bin, dir, conf, filepath.Join(dir, "error.log"), backendAddr, tc.load, tc.expect)
			s, err := Parse("nginx.yaml", []byte(yaml))
			if err != nil {
				t.Fatalf("%v\n%s", err, yaml)
			}
			r := runMeetingRace(t, s, tc.name == "race")
			t.Logf("%s: %s, %d requests, status %v, client errors %v, backend close %s", tc.name, r.Outcome, r.Requests, r.Status, r.ClientErrors, r.Timing.BackendClose)
			switch r.Outcome {
			case OutcomeInconclusive:
				t.Skipf("inconclusive on this machine: %s", r.InconclusiveReason)
			case OutcomeFail:
				t.Fatalf("failed: %v\nnginx error log: %s", r.Failures, readTail(filepath.Join(dir, "error.log")))
			}
		})
	}
}

func readTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
