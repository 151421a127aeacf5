package backend

import (
	"fmt"
	"strings"
	"time"
)

// CloseStyle is how the backend closes a connection it decided to close
// (idle keep-alive timeout, keep-alive off, max requests, race trap).
type CloseStyle string

// Close styles.
const (
	// CloseFIN is a plain conn.Close(): the kernel sends FIN.
	CloseFIN CloseStyle = "fin"
	// CloseRST sets SO_LINGER to 0 before Close(): the kernel sends RST.
	CloseRST CloseStyle = "rst"
	// CloseLinger is Apache's lingering close: CloseWrite() (FIN), then read
	// and discard until EOF or Config.LingerTimeout, then Close().
	CloseLinger CloseStyle = "linger"
)

// ParseCloseStyle parses "fin", "rst" or "linger" (case-insensitive).
func ParseCloseStyle(s string) (CloseStyle, error) {
	switch cs := CloseStyle(strings.ToLower(strings.TrimSpace(s))); cs {
	case CloseFIN, CloseRST, CloseLinger:
		return cs, nil
	}
	return "", fmt.Errorf("unknown close style %q (want fin, rst or linger)", s)
}

// AdvertiseMode says when the backend sends its `Keep-Alive` header.
type AdvertiseMode string

// Advertise modes.
const (
	AdvertiseAlways AdvertiseMode = "always" // every keep-alive answer
	AdvertiseAsked  AdvertiseMode = "asked"  // only answering `Connection: keep-alive`
	AdvertiseNever  AdvertiseMode = "never"  // no Keep-Alive header
)

// ParseAdvertiseMode parses "always", "asked" or "never" ("" = always).
func ParseAdvertiseMode(s string) (AdvertiseMode, error) {
	switch m := AdvertiseMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "", AdvertiseAlways:
		return AdvertiseAlways, nil
	case AdvertiseAsked, AdvertiseNever:
		return m, nil
	}
	return "", fmt.Errorf("unknown advertise mode %q (want always, asked or never)", s)
}

// FaultKind is what the backend does to requests arriving inside a fault window.
type FaultKind string

// Fault kinds.
const (
	// FaultHang: a request arriving inside the window gets no answer; the
	// connection is held silently until the window ends, then closed with RST
	// (the backend "stops answering and cuts the session").
	FaultHang FaultKind = "hang"
	// FaultReset: a request arriving inside the window makes the backend
	// close the connection with RST at once, without an answer.
	FaultReset FaultKind = "reset"
)

// Fault is a window of time during which the backend misbehaves. A request
// belongs to the window when its first byte arrives at or after Start and
// before Start+Duration.
type Fault struct {
	// Kind is hang or reset.
	Kind FaultKind
	// Start is the window's offset from the moment Serve was called.
	Start time.Duration
	// Duration is the window's length; 0 makes the fault a no-op.
	Duration time.Duration
}

// Config configures a Server. The zero value is a usable backend with
// keep-alive off, FIN closes and 200 responses with a short text body.
type Config struct {
	// KeepAliveTimeout is how long an idle keep-alive connection is kept open,
	// measured from the moment the last response write returned. A brand-new
	// connection gets the same time to send its first request (as Apache).
	// 0 = keep-alive off: every response carries `Connection: close` and the
	// connection is closed (in Close style) after it; the first request is
	// then awaited for ReadHeaderTimeout. Ignored when IdleForever is set.
	KeepAliveTimeout time.Duration
	// Tick models a server that checks its idle time-outs on a periodic
	// timer (Gunicorn's gthread worker and Tomcat's poller: 1 s): an idle
	// connection whose KeepAliveTimeout has passed closes at the next tick,
	// from KeepAliveTimeout to KeepAliveTimeout+Tick after its last answer.
	// Ticks fall on whole multiples of Tick since Serve started. 0 = no
	// tick: each connection closes at its own KeepAliveTimeout.
	Tick time.Duration
	// IdleForever keeps idle connections open indefinitely (Go net/http with
	// no IdleTimeout and no ReadTimeout); KeepAliveTimeout is ignored.
	IdleForever bool
	// AdvertisedKeepAlive is the value put in the `Keep-Alive: timeout=N`
	// response header (whole seconds, rounded down, at least 1 when > 0).
	// 0 = same as KeepAliveTimeout. With IdleForever and 0 no timeout is
	// advertised. (Node.js <= 25 advertises 5 s but closes at about 6 s.)
	AdvertisedKeepAlive time.Duration
	// Advertise says when the `Keep-Alive` header is sent: AdvertiseAlways
	// (""; Node), AdvertiseAsked (only answering a request that says
	// Connection: keep-alive; Apache, Tomcat) or AdvertiseNever (nginx,
	// Gunicorn, Uvicorn, Puma, Jetty, lighttpd, Caddy, Go).
	Advertise AdvertiseMode
	// MaxKeepAliveRequests is the number of requests served on one
	// connection before it is closed (the last response carries
	// `Connection: close`). 0 = unlimited.
	MaxKeepAliveRequests int
	// Close is how the backend closes a connection it decided to close.
	// "" = fin.
	Close CloseStyle
	// LingerTimeout is, for CloseLinger, the longest drain after
	// CloseWrite. 0 = 2 s (Apache's SECONDS_TO_LINGER).
	LingerTimeout time.Duration
	// RaceTrap makes the race deterministic: when the keep-alive timer
	// expires the connection is not closed but marked expired; the moment
	// the next request's first byte arrives the connection is closed in
	// Close style without an answer. If the peer closes first, nothing
	// happens. The bytes on the wire are those of a real race. Needs
	// keep-alive (KeepAliveTimeout > 0); with IdleForever it never fires.
	RaceTrap bool
	// Delay is added before every response is written. 0 = none.
	Delay time.Duration
	// Status is the response status code, 100..599. 0 = 200.
	Status int
	// ResponseSize is the response body size in bytes (a repeated pattern).
	// 0 = a short text line; negative is invalid.
	ResponseSize int
	// Faults are windows in which requests are not answered.
	Faults []Fault
	// ReadHeaderTimeout bounds reading a request's headers once its first
	// byte arrived, and each wait for more bytes of its body. 0 = 10 s.
	ReadHeaderTimeout time.Duration
	// Trace observes the backend (configuration, accept, request,
	// response, race trap, close with its reason, style and deadline); nil
	// = none.
	Trace *Trace
}

