// Command fanout fills a proxy's idle backend pool for bench/run.sh: it
// opens N client connections, then sends one GET on each at once, waits for
// every response and closes them all. With a backend that holds each answer
// for a while (hello's ?delay=2s), all N requests are in flight together, so
// the proxy needs N backend connections, which it keeps idle afterwards.
//
//	fanout -addr 127.0.0.1:18080 -n 4000 -path '/?delay=2s'
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("fanout", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:18080", "proxy host:port")
	n := fs.Int("n", 4000, "connections, one request each")
	path := fs.String("path", "/?delay=2s", "request path")
	timeout := fs.Duration("timeout", 30*time.Second, "deadline for the whole run")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	deadline := time.Now().Add(*timeout)

	conns := make([]net.Conn, *n)
	var wg sync.WaitGroup
	var dialErrs atomic.Int64
	for i := range conns {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", *addr, 10*time.Second)
			if err != nil {
				dialErrs.Add(1)
				return
			}
			_ = c.SetDeadline(deadline)
			conns[i] = c
		})
	}
	wg.Wait()

	req := []byte("GET " + *path + " HTTP/1.1\r\nHost: bench\r\nUser-Agent: fanout\r\n\r\n")
	var ok, bad atomic.Int64
	for _, c := range conns {
		if c == nil {
			continue
		}
		wg.Go(func() {
			defer func() { _ = c.Close() }()
			if _, err := c.Write(req); err != nil {
				bad.Add(1)
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				bad.Add(1)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ok.Add(1)
			} else {
				bad.Add(1)
			}
		})
	}
	wg.Wait()
	fmt.Printf("ok=%d failed=%d dial_errors=%d\n", ok.Load(), bad.Load(), dialErrs.Load())
	if ok.Load() != int64(*n) {
		return 1
	}
	return 0
}
