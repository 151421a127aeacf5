package scenarios

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Real servers for TestRealServers: each started on a free loopback port
// with its own configuration files in a temporary directory (never the
// system service), as the Debian packages install them, and stopped by
// the process group of the PID we started.

// realLaunch is how one server is started: it writes what it needs in dir
// (a world-readable directory with htdocs/index.html) and returns the
// command that serves on addr with the given keep-alive (0 = the
// server's default) and worker ("" = the server's default).
// Files it cannot write are reported by w.
type realLaunch func(w *realFiles, dir, addr string, keepAlive time.Duration, worker string) *exec.Cmd

// errRealBind is a server failing to bind its port (taken since it was
// picked): the start is tried again on another port.
var errRealBind = errors.New("could not bind its port")

// startRealServer starts a server with launch on a free loopback port,
// waits up to ready until it answers an HTTP request, and stops it (its
// process group, by the PID we started) when t ends. It returns host:port
// and how long the start took. It may run on a goroutine of its own: it
// reports failures as errors, and uses t only to clean up and log.
func startRealServer(t *testing.T, launch realLaunch, keepAlive time.Duration, worker string, ready time.Duration) (string, time.Duration, error) {
	dir, err := realDir(t)
	if err != nil {
		return "", 0, err
	}
	for attempt := 1; ; attempt++ {
		start := time.Now()
		addr, err := tryStartReal(t, dir, launch, keepAlive, worker, ready)
		if err == nil {
			return addr, time.Since(start), nil
		}
		if !errors.Is(err, errRealBind) || attempt == 3 {
			return "", 0, err
		}
		t.Logf("retrying on another port: %v", err)
	}
}

// realDir makes a server's directory with htdocs/index.html, readable by
// the unprivileged users servers started as root switch to (t.TempDir's
// parent is 0700), removed when t ends.
func realDir(t *testing.T) (string, error) {
	dir, err := os.MkdirTemp("", "gwsim-real-")
	if err != nil {
		return "", err
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	w := &realFiles{}
	w.write(filepath.Join(dir, "htdocs", "index.html"), "ok\n")
	if w.err == nil {
		w.err = os.Chmod(dir, 0o755)
	}
	return dir, w.err
}

// realFiles writes a server's files, keeping the first error.
type realFiles struct{ err error }

func (w *realFiles) write(path, body string) {
	if w.err != nil {
		return
	}
	if w.err = os.MkdirAll(filepath.Dir(path), 0o755); w.err == nil {
		w.err = os.WriteFile(path, []byte(body), 0o644)
	}
}

func (w *realFiles) mkdir(path string) {
	if w.err == nil {
		w.err = os.MkdirAll(path, 0o755)
	}
}

// unprivileged is a user and group for a server started as root to run
// as: www-data, else nobody/nogroup.
func (w *realFiles) unprivileged() (string, string) {
	for _, c := range [][2]string{{"www-data", "www-data"}, {"nobody", "nogroup"}} {
		if _, err := user.Lookup(c[0]); err != nil {
			continue
		}
		if _, err := user.LookupGroup(c[1]); err != nil {
			continue
		}
		return c[0], c[1]
	}
	if w.err == nil {
		w.err = errors.New("running as root and neither www-data nor nobody/nogroup exists")
	}
	return "nobody", "nogroup"
}

func tryStartReal(t *testing.T, dir string, launch realLaunch, keepAlive time.Duration, worker string, ready time.Duration) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	w := &realFiles{}
	cmd := launch(w, dir, addr, keepAlive, worker)
	if w.err != nil {
		return "", w.err
	}
	out := &realOutput{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its workers, stopped as a group
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group of the PID we started
		<-exited
	}
	deadline := time.Now().Add(ready)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			text := out.String()
			if strings.Contains(text, "in use") || strings.Contains(text, "Address already") {
				return "", fmt.Errorf("%w %s: %s", errRealBind, addr, text)
			}
			return "", fmt.Errorf("%s exited before serving (%v):\n%s", cmd.Path, err, text)
		case <-tick.C:
		}
		if realAnswers(addr) {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", fmt.Errorf("%s on %s not answering after %s:\n%s", cmd.Path, addr, ready, out.String())
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), out.String())
		}
	})
	return addr, nil
}

// realAnswers reports whether addr answers an HTTP GET (any status).
func realAnswers(addr string) bool {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// realOutput is a strings.Builder safe for a process's two outputs.
type realOutput struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *realOutput) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<16 {
		return len(p), nil // enough to show a failure
	}
	return s.b.Write(p)
}

func (s *realOutput) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// realHostPort splits our own host:port.
func realHostPort(addr string) (string, string) {
	host, port, _ := net.SplitHostPort(addr)
	return host, port
}

