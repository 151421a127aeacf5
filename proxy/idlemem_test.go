package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gwsim/gwsim/proxy"
)

// idleMemConns is how many idle backend connections
// BenchmarkIdleConnMemory makes the pool hold (issue 8: at most 12 KB each;
// nginx holds one in about 10 KB); GWSIM_IDLEMEM_CONNS overrides it.
const idleMemConns = 4000

// idleMemHelperEnv turns TestIdleMemBackend into the benchmark's backend.
const idleMemHelperEnv = "GWSIM_IDLEMEM_BACKEND"

// BenchmarkIdleConnMemory measures what the backend pool costs per idle
// connection: a Pool opens idleMemConns connections at once (each round
// trip holds its connection until every one has its response), returns
// them all to idle, and the growth of the Go heap in use plus the stacks
// in use, after two forced GCs (the second empties sync.Pool victim
// caches), is divided by the count.
//
// The backend runs in a child process (this test binary, re-executed as
// TestIdleMemBackend), so its goroutines and buffers are not counted. Run:
//
//	go test ./proxy -run '^$' -bench '^BenchmarkIdleConnMemory$' -benchtime 1x
//
// Metrics: B/idle-conn (heap + stack), heap-B/idle-conn, stack-B/idle-conn.
func BenchmarkIdleConnMemory(b *testing.B) {
	n := idleMemConns
	if v := os.Getenv("GWSIM_IDLEMEM_CONNS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("GWSIM_IDLEMEM_CONNS=%q: want a positive integer", v)
		}
	}
	addr, stop := startIdleMemBackend(b)
	defer stop()
	var total, heap, stack []float64
	for b.Loop() {
		t, h, s := measureIdleConns(b, addr, n)
		total, heap, stack = append(total, t), append(heap, h), append(stack, s)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(idleMemMedian(total), "B/idle-conn")
	b.ReportMetric(idleMemMedian(heap), "heap-B/idle-conn")
	b.ReportMetric(idleMemMedian(stack), "stack-B/idle-conn")
}

// measureIdleConns fills a new pool with n idle connections to addr and
// returns the heap+stack, heap and stack growth per connection.
func measureIdleConns(b *testing.B, addr string, n int) (total, heap, stack float64) {
	b.StopTimer()
	baseGoroutines := runtime.NumGoroutine()
	before := idleMemStats()
	b.StartTimer()

	p := proxy.NewPool(proxy.PoolConfig{})
	resps := make([]*http.Response, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
			if err == nil {
				resps[i], err = p.RoundTrip(req)
			}
			errs[i] = err
		})
	}
	wg.Wait() // every connection is busy until its body is read
	for i, resp := range resps {
		if errs[i] != nil {
			b.Fatalf("round trip %d: %v", i, errs[i])
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatalf("read body %d: %v", i, err)
		}
		_ = resp.Body.Close()
	}
	// The pool's API may change; check the idle count only where it exists.
	if ic, ok := any(p).(interface{ IdleConns(string) int }); ok {
		if got := ic.IdleConns(addr); got != n {
			b.Fatalf("pool holds %d idle connections, want %d", got, n)
		}
	}

	b.StopTimer()
	after := idleMemStats()
	runtime.KeepAlive(p)
	if c, ok := any(p).(interface{ Close() }); ok {
		c.Close()
		idleMemWaitGoroutines(b, baseGoroutines+10)
	}
	b.StartTimer()

	heapGrowth := float64(int64(after.HeapInuse) - int64(before.HeapInuse))
	stackGrowth := float64(int64(after.StackInuse) - int64(before.StackInuse))
	return (heapGrowth + stackGrowth) / float64(n), heapGrowth / float64(n), stackGrowth / float64(n)
}

// idleMemStats runs two GCs (the second clears sync.Pool's victim
// cache and the stacks of dead goroutines) and reads the memory stats.
func idleMemStats() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}

func idleMemWaitGoroutines(b *testing.B, limit int) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > limit {
		if time.Now().After(deadline) {
			b.Fatalf("%d goroutines still running after the pool closed, want at most %d", runtime.NumGoroutine(), limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func idleMemMedian(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// startIdleMemBackend runs TestIdleMemBackend in a child process and
// returns its address and a function that stops it.
func startIdleMemBackend(b *testing.B) (string, func()) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleMemBackend$", "-test.count=1")
	cmd.Env = append(os.Environ(), idleMemHelperEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start backend process: %v", err)
	}
	stop := func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		b.Fatalf("backend process address: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return strings.TrimSpace(strings.TrimPrefix(line, "addr ")), stop
}

// TestIdleMemBackend is the backend process of BenchmarkIdleConnMemory, not
// a test: it skips unless GWSIM_IDLEMEM_BACKEND=1. It prints "addr
// host:port", answers every request on every connection with a 2-byte 200
// and never closes a connection, and returns when its stdin closes.
func TestIdleMemBackend(t *testing.T) {
	if os.Getenv(idleMemHelperEnv) != "1" {
		t.Skip("the backend process of BenchmarkIdleConnMemory")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	fmt.Printf("addr %s\n", ln.Addr())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go idleMemServe(c)
		}
	}()
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// idleMemServe answers each request head (no bodies) on c with a 2-byte 200.
func idleMemServe(c net.Conn) {
	defer func() { _ = c.Close() }()
	br := bufio.NewReader(c)
	for {
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 && strings.TrimSpace(string(line)) == "" {
				break
			}
		}
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
	}
}
