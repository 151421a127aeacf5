// Command revproxy is the net/http/httputil.ReverseProxy baseline of
// bench/run.sh: a ReverseProxy in front of one backend, with a transport
// that keeps up to 1024 idle backend connections (Go's default keeps 2 per
// host, which would make it open a connection for most requests), and an
// optional access log that writes one line per request, as nginx's
// access_log and gwsim's access log do.
//
//	revproxy -listen 127.0.0.1:18082 -backend 127.0.0.1:18081 -access-log /tmp/rp.log
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("revproxy", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:18082", "address to listen on")
	backend := fs.String("backend", "127.0.0.1:18081", "backend host:port")
	accessLog := fs.String("access-log", "", "append one line per request to this file (empty = no access log)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	u := &url.URL{Scheme: "http", Host: *backend}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	var h http.Handler = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		},
		Transport: tr,
	}
	if *accessLog != "" {
		f, err := os.OpenFile(*accessLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(os.Stderr, "revproxy: access log: %v\n", err)
			return 1
		}
		defer func() { _ = f.Close() }()
		h = logged(h, f)
	}
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: time.Minute, IdleTimeout: 75 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe() }()
	select {
	case err := <-done:
		fmt.Fprintf(os.Stderr, "revproxy: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "revproxy: %v\n", err)
		return 1
	}
	return 0
}

// statusWriter records the status and body bytes of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += n
	return n, err
}

// Flush lets ReverseProxy flush through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// logged wraps h with an access log: one write(2) per request, like
// nginx's unbuffered access_log.
func logged(h http.Handler, f *os.File) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		line := make([]byte, 0, 160)
		line = start.UTC().AppendFormat(line, time.RFC3339Nano)
		line = append(line, ' ')
		line = append(line, r.RemoteAddr...)
		line = append(line, ' ')
		line = append(line, r.Method...)
		line = append(line, ' ')
		line = append(line, r.RequestURI...)
		line = append(line, ' ')
		line = strconv.AppendInt(line, int64(sw.status), 10)
		line = append(line, ' ')
		line = strconv.AppendInt(line, int64(sw.bytes), 10)
		line = append(line, ' ')
		line = strconv.AppendInt(line, time.Since(start).Microseconds(), 10)
		line = append(line, "us\n"...)
		_, _ = f.Write(line)
	})
}
