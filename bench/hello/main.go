// Command hello is the benchmark backend of bench/run.sh: a plain net/http
// server that answers every request with "hello" over keep-alive
// connections that it never closes for idleness.
//
// It reads (and discards) any request body, so a POST costs the backend the
// same as it would cost a real one. A "delay" query parameter (a Go
// duration, such as ?delay=2s) holds the answer that long; bench/run.sh uses
// it to have thousands of requests in flight at once when it fills a proxy's
// idle pool.
//
//	hello -listen 127.0.0.1:18081
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("hello", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:18081", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	body := []byte("hello")
	srv := &http.Server{
		Addr:              *listen,
		ReadHeaderTimeout: time.Minute,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			if d := r.URL.Query().Get("delay"); d != "" {
				if dur, err := time.ParseDuration(d); err == nil && dur > 0 && dur <= time.Minute {
					time.Sleep(dur)
				}
			}
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(body)
		}),
	}
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe() }()
	select {
	case err := <-done:
		fmt.Fprintf(os.Stderr, "hello: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "hello: %v\n", err)
		return 1
	}
	return 0
}
