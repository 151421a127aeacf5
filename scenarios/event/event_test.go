package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sample() Event {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.UTC)
	return Event{Time: t0, Scenario: "s\"1", Mono: 42, Actor: Backend, Kind: Closed, Side: SideUpstream, Conn: 7,
		Local: "127.0.0.1:1", Remote: "127.0.0.1:2", Peer: "127.0.0.1:3", Method: "GET", Status: 502, Reused: true,
		Idle: 49 * time.Millisecond, Requests: 2, Initiator: "backend", Reason: "idle", Style: "linger",
		Cause: "keepalive-race", ErrKind: ErrEOF, Err: "line\nbreak\ttab \x01 é \xff", Deadline: t0.Add(time.Second),
		Profile: "appgw-v2", Addr: "127.0.0.1:8080", KeepAlive: 5 * time.Second, IdleTimeout: time.Minute,
		CloseStyle: "fin", RaceTrap: true, TimeScale: 0.01}
}

// TestAppendJSONMatchesEncodingJSON: the hand-written encoder and
// encoding/json decode to the same event (full and empty).
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	for _, e := range []Event{sample(), {Time: time.Unix(0, 5).UTC(), Actor: Gateway, Kind: Config}} {
		fast := e.AppendJSON(nil)
		std, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var a, b Event
		if err := json.Unmarshal(fast, &a); err != nil {
			t.Fatalf("AppendJSON is not JSON: %v\n%s", err, fast)
		}
		if err := json.Unmarshal(std, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("AppendJSON and encoding/json differ:\n%s\n%s", fast, std)
		}
	}
}

func TestJournalRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	j := NewJournal(&buf)
	want := []Event{sample(), {Time: time.Unix(1, 0).UTC(), Actor: Client, Kind: RequestWritten, Conn: 1}}
	for _, e := range want {
		j.Sink()(e)
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want[0].Err = "line\nbreak\ttab \x01 é \ufffd" // invalid UTF-8 is replaced
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, want)
	}
}

func TestReadErrors(t *testing.T) {
	for in, want := range map[string]string{
		"{}\n":                    "line 1: not a gwsim event",
		"{\"actor\":\"x\"}\nzz\n": "line 1: not a gwsim event",
		"\n\nnope\n":              "line 3:",
	} {
		if _, err := Read(strings.NewReader(in)); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Read(%q): %v, want %q", in, err, want)
		}
	}
}

func TestRecorderKeepsOrderAcrossChunks(t *testing.T) {
	var r Recorder
	s := r.Sink()
	for i := 0; i < 2*recorderChunk+5; i++ {
		s(Event{Conn: uint64(i)})
	}
	got := r.Events()
	if len(got) != 2*recorderChunk+5 {
		t.Fatalf("%d events", len(got))
	}
	for i, e := range got {
		if e.Conn != uint64(i) {
			t.Fatalf("event %d has conn %d", i, e.Conn)
		}
	}
}

func TestErrKind(t *testing.T) {
	for err, want := range map[error]string{
		nil:                                     "",
		io.EOF:                                  ErrEOF,
		fmt.Errorf("x: %w", syscall.ECONNRESET): ErrReset,
		syscall.EPIPE:                           ErrReset,
		syscall.ECONNREFUSED:                    ErrRefused,
		errors.New("boom"):                      ErrOther,
	} {
		if got := ErrKind(err); got != want {
			t.Errorf("ErrKind(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestTeeAndEmit(t *testing.T) {
	var a, b Recorder
	if Tee(nil, nil) != nil {
		t.Fatal("Tee of nothing must be nil")
	}
	Tee(a.Sink(), nil, b.Sink()).Emit(Event{Kind: Config})
	if len(a.Events()) != 1 || len(b.Events()) != 1 || a.Events()[0].Time.IsZero() {
		t.Fatal("Tee/Emit did not deliver a stamped event to both")
	}
	var nilSink Sink
	nilSink.Emit(Event{}) // must not panic
}

func BenchmarkJournal(b *testing.B) {
	e := sample()
	j := NewJournal(io.Discard)
	s := j.Sink()
	b.ReportAllocs()
	for b.Loop() {
		s(e)
	}
}
