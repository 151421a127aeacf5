package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer echoes on loopback and closes when told.
func loopbackPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestWithLatencyDelaysBothWaysAndTheFIN(t *testing.T) {
	const oneWay = 30 * time.Millisecond
	raw, server := loopbackPair(t)
	c := WithLatency(raw, oneWay)
	go func() { // echo one message, then close (FIN)
		buf := make([]byte, 4)
		if _, err := io.ReadFull(server, buf); err == nil {
			_, _ = server.Write(buf)
		}
		server.Close()
	}()
	start := time.Now()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt < 2*oneWay {
		t.Fatalf("echo took %s, want at least one RTT %s", rtt, 2*oneWay)
	}
	if _, err := c.Read(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("read after the peer's close: %v, want EOF", err)
	}
	// The server closed right after echoing; its FIN is seen one delay later.
	if d := time.Since(start); d < 2*oneWay {
		t.Fatalf("EOF after %s, want at least %s", d, 2*oneWay)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v, want net.ErrClosed", err)
	}
}

func TestWithLatencyReadDeadline(t *testing.T) {
	raw, _ := loopbackPair(t)
	c := WithLatency(raw, time.Millisecond)
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	// Clearing the deadline makes reads block again until data comes.
	_ = c.SetReadDeadline(time.Time{})
	_ = c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with a past deadline: %v", err)
	}
}

func TestWithLatencyZeroIsIdentity(t *testing.T) {
	raw, _ := loopbackPair(t)
	if WithLatency(raw, 0) != raw {
		t.Fatal("zero latency must return the connection unchanged")
	}
}

func TestWithLatencyCloseReachesPeerLater(t *testing.T) {
	const oneWay = 30 * time.Millisecond
	raw, server := loopbackPair(t)
	c := WithLatency(raw, oneWay)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	closed := time.Now()
	c.Close()
	buf := make([]byte, 8)
	n, err := io.ReadFull(server, buf[:1])
	if n != 1 || err != nil {
		t.Fatalf("peer read %d, %v: want the byte written before Close", n, err)
	}
	if _, err := server.Read(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("peer read after close: %v, want EOF", err)
	}
	if d := time.Since(closed); d < oneWay {
		t.Fatalf("peer saw the FIN after %s, want at least %s", d, oneWay)
	}
}

// TestWithLinkJitterKeepsOrder: with jitter every byte still arrives, in
// order, no earlier than the latency.
func TestWithLinkJitterKeepsOrder(t *testing.T) {
	const oneWay, jitter = 2 * time.Millisecond, 5 * time.Millisecond
	raw, server := loopbackPair(t)
	c := WithLink(raw, oneWay, jitter)
	defer c.Close()
	start := time.Now()
	var want []byte
	for i := 0; i < 50; i++ {
		msg := []byte{byte(i)}
		want = append(want, msg...)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("bytes reordered: %v", got)
	}
	if d := time.Since(start); d < oneWay {
		t.Fatalf("arrived after %s, want at least %s", d, oneWay)
	}
	if WithLink(raw, 0, 0) != raw {
		t.Fatal("no latency and no jitter must return the connection unchanged")
	}
}