// realSecs is d in whole seconds, at least 1: the unit most servers take.
func realSecs(d time.Duration) string { return strconv.Itoa(max(int(d/time.Second), 1)) }

func launchApache(w *realFiles, dir, addr string, keepAlive time.Duration, _ string) *exec.Cmd {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("ServerRoot %q", dir)
	line("ServerName 127.0.0.1")
	line("Listen %s", addr)
	line("PidFile %q", filepath.Join(dir, "httpd.pid"))
	line("DefaultRuntimeDir %q", dir)
	line("ErrorLog /dev/stderr")
	line("LogLevel warn")
	for _, m := range []string{"mpm_event", "authz_core", "dir"} {
		line("LoadModule %s_module %q", m, filepath.Join(apacheModules, "mod_"+m+".so"))
	}
	if os.Geteuid() == 0 {
		u, g := w.unprivileged()
		line("User %s", u)
		line("Group %s", g)
	}
	line("KeepAlive On") // the default, said
	if keepAlive > 0 {
		line("KeepAliveTimeout %dms", keepAlive.Milliseconds())
	}
	line("DocumentRoot %q", filepath.Join(dir, "htdocs"))
	line("<Directory %q>", filepath.Join(dir, "htdocs"))
	line("  Require all granted")
	line("</Directory>")
	line("DirectoryIndex index.html")
	conf := filepath.Join(dir, "httpd.conf")
	w.write(conf, b.String())
	cmd := exec.Command(apacheBin, "-f", conf, "-D", "FOREGROUND")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	return cmd
}

func launchNginx(w *realFiles, dir, addr string, keepAlive time.Duration, _ string) *exec.Cmd {
	ka := ""
	if keepAlive > 0 {
		ka = fmt.Sprintf("keepalive_timeout %dms;", keepAlive.Milliseconds())
	}
	conf := filepath.Join(dir, "nginx.conf")
	w.write(conf, fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
  %[3]s
  server { listen %[2]s; location / { return 200 "ok\n"; } }
}
`, dir, addr, ka))
	return exec.Command("nginx", "-p", dir, "-c", conf, "-e", "stderr")
}

func launchNode(w *realFiles, _, addr string, keepAlive time.Duration, _ string) *exec.Cmd {
	host, port := realHostPort(addr)
	ka := ""
	if keepAlive > 0 {
		ka = fmt.Sprintf("s.keepAliveTimeout = %d;", keepAlive.Milliseconds())
	}
	script := fmt.Sprintf(`const s = require('http').createServer((q, r) => r.end('ok\n'));
%s
s.listen(%s, %q);`, ka, port, host)
	return exec.Command("node", "-e", script)
}

// pyApp is a WSGI app (gunicorn) and an ASGI app (uvicorn) answering "ok".
const pyApp = `def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

async def asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"3")]})
    await send({"type": "http.response.body", "body": b"ok\n"})
