package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// pipeBackend serves HTTP/1.1 over net.Pipe inside a synctest bubble. Each
// dial makes a new server goroutine; closeAfter, when set, closes the server
// side after that many responses (the backend's idle close).
type pipeBackend struct {
	mu    sync.Mutex
	conns []net.Conn      // server ends, in dial order
	holds []chan struct{} // with hold set: a response on conn i waits for holds[i]
	hold  bool
}

func (b *pipeBackend) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	var hold chan struct{}
	if b.hold {
		hold = make(chan struct{}, 100)
	}
	b.mu.Lock()
	b.conns = append(b.conns, s)
	b.holds = append(b.holds, hold)
	b.mu.Unlock()
	go b.serve(s, hold)
	return c, nil
}

// release lets every held response go.
func (b *pipeBackend) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hold = false
	for _, h := range b.holds {
		if h != nil {
			close(h)
		}
	}
	b.holds = nil
}

func (b *pipeBackend) serve(c net.Conn, hold chan struct{}) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		if hold != nil {
			<-hold
		}
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
	}
}

func (b *pipeBackend) serverConn(i int) net.Conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns[i]
}

type closeEvent struct {
	id     uint64
	by     Initiator
	reason string
}

type hookLog struct {
	mu     sync.Mutex
	reused []uint64
	closed []closeEvent
}

func (h *hookLog) hooks() PoolTrace {
	return PoolTrace{
		Reused: func(ci ConnInfo, _ time.Duration) { h.mu.Lock(); h.reused = append(h.reused, ci.ID); h.mu.Unlock() },
		Closed: func(ci ConnInfo, by Initiator, reason string) {
			h.mu.Lock()
			h.closed = append(h.closed, closeEvent{ci.ID, by, reason})
			h.mu.Unlock()
		},
	}
}

func get(t *testing.T, p *Pool) error {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://backend:80/", nil)
	resp, err := p.RoundTrip(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err
}

func TestPoolIdleDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		be := &pipeBackend{}
		var hl hookLog
		p := NewPool(PoolConfig{IdleTimeout: 60 * time.Second, DialContext: be.dial, Trace: hl.hooks()})
		defer p.Close()
		if err := get(t, p); err != nil {
			t.Fatal(err)
		}
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if n := p.IdleConns("backend:80"); n != 1 {
			t.Fatalf("after 59 s idle: %d idle conns, want 1", n)
		}
		if err := get(t, p); err != nil { // reused at 59 s: still within the limit
			t.Fatal(err)
		}
		if len(hl.reused) != 1 {
			t.Fatalf("reused %v, want one reuse", hl.reused)
		}
		time.Sleep(60 * time.Second)
		synctest.Wait()
		if n := p.IdleConns("backend:80"); n != 0 {
			t.Fatalf("after 60 s idle: %d idle conns, want 0", n)
		}
		want := closeEvent{1, ByGateway, ReasonIdleTimeout}
		if len(hl.closed) != 1 || hl.closed[0] != want {
			t.Fatalf("closes %v, want [%v]", hl.closed, want)
		}
	})
}

func TestPoolOrder(t *testing.T) {
	for _, tc := range []struct {
		order PoolOrder
		want  uint64 // conn reused by the 4th request
	}{{LIFO, 3}, {FIFO, 1}} {
		t.Run(string(tc.order), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				be := &pipeBackend{hold: true}
				var hl hookLog
				p := NewPool(PoolConfig{Order: tc.order, DialContext: be.dial, Trace: hl.hooks()})
				defer p.Close()
				// Three concurrent requests open conns 1..3; release them one
				// at a time so they go idle in the order 1, 2, 3.
				done := make(chan error, 3)
				for i := 0; i < 3; i++ {
					go func() { done <- get(t, p) }()
					synctest.Wait()
				}
				for i := 0; i < 3; i++ {
					be.holds[i] <- struct{}{}
					if err := <-done; err != nil {
						t.Fatal(err)
					}
					time.Sleep(time.Second)
				}
				be.release()
				if err := get(t, p); err != nil {
					t.Fatal(err)
				}
				if len(hl.reused) != 1 || hl.reused[0] != tc.want {
					t.Fatalf("reused %v, want [%d]", hl.reused, tc.want)
				}
			})
		})
	}
}

func TestPoolIdleWatchRemovesClosedConn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		be := &pipeBackend{}
		var hl hookLog
		p := NewPool(PoolConfig{DialContext: be.dial, Trace: hl.hooks()})
		defer p.Close()
		if err := get(t, p); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		be.serverConn(0).Close() // the backend's keep-alive fires: FIN
		synctest.Wait()
		if n := p.IdleConns("backend:80"); n != 0 {
			t.Fatalf("%d idle conns after the backend closed, want 0", n)
		}
		want := closeEvent{1, ByBackend, ReasonPeerClosed}
		if len(hl.closed) != 1 || hl.closed[0] != want {
			t.Fatalf("closes %v, want [%v]", hl.closed, want)
		}
		if err := get(t, p); err != nil { // a new connection, no error
			t.Fatal(err)
		}
		if len(hl.reused) != 0 {
			t.Fatalf("reused %v after the close, want none", hl.reused)
		}
	})
}

func TestPoolMaxConnsWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		be := &pipeBackend{hold: true}
		p := NewPool(PoolConfig{MaxConnsPerHost: 1, DialContext: be.dial})
		defer p.Close()
		done := make(chan error, 2)
		go func() { done <- get(t, p) }()
		go func() { done <- get(t, p) }()
		synctest.Wait()
		if len(be.conns) != 1 {
			t.Fatalf("%d conns dialled with MaxConnsPerHost 1", len(be.conns))
		}
		be.release()
		for i := 0; i < 2; i++ {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if len(be.conns) != 1 {
			t.Fatalf("%d conns dialled, want the second request to reuse the first", len(be.conns))
		}
	})
}

func TestPoolContextCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		be := &pipeBackend{hold: true}
		defer be.release()
		p := NewPool(PoolConfig{DialContext: be.dial})
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://backend:80/", nil)
		_, err := p.RoundTrip(req)
		var rte *RoundTripError
		if !errors.As(err, &rte) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want a RoundTripError wrapping context.DeadlineExceeded", err)
		}
		if rte.Op != "read" || rte.ResponseStarted || !rte.RequestWritten {
			t.Fatalf("err %+v: want read failure after the request was written", rte)
		}
	})
}
