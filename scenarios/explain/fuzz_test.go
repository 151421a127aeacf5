package explain

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzFromCapture: whatever the bytes, the capture reader (and the engine
// on what it read) returns evidence or an error value, never panics, and
// ends promptly. Seeded with every capture under testdata, a few cuts of
// each, and the crashers found so far (testdata/fuzz/FuzzFromCapture).
//
//	go test -run XXX -fuzz FuzzFromCapture -fuzztime 60s ./scenarios/explain/
func FuzzFromCapture(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.pcap*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed captures: %v", err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for _, n := range []int{len(data) / 2, len(data) - 7, 100, 40, 24} {
			if n > 0 && n < len(data) {
				f.Add(data[:n])
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		type result struct {
			ev  *Evidence
			err error
		}
		done := make(chan result, 1)
		go func() {
			ev, err := FromCapture(bytes.NewReader(data))
			if err == nil {
				// The engine on what was read, and every story.
				a := Explain(ev)
				for i := range a.Explanations {
					_ = a.Explanations[i].Story(a.Start)
				}
			}
			done <- result{ev, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("FromCapture did not return within 20 s on %d bytes", len(data))
		}
		switch {
		case r.err != nil && r.ev != nil:
			t.Fatalf("an error (%v) and evidence", r.err)
		case r.err == nil && r.ev == nil:
			t.Fatal("no error and no evidence")
		case r.err == nil && !IsCapture(data):
			t.Fatal("evidence from bytes that are not a capture")
		}
	})
}