// Defaults applied by New for zero fields.
const (
	// DefaultLingerTimeout is Apache httpd's SECONDS_TO_LINGER (server/connection.c).
	DefaultLingerTimeout = 2 * time.Second
	// DefaultReadHeaderTimeout applies when Config.ReadHeaderTimeout is 0.
	DefaultReadHeaderTimeout = 10 * time.Second
)

// Validate reports the first invalid field: negative durations or sizes, a
// status outside 100..599, an unknown close style or fault kind.
func (c Config) Validate() error {
	durations := []struct {
		name string
		d    time.Duration
	}{
		{"KeepAliveTimeout", c.KeepAliveTimeout},
		{"Tick", c.Tick},
		{"AdvertisedKeepAlive", c.AdvertisedKeepAlive},
		{"LingerTimeout", c.LingerTimeout},
		{"Delay", c.Delay},
		{"ReadHeaderTimeout", c.ReadHeaderTimeout},
	}
	for _, f := range durations {
		if f.d < 0 {
			return fmt.Errorf("backend config: %s %v is negative", f.name, f.d)
		}
	}
	if c.MaxKeepAliveRequests < 0 {
		return fmt.Errorf("backend config: MaxKeepAliveRequests %d is negative", c.MaxKeepAliveRequests)
	}
	if c.ResponseSize < 0 {
		return fmt.Errorf("backend config: ResponseSize %d is negative", c.ResponseSize)
	}
	if c.Status != 0 && (c.Status < 100 || c.Status > 599) {
		return fmt.Errorf("backend config: Status %d is outside 100..599", c.Status)
	}
	switch c.Advertise {
	case "", AdvertiseAlways, AdvertiseAsked, AdvertiseNever:
	default:
		return fmt.Errorf("backend config: Advertise: unknown advertise mode %q (want always, asked or never)", c.Advertise)
	}
	if c.Close != "" {
		switch c.Close {
		case CloseFIN, CloseRST, CloseLinger:
		default:
			return fmt.Errorf("backend config: Close: unknown close style %q (want fin, rst or linger)", c.Close)
		}
	}
	for i, f := range c.Faults {
		switch f.Kind {
		case FaultHang, FaultReset:
		default:
			return fmt.Errorf("backend config: Faults[%d].Kind: unknown fault kind %q (want hang or reset)", i, f.Kind)
		}
		if f.Start < 0 {
			return fmt.Errorf("backend config: Faults[%d].Start %v is negative", i, f.Start)
		}
		if f.Duration < 0 {
			return fmt.Errorf("backend config: Faults[%d].Duration %v is negative", i, f.Duration)
		}
	}
	return nil
}

// Scaled returns a copy of c with KeepAliveTimeout, Tick, AdvertisedKeepAlive,
// Delay, LingerTimeout, ReadHeaderTimeout and every fault's Start and
// Duration multiplied by f (the time scale). f <= 0 or f == 1 returns c
// unchanged. Zero fields stay zero (so defaults are not scaled) and a
// positive duration stays at least 1 ns (a scaled keep-alive never turns
// keep-alive off).
func (c Config) Scaled(f float64) Config {
	if f <= 0 || f == 1 {
		return c
	}
	c.KeepAliveTimeout = scale(c.KeepAliveTimeout, f)
	c.Tick = scale(c.Tick, f)
	c.AdvertisedKeepAlive = scale(c.AdvertisedKeepAlive, f)
	c.Delay = scale(c.Delay, f)
	c.LingerTimeout = scale(c.LingerTimeout, f)
	c.ReadHeaderTimeout = scale(c.ReadHeaderTimeout, f)
	if c.Faults != nil {
		faults := make([]Fault, len(c.Faults))
		for i, ft := range c.Faults {
			ft.Start = scale(ft.Start, f)
			ft.Duration = scale(ft.Duration, f)
			faults[i] = ft
		}
		c.Faults = faults
	}
	return c
}

func scale(d time.Duration, f float64) time.Duration {
	if d <= 0 {
		return d
	}
	s := time.Duration(float64(d) * f)
	if s < 1 {
		s = 1
	}
	return s
}

// withDefaults resolves zero values to their documented defaults.
func (c Config) withDefaults() Config {
	if c.Close == "" {
		c.Close = CloseFIN
	}
	if c.LingerTimeout == 0 {
		c.LingerTimeout = DefaultLingerTimeout
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.Status == 0 {
		c.Status = 200
	}
	return c
}

// keepAlive reports whether connections are kept open after a response.
func (c Config) keepAlive() bool { return c.IdleForever || c.KeepAliveTimeout > 0 }
