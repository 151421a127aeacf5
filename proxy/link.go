package proxy

import (
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"
)

// WithLatency wraps c so that both directions of the link are delayed by
// oneWay: bytes written reach the peer oneWay later, and bytes the peer sent
// (and its FIN or RST, seen as a read error) are handed to Read oneWay after
// they arrived. Close, too, reaches the peer oneWay later. The kernel here has
// no netem, so this is how gwsim gives the keep-alive race a realistic window
// (about one round trip, 2×oneWay) instead of loopback's few microseconds.
// A oneWay of zero or less returns c unchanged.
func WithLatency(c net.Conn, oneWay time.Duration) net.Conn {
	return WithLink(c, oneWay, 0)
}

// WithLink is WithLatency with jitter: each chunk, each way, is delayed by
// oneWay plus a uniformly random extra in [0, jitter), never overtaking the
// chunk before it (TCP keeps order). Zero latency and jitter return c.
func WithLink(c net.Conn, oneWay, jitter time.Duration) net.Conn {
	if oneWay <= 0 && jitter <= 0 {
		return c
	}
	lc := &latencyConn{
		Conn:    c,
		delay:   max(oneWay, 0),
		jitter:  max(jitter, 0),
		in:      make(chan segment, 256),
		out:     make(chan segment, 256),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		rd:      newDeadline(),
	}
	go lc.pump()
	go lc.writer()
	return lc
}

// segment is a chunk of bytes (or a terminal error) in flight on the link,
// due at at.
type segment struct {
	b   []byte
	err error
	at  time.Time
}

type latencyConn struct {
	net.Conn
	delay  time.Duration
	jitter time.Duration
	// lastIn and lastOut are the delivery times of the last chunk each
	// way (lastIn: the pump's alone; lastOut: under wmu), so jitter keeps
	// order.
	lastIn, lastOut time.Time

	in  chan segment // arrived from the peer, in order
	out chan segment // written by us, waiting to be sent

	rmu     sync.Mutex // serialises Read
	pending *segment   // taken from in, not yet fully delivered
	rerr    error      // sticky terminal read error, once delivered

	wmu      sync.Mutex
	werr     error // first error of the underlying writes
	closed   bool
	closeAt  time.Time
	once     sync.Once
	closing  chan struct{} // closed by Close
	done     chan struct{} // closed when the underlying conn is closed
	rd       *deadline
	closeErr error
}

// pump reads the underlying connection as fast as data arrives and stamps
// each chunk with its delivery time.
func (c *latencyConn) pump() {
	for {
		buf := make([]byte, 32<<10)
		n, err := c.Conn.Read(buf)
		at := c.due(&c.lastIn)
		if n > 0 {
			select {
			case c.in <- segment{b: buf[:n], at: at}:
			case <-c.done:
				return
			}
		}
		if err != nil {
			select {
			case c.in <- segment{err: err, at: at}:
			case <-c.done:
			}
			return
		}
	}
}

// writer sends each written chunk when it is due, then performs the close.
func (c *latencyConn) writer() {
	send := func(s segment) {
		sleepUntil(s.at)
		if _, err := c.Conn.Write(s.b); err != nil {
			c.wmu.Lock()
			if c.werr == nil {
				c.werr = err
			}
			c.wmu.Unlock()
		}
	}
	for {
		select {
		case s := <-c.out:
			send(s)
		case <-c.closing:
		drain:
			for {
				select {
				case s := <-c.out:
					send(s)
				default:
					break drain
				}
			}
			c.wmu.Lock()
			at := c.closeAt
			c.wmu.Unlock()
			sleepUntil(at)
			c.closeErr = c.Conn.Close()
			close(c.done)
			return
		}
	}
}

// due is when a chunk sent now arrives: one delay, plus jitter, and not
// before the previous chunk the same way (*last).
func (c *latencyConn) due(last *time.Time) time.Time {
	at := time.Now().Add(c.delay)
	if c.jitter > 0 {
		at = at.Add(rand.N(c.jitter))
	}
	if at.Before(*last) {
		at = *last
	}
	*last = at
	return at
}

func sleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}

func (c *latencyConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		select {
		case <-c.closing:
			return 0, net.ErrClosed
		default:
		}
		if c.rerr != nil {
			return 0, c.rerr
		}
		if c.pending == nil {
			select {
			case s := <-c.in:
				c.pending = &s
			case <-c.rd.wait():
				return 0, os.ErrDeadlineExceeded
			case <-c.closing:
				return 0, net.ErrClosed
			}
		}
		if wait := time.Until(c.pending.at); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-c.rd.wait():
				t.Stop()
				return 0, os.ErrDeadlineExceeded
			case <-c.closing:
				t.Stop()
				return 0, net.ErrClosed
			}
		}
		s := c.pending
		if len(s.b) > 0 {
			n := copy(p, s.b)
			s.b = s.b[n:]
			if len(s.b) == 0 {
				c.pending = nil
			}
			return n, nil
		}
		c.pending = nil
		if s.err != nil {
			c.rerr = s.err
		}
	}
}

func (c *latencyConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		return 0, net.ErrClosed
	}
	if c.werr != nil {
		err := c.werr
		c.wmu.Unlock()
		return 0, err
	}
	at := c.due(&c.lastOut)
	c.wmu.Unlock()
	b := make([]byte, len(p))
	copy(b, p)
	select {
	case c.out <- segment{b: b, at: at}:
		return len(p), nil
	case <-c.closing:
		return 0, net.ErrClosed
	}
}

// Close returns at once; the peer sees the close one link delay later, after
// every byte written before it.
func (c *latencyConn) Close() error {
	first := false
	c.once.Do(func() {
		first = true
		c.wmu.Lock()
		c.closed = true
		c.closeAt = c.due(&c.lastOut) // after every byte written before it
		c.wmu.Unlock()
		close(c.closing)
	})
	if !first {
		return net.ErrClosed
	}
	return nil
}

func (c *latencyConn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	return nil
}

func (c *latencyConn) SetReadDeadline(t time.Time) error {
	c.rd.set(t)
	return nil
}

// SetWriteDeadline is accepted and ignored: writes on a delayed link are
// buffered and never block on the peer.
func (c *latencyConn) SetWriteDeadline(time.Time) error { return nil }

// deadline is a resettable read deadline, after net.Pipe's pipeDeadline.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{} // closed when the deadline passes
}

func newDeadline() *deadline { return &deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for it to close cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		ch := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(ch) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