`

func launchGunicorn(w *realFiles, dir, addr string, keepAlive time.Duration, worker string) *exec.Cmd {
	w.write(filepath.Join(dir, "gwsimapp.py"), pyApp)
	args := []string{"--chdir", dir, "-b", addr, "--workers", "1"}
	if worker != "" {
		args = append(args, "-k", worker, "--threads", "4")
	}
	if keepAlive > 0 {
		args = append(args, "--keep-alive", realSecs(keepAlive))
	}
	return exec.Command("gunicorn", append(args, "gwsimapp:app")...)
}

// debianPython is the Debian python3 that python3-uvicorn installs into
// (a python3 earlier in PATH, pyenv's for one, may not have it).
const debianPython = "/usr/bin/python3"

func launchUvicorn(w *realFiles, dir, addr string, keepAlive time.Duration, _ string) *exec.Cmd {
	w.write(filepath.Join(dir, "gwsimapp.py"), pyApp)
	host, port := realHostPort(addr)
	args := []string{"-m", "uvicorn", "--app-dir", dir, "--host", host, "--port", port, "--no-access-log"}
	if keepAlive > 0 {
		args = append(args, "--timeout-keep-alive", realSecs(keepAlive))
	}
	return exec.Command(debianPython, append(args, "gwsimapp:asgi")...)
}

func launchPuma(w *realFiles, dir, addr string, keepAlive time.Duration, _ string) *exec.Cmd {
	w.write(filepath.Join(dir, "config.ru"), `run ->(env) { [200, {"Content-Type" => "text/plain", "Content-Length" => "3"}, ["ok\n"]] }`+"\n")
	conf := ""
	if keepAlive > 0 {
		conf = "persistent_timeout " + realSecs(keepAlive) + "\n"
	}
	w.write(filepath.Join(dir, "puma.rb"), conf)
	cmd := exec.Command("puma", "-C", filepath.Join(dir, "puma.rb"), "-b", "tcp://"+addr, filepath.Join(dir, "config.ru"))
	cmd.Dir = dir
	return cmd
}

// Tomcat 10 and Jetty 9 as Debian installs them.
const (
	tomcatHome = "/usr/share/tomcat10"
	jettyHome  = "/usr/share/jetty9"
)

// jvmQuickStart shortens a JVM's start on a busy machine: the first JIT
// tier only and the serial collector (a test server serves little).
var jvmQuickStart = []string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"}

func launchTomcat(w *realFiles, dir, addr string, keepAlive time.Duration, _ string) *exec.Cmd {
	host, port := realHostPort(addr)
	ka := ""
	if keepAlive > 0 {
		ka = fmt.Sprintf(` keepAliveTimeout="%d"`, keepAlive.Milliseconds())
	}
	w.write(filepath.Join(dir, "conf", "server.xml"), fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector address=%q port=%q protocol="HTTP/1.1"%s />
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false" />
    </Engine>
  </Service>
</Server>
`, host, port, ka))
	// Only the default servlet (no JSP engine to start): the page is static.
	w.write(filepath.Join(dir, "conf", "web.xml"), `<?xml version="1.0" encoding="UTF-8"?>
<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0">
  <servlet>
    <servlet-name>default</servlet-name>
    <servlet-class>org.apache.catalina.servlets.DefaultServlet</servlet-class>
    <load-on-startup>1</load-on-startup>
  </servlet>
  <servlet-mapping><servlet-name>default</servlet-name><url-pattern>/</url-pattern></servlet-mapping>
  <welcome-file-list><welcome-file>index.html</welcome-file></welcome-file-list>
</web-app>
`)
	w.write(filepath.Join(dir, "webapps", "ROOT", "index.html"), "ok\n")
	for _, d := range []string{"logs", "temp", "work"} {
		w.mkdir(filepath.Join(dir, d))
	}
	return exec.Command("java", append(slices.Clone(jvmQuickStart), "-Dcatalina.home="+tomcatHome, "-Dtomcat.util.scan.StandardJarScanFilter.jarsToSkip=*.jar", "-Djava.security.egd=file:/dev/urandom", "-Dcatalina.base="+dir, "-Djava.io.tmpdir="+filepath.Join(dir, "temp"),
		"-cp", tomcatHome+"/bin/bootstrap.jar:"+tomcatHome+"/bin/tomcat-juli.jar", "org.apache.catalina.startup.Bootstrap", "start")...)
}

func launchJetty(w *realFiles, dir, addr string, keepAlive time.Duration, _ string) *exec.Cmd {
	host, port := realHostPort(addr)
	// The http module alone: Jetty answers 404 from its DefaultHandler, on
	// keep-alive connections as a web application would, and starts sooner.
	args := append(slices.Clone(jvmQuickStart), "-Djava.io.tmpdir="+dir, "-jar", jettyHome+"/start.jar", "jetty.home="+jettyHome, "jetty.base="+dir,
		"--module=http", "jetty.http.host="+host, "jetty.http.port="+port)
	if keepAlive > 0 {
		args = append(args, fmt.Sprintf("jetty.http.idleTimeout=%d", keepAlive.Milliseconds()))
	}
	return exec.Command("java", args...)
}

func launchLighttpd(w *realFiles, dir, addr string, keepAlive time.Duration, _ string) *exec.Cmd {
	host, port := realHostPort(addr)
	ka := ""
	if keepAlive > 0 {
		ka = "server.max-keep-alive-idle = " + realSecs(keepAlive)
	}
	conf := filepath.Join(dir, "lighttpd.conf")
	w.write(conf, fmt.Sprintf(`server.document-root = %q
server.bind = %q
server.port = %s
server.pid-file = %q
index-file.names = ("index.html")
%s
`, filepath.Join(dir, "htdocs"), host, port, filepath.Join(dir, "lighttpd.pid"), ka))
	return exec.Command("lighttpd", "-D", "-f", conf)
}

func launchCaddy(w *realFiles, dir, addr string, keepAlive time.Duration, _ string) *exec.Cmd {
	idle := ""
	if keepAlive > 0 {
		idle = fmt.Sprintf("servers {\n\t\ttimeouts {\n\t\t\tidle %dms\n\t\t}\n\t}", keepAlive.Milliseconds())
	}
	conf := filepath.Join(dir, "Caddyfile")
	w.write(conf, fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\t%s\n}\nhttp://%s {\n\trespond \"ok\"\n}\n", idle, addr))
	cmd := exec.Command("caddy", "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir, "XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir}
	return cmd
}
