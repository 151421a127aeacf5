package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios/event"
)

// benchParallelism is the b.SetParallelism factor: RunParallel runs
// benchParallelism × GOMAXPROCS client goroutines, each a closed loop on
// its own keep-alive connection.
const benchParallelism = 4

// benchPostSize is the request body of the POST sub-benchmarks.
const benchPostSize = 16 << 10

// BenchmarkGateway measures gwsim's gateway against net/http/httputil's
// ReverseProxy, both in front of the same kind of backend (a gwsim
// backend.Server with a 10 min keep-alive, so no keep-alive race) on
// loopback, driven by the same client (a proxy.Pool, which never retries).
// "direct" is the client straight to the backend: the baseline that the
// proxies' added latency is measured against. Each sub-benchmark starts its
// own servers and shuts them all down before it returns.
//
// Metrics: req/s (throughput of the whole closed loop), p50-µs and p99-µs
// (client-observed latency of one request, body read to EOF). Client,
// proxy and backend share the machine's cores, so req/s is the throughput
// of the chain, not of the proxy alone.
func BenchmarkGateway(b *testing.B) {
	payload := bytes.Repeat([]byte("gwsim-bench-body-0123456789abcdef-ABCDEFGHIJKLMNOPQRSTUVWXYZ-xyz\n"), benchPostSize/64)
	modes := []struct {
		name   string
		method string
		body   []byte
	}{
		{"get", http.MethodGet, nil},
		{"post16k", http.MethodPost, payload},
	}
	targets := []struct {
		name  string
		front func(b *testing.B, backendAddr string) (addr string, stop func())
	}{
		{"direct", func(_ *testing.B, addr string) (string, func()) { return addr, func() {} }},
		{"gwsim", startGwsim},
		{"gwsim-events-journal", startGwsimJournal},
		{"gwsim-events-recorder", startGwsimRecorder},
		{"reverseproxy", startReverseProxy},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			for _, t := range targets {
				b.Run(t.name, func(b *testing.B) {
					runGatewayBench(b, t.front, m.method, m.body)
				})
			}
		})
	}
}

// runGatewayBench starts a backend and the front under test, drives b.N
// requests through it in parallel and reports throughput and latency.
func runGatewayBench(b *testing.B, front func(*testing.B, string) (string, func()), method string, body []byte) {
	baseline := runtime.NumGoroutine()
	backendAddr, stopBackend := startBackend(b)
	addr, stopFront := front(b, backendAddr)
	client := proxy.NewPool(proxy.PoolConfig{})
	defer func() {
		b.StopTimer()
		client.Close()
		stopFront()
		stopBackend()
		waitGoroutines(b, baseline)
	}()

	target := "http://" + addr + "/bench"
	do := func() (time.Duration, error) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, target, rd)
		if err != nil {
			return 0, err
		}
		start := time.Now()
		resp, err := client.RoundTrip(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("status %d", resp.StatusCode)
		}
		return took, nil
	}
	if _, err := do(); err != nil { // warm up: the path works end to end
		b.Fatalf("warm-up request: %v", err)
	}

	var (
		mu     sync.Mutex
		lats   = make([]time.Duration, 0, b.N)
		failed atomic.Int64
	)
	b.SetParallelism(benchParallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			took, err := do()
			if err != nil {
				if failed.Add(1) == 1 {
					b.Errorf("request: %v", err)
				}
				continue
			}
			local = append(local, took)
		}
		mu.Lock()
		lats = append(lats, local...)
		mu.Unlock()
	})
	b.StopTimer()

	if n := failed.Load(); n > 0 {
		b.Errorf("%d of %d requests failed", n, b.N)
	}
	if el := b.Elapsed(); el > 0 {
		b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
	}
	if len(lats) > 0 {
		slices.Sort(lats)
		b.ReportMetric(micros(percentile(lats, 0.50)), "p50-µs")
		b.ReportMetric(micros(percentile(lats, 0.99)), "p99-µs")
	}
}

// percentile returns the q-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func listen(b *testing.B) net.Listener {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return ln
}

// startBackend serves a gwsim backend with a 10 min keep-alive (longer than
// any gateway idle timeout: the gateway always closes first, no race).
func startBackend(b *testing.B) (string, func()) {
	b.Helper()
	srv, err := backend.New(backend.Config{KeepAliveTimeout: 10 * time.Minute}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ln := listen(b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	return ln.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("backend serve: %v", err)
		}
	}
}

// startGwsim serves gwsim's gateway (profile appgw-v2, no link latency) in
// front of backendAddr; Gateway.Serve runs its own http.Server.
func startGwsim(b *testing.B, backendAddr string) (string, func()) {
	return startGwsimEvents(b, backendAddr, nil)
}

// startGwsimJournal is startGwsim with every event encoded to a JSON-lines
// journal (discarded): the cost of `--events FILE`.
func startGwsimJournal(b *testing.B, backendAddr string) (string, func()) {
	return startGwsimEvents(b, backendAddr, event.NewJournal(io.Discard).Sink())
}

// startGwsimRecorder is startGwsim with every event kept in memory: the
// cost of an in-process `gwsim run`.
func startGwsimRecorder(b *testing.B, backendAddr string) (string, func()) {
	var r event.Recorder
	return startGwsimEvents(b, backendAddr, r.Sink())
}

func startGwsimEvents(b *testing.B, backendAddr string, sink event.Sink) (string, func()) {
	b.Helper()
	p, err := proxy.LookupProfile("appgw-v2")
	if err != nil {
		b.Fatal(err)
	}
	gw, err := proxy.New(proxy.Config{Profile: p, Backends: []string{backendAddr}, Trace: event.GatewayTrace(sink)}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ln := listen(b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()
	return ln.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("gateway serve: %v", err)
		}
	}
}

// startReverseProxy serves httputil.ReverseProxy with a clone of
// http.DefaultTransport (idle pool raised above the client concurrency) in
// front of backendAddr, on an http.Server.
func startReverseProxy(b *testing.B, backendAddr string) (string, func()) {
	b.Helper()
	u := &url.URL{Scheme: "http", Host: backendAddr}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		},
		Transport: tr,
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: time.Minute, IdleTimeout: 75 * time.Second}
	ln := listen(b)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			b.Errorf("reverse proxy shutdown: %v", err)
			_ = srv.Close()
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			b.Errorf("reverse proxy serve: %v", err)
		}
		tr.CloseIdleConnections()
	}
}

// waitGoroutines fails b if goroutines started by the benchmark are still
// running 5 s after everything was shut down.
func waitGoroutines(b *testing.B, baseline int) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			b.Errorf("goroutine leak: %d running, %d before the benchmark\n%s", runtime.NumGoroutine(), baseline, buf)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
